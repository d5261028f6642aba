/**
 * Rendered manifests against the real schemas: the SparkApplication CRD of spark-operator and
 * Kubernetes' core/v1 OpenAPI, fetched from the Go module proxy (checksum-verified) on the first
 * run and cached in ${SPARKINFER_CACHE:-~/.cache/sparkinfer} (scripts/fetch-crd.ts does the same).
 * Unknown fields are errors: a CRD silently prunes them, so a typo would otherwise pass.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { renderJobFile } from '../../src/k8s/cli.ts';
import { checkManifests, formatIssues } from '../../scripts/k8s-check/check.ts';
import { ensureSchemas, loadSchemas, type LoadedSchemas } from '../../scripts/k8s-check/schemas.ts';

const FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'k8s');
let schemas: LoadedSchemas;
type Any = Record<string, any>;

before(async () => {
  schemas = loadSchemas(await ensureSchemas({ log: (l) => process.stderr.write(`k8s-crd: ${l}\n`) }));
});

function objects(fixture: string, set: string[] = []): Any[] {
  const r = renderJobFile(join(FIXTURES, fixture), set);
  return structuredClone([r.configMap, ...r.apps]) as Any[];
}

test('the schemas are the real ones: the CRD knows native sidecars, core/v1 knows Container.restartPolicy', () => {
  const spec = schemas.crd.properties?.spec as Any;
  assert.ok(
    spec.properties.executor.properties.initContainers.items.properties.restartPolicy,
    'spark-operator CRD without init container restartPolicy (generated before Kubernetes 1.28)',
  );
  assert.deepEqual(spec.required, ['driver', 'executor', 'mainApplicationFile', 'sparkVersion', 'type']);
  assert.ok(schemas.core.components.schemas['io.k8s.api.core.v1.Container']?.properties?.restartPolicy);
});

for (const [fixture, set] of [
  ['quickstart.yaml', []],
  ['gpu-volcano.yaml', []],
  ['gpu-volcano.yaml', ['kubernetes.phases=two']],
  [
    'quickstart.yaml',
    [
      'kubernetes.engine.model_cache.type=hostPath',
      'kubernetes.engine.model_cache.path=/var/cache/models',
      'kubernetes.gpus_per_executor=4',
    ],
  ],
  // The real quickstart, with its local paths moved to object storage as a cluster needs.
  [
    '../../../examples/quickstart/job.yaml',
    ['input.path=s3a://demo/questions.jsonl', 'output.path=s3a://demo/out', 'kubernetes.engine.model=HuggingFaceTB/SmolLM2-135M-Instruct'],
  ],
] as const) {
  test(`${fixture} ${set.join(' ')}: zero issues against the CRD and core/v1`, () => {
    const objs = objects(fixture, [...set]);
    const issues = checkManifests(objs, schemas);
    assert.equal(formatIssues(issues), '');
    assert.equal(
      objs.filter((o) => o.kind === 'SparkApplication').length,
      (set as readonly string[]).includes('kubernetes.phases=two') ? 2 : 1,
    );
  });
}

test('a misspelled field anywhere is reported: CRD fields, embedded core types, metadata', () => {
  const [cm, app] = objects('gpu-volcano.yaml') as [Any, Any];
  const sidecar = app.spec.executor.initContainers[0];
  app.spec.dynamicAlocation = app.spec.dynamicAllocation;
  sidecar.restartPolcy = 'Always';
  sidecar.startupProbe.httpGet.prot = 8000;
  app.spec.volumes[2].emptyDir.meduim = 'Memory';
  app.spec.executor.tolerations[0].efect = 'NoSchedule';
  app.metadata.lables = {};
  cm.dat = {};
  const issues = checkManifests([cm, app], schemas);
  const found = issues.map((i) => `${i.path}: ${i.message}`);
  for (const [path, hint] of [
    ['.spec.dynamicAlocation', 'dynamicAllocation'],
    ['.spec.executor.initContainers[0].restartPolcy', 'restartPolicy'],
    ['.spec.executor.initContainers[0].startupProbe.httpGet.prot', 'port'],
    ['.spec.volumes[2].emptyDir.meduim', 'medium'],
    ['.spec.executor.tolerations[0].efect', 'effect'],
    ['.metadata.lables', 'labels'],
    ['.dat', 'data'],
  ]) {
    assert.ok(found.includes(`${path}: unknown field; did you mean \`${hint}\`?`), `${path} not reported in:\n${found.join('\n')}`);
  }
  assert.equal(issues.length, 7, formatIssues(issues));
});

test('wrong types, values and cross-references are reported', () => {
  const [, app] = objects('gpu-volcano.yaml') as [Any, Any];
  const spec = app.spec;
  spec.restartPolicy.type = 'Sometimes';
  spec.dynamicAllocation.shuffleTrackingTimeout = '10m';
  spec.executor.initContainers[0].resources.requests['nvidia.com/gpu'] = 1;
  spec.executor.initContainers[0].ports[0].name = 'vllm-openai-engine-port';
  spec.executor.volumeMounts.push({ name: 'missing', mountPath: '/missing' });
  spec.driver.initContainers = [{ name: 'not-a-sidecar', image: 'busybox:1.36', restartPolicy: 'OnFailure' }];
  app.metadata.name = `x${'y'.repeat(63)}`;
  const paths = checkManifests([app], schemas)
    .map((i) => i.path)
    .sort();
  assert.deepEqual(paths, [
    '.metadata.name',
    '.spec.driver.initContainers[0].restartPolicy',
    '.spec.dynamicAllocation.shuffleTrackingTimeout',
    '.spec.executor.initContainers[0].ports[0].name',
    '.spec.executor.initContainers[0].resources.requests.nvidia.com/gpu',
    '.spec.executor.volumeMounts[3].name',
    '.spec.restartPolicy.type',
  ]);
});

test('deploy/k8s/prerequisites.yaml validates against core/v1 and RBAC v1', () => {
  const text = readFileSync(join(import.meta.dirname, '..', '..', 'deploy', 'k8s', 'prerequisites.yaml'), 'utf8');
  const objs = parseAllDocuments(text)
    .map((d) => d.toJS() as Any)
    .filter((o) => o !== null);
  assert.deepEqual(
    objs.map((o) => o.kind),
    ['ServiceAccount', 'Role', 'RoleBinding', 'PersistentVolumeClaim', 'PersistentVolumeClaim'],
  );
  assert.equal(formatIssues(checkManifests(objs, schemas)), '');
  const typo = structuredClone(objs[3] as Any);
  typo.spec.accesModes = typo.spec.accessModes;
  assert.match(formatIssues(checkManifests([typo], schemas)), /\.spec\.accesModes: unknown field; did you mean `accessModes`\?/);
});
