/**
 * The structural-schema validator and the schema cache, without the network: small schemas that
 * use each keyword the CRD and the core OpenAPI use, a zip built here, and a fake proxy function.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { deflateRawSync } from 'node:zlib';
import { validateSchema, type OpenApiSchema } from '../../scripts/k8s-check/validate.ts';
import { goModuleZipHash, readZip } from '../../scripts/k8s-check/zip.ts';
import { ensureSchemas, fetchModuleFiles, loadSchemas, type PinnedModule } from '../../scripts/k8s-check/schemas.ts';
import { tempDir } from '../helpers/tmp.ts';

const paths = (issues: { path: string }[]): string[] => issues.map((i) => i.path);

const container: OpenApiSchema = {
  type: 'object',
  required: ['name'],
  properties: {
    name: { type: 'string' },
    restartPolicy: { type: 'string' },
    ports: {
      type: 'array',
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['containerPort', 'protocol'],
      items: {
        type: 'object',
        required: ['containerPort'],
        properties: { containerPort: { type: 'integer', format: 'int32' }, protocol: { type: 'string', enum: ['TCP', 'UDP'] } },
      },
    },
    resources: {
      type: 'object',
      properties: {
        limits: {
          type: 'object',
          additionalProperties: {
            anyOf: [{ type: 'integer' }, { type: 'string' }],
            pattern: '^[0-9]+(Mi|Gi)?$',
            'x-kubernetes-int-or-string': true,
          },
        },
      },
    },
    extra: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true, properties: { known: { type: 'boolean' } } },
    closed: { type: 'object' },
    tags: { type: 'array', 'x-kubernetes-list-type': 'set', items: { type: 'string' } },
    nullableField: { type: 'string', nullable: true },
    when: { type: 'string', format: 'date-time' },
  },
};

test('a valid object has no issues', () => {
  const v = {
    name: 'engine',
    restartPolicy: 'Always',
    ports: [{ containerPort: 8000, protocol: 'TCP' }],
    resources: { limits: { memory: '64Gi', 'nvidia.com/gpu': 2 } },
    extra: { known: true, anything: { deep: 1 } },
    tags: ['a', 'b'],
    nullableField: null,
    when: '2026-01-02T03:04:05Z',
  };
  assert.deepEqual(validateSchema(v, container), []);
});

test('an unknown (misspelled) field is an error, with a suggestion', () => {
  const issues = validateSchema({ name: 'e', restartPolcy: 'Always' }, container);
  assert.deepEqual(paths(issues), ['.restartPolcy']);
  assert.match(issues[0]?.message ?? '', /unknown field; did you mean `restartPolicy`\?/);
});

test('a bare `type: object` is closed for CRDs and free-form for the core OpenAPI', () => {
  assert.deepEqual(paths(validateSchema({ name: 'e', closed: { x: 1 } }, container)), ['.closed.x']);
  assert.deepEqual(validateSchema({ name: 'e', closed: { x: 1 } }, container, { closedEmptyObjects: false }), []);
});

test('types, required, enum, int-or-string, pattern, nullable and formats are checked', () => {
  const bad = {
    ports: [{ containerPort: '8000', protocol: 'SCTP' }, { containerPort: 2 ** 31 }],
    resources: { limits: { memory: '64 GB', cpu: 1.5 } },
    tags: 'a',
    when: 'yesterday',
    restartPolicy: null,
  };
  const issues = validateSchema(bad, container);
  const byPath = new Map(issues.map((i) => [i.path, i.message]));
  assert.match(byPath.get('.name') ?? '', /required field is missing/);
  assert.match(byPath.get('.ports[0].containerPort') ?? '', /expected an integer, got `"8000"` \(string\)/);
  assert.match(byPath.get('.ports[0].protocol') ?? '', /expected one of "TCP", "UDP", got `"SCTP"`/);
  assert.match(byPath.get('.ports[1].containerPort') ?? '', /expected an int32/);
  assert.match(byPath.get('.resources.limits.memory') ?? '', /does not match the pattern/);
  assert.match(byPath.get('.resources.limits.cpu') ?? '', /expected an integer or a string/);
  assert.match(byPath.get('.tags') ?? '', /expected an array/);
  assert.match(byPath.get('.when') ?? '', /date-time/);
  assert.match(byPath.get('.restartPolicy') ?? '', /must not be null/);
});

test('list-map keys and set members must be unique', () => {
  const issues = validateSchema(
    {
      name: 'e',
      ports: [
        { containerPort: 80, protocol: 'TCP' },
        { containerPort: 80, protocol: 'UDP' },
        { containerPort: 80, protocol: 'TCP' },
      ],
      tags: ['a', 'a'],
    },
    container,
  );
  assert.deepEqual(paths(issues), ['.ports[2]', '.tags[1]']);
});

test('$ref and allOf resolve against the root document, as in the core OpenAPI', () => {
  const root = {
    components: {
      schemas: {
        Probe: { type: 'object', properties: { httpGet: { allOf: [{ $ref: '#/components/schemas/HTTPGet' }], default: {} } } },
        HTTPGet: {
          type: 'object',
          required: ['port'],
          properties: { path: { type: 'string' }, port: { allOf: [{ $ref: '#/components/schemas/IntOrString' }] } },
        },
        IntOrString: { format: 'int-or-string', oneOf: [{ type: 'integer' }, { type: 'string' }] },
      },
    },
  };
  const probe: OpenApiSchema = { $ref: '#/components/schemas/Probe' };
  assert.deepEqual(validateSchema({ httpGet: { path: '/health', port: 8000 } }, probe, { root, closedEmptyObjects: false }), []);
  const issues = validateSchema({ httpGet: { path: '/health', port: true, prot: 1 } }, probe, { root, closedEmptyObjects: false });
  assert.deepEqual(paths(issues).sort(), ['.httpGet.port', '.httpGet.prot']);
  assert.throws(() => validateSchema({}, { $ref: '#/components/schemas/Missing' }, { root }), /unresolved \$ref/);
});

/** A minimal zip writer (stored and deflated entries), to test the reader without fixtures. */
function makeZip(files: Record<string, string>): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const [i, [name, text]] of Object.entries(files).entries()) {
    const data = Buffer.from(text);
    const method = i % 2 === 0 ? 8 : 0;
    const body = method === 8 ? deflateRawSync(data) : data;
    const nameBuf = Buffer.from(name);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(method, 8);
    local.writeUInt32LE(body.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(nameBuf.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(method, 10);
    central.writeUInt32LE(body.length, 20);
    central.writeUInt32LE(data.length, 24);
    central.writeUInt16LE(nameBuf.length, 28);
    central.writeUInt32LE(offset, 42);
    locals.push(local, nameBuf, body);
    centrals.push(central, nameBuf);
    offset += 30 + nameBuf.length + body.length;
  }
  const cd = Buffer.concat(centrals);
  const eocd = Buffer.alloc(22);
  eocd.writeUInt32LE(0x06054b50, 0);
  eocd.writeUInt16LE(Object.keys(files).length, 8);
  eocd.writeUInt16LE(Object.keys(files).length, 10);
  eocd.writeUInt32LE(cd.length, 12);
  eocd.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, cd, eocd]);
}

test('zip entries read back, and the h1 hash follows the Go checksum database definition', () => {
  const files = { 'm@v1/b.txt': 'bee\n'.repeat(100), 'm@v1/a.txt': 'ay' };
  const entries = readZip(makeZip(files));
  assert.deepEqual(
    entries.map((e) => [e.name, e.read().toString()]),
    Object.entries(files),
  );
  const sha = (s: string): string => createHash('sha256').update(s).digest('hex');
  const summary = `${sha('ay')}  m@v1/a.txt\n${sha('bee\n'.repeat(100))}  m@v1/b.txt\n`;
  assert.equal(goModuleZipHash(entries), `h1:${createHash('sha256').update(summary).digest('base64')}`);
  assert.throws(() => readZip(Buffer.from('not a zip, just some bytes that are long enough')), /not a zip file/);
});

test('module files are fetched once, verified against the pinned hash, and cached', async () => {
  const crdYaml =
    'apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nspec:\n  versions:\n    - name: v1beta2\n      schema:\n        openAPIV3Schema:\n          type: object\n';
  const soZip = makeZip({ 'example.com/so@v9.0.0/crd.yaml': crdYaml });
  const k8sZip = makeZip({
    'example.com/k8s@v1.0.0/api/core_openapi.json': '{"components":{"schemas":{"Pod":{"type":"object"}}}}',
    'example.com/k8s@v1.0.0/api/rbac_openapi.json': '{"components":{"schemas":{"Role":{"type":"object"}}}}',
  });
  const sparkOperator: PinnedModule = {
    module: 'example.com/so',
    version: 'v9.0.0',
    h1: goModuleZipHash(readZip(soZip)),
    files: ['crd.yaml'],
  };
  const kubernetes: PinnedModule = {
    module: 'example.com/k8s',
    version: 'v1.0.0',
    h1: goModuleZipHash(readZip(k8sZip)),
    files: ['api/core_openapi.json', 'api/rbac_openapi.json'],
  };
  const requested: string[] = [];
  const fakeProxy = (async (url: string | URL | Request) => {
    const u = String(url);
    requested.push(u);
    const body = u.endsWith('/example.com/so/@v/v9.0.0.zip') ? soZip : u.endsWith('/example.com/k8s/@v/v1.0.0.zip') ? k8sZip : undefined;
    return body === undefined ? new Response('not found', { status: 404 }) : new Response(new Uint8Array(body));
  }) as typeof fetch;
  const cacheDir = tempDir('k8s-cache');
  const o = { cacheDir, fetch: fakeProxy, proxy: 'https://proxy.test', modules: { sparkOperator, kubernetes } };
  const files = await ensureSchemas(o);
  assert.deepEqual(JSON.parse(readFileSync(files.crdSchema, 'utf8')), { type: 'object' });
  assert.equal(readFileSync(files.crdYaml, 'utf8'), crdYaml);
  assert.deepEqual(Object.keys(loadSchemas(files).core.components.schemas), ['Pod', 'Role'], 'the OpenAPI documents are merged');
  assert.equal(requested.length, 2);
  await ensureSchemas(o);
  assert.equal(requested.length, 2, 'a second call is served from the cache');
  await assert.rejects(fetchModuleFiles({ ...kubernetes, h1: 'h1:AAAA' }, o), /checksum mismatch/);
  await assert.rejects(fetchModuleFiles({ ...kubernetes, version: 'v2.0.0' }, o), /HTTP 404/);
  await assert.rejects(fetchModuleFiles({ ...kubernetes, files: ['missing.json'] }, o), /has no missing\.json/);
});
