/**
 * `render --target k8s`: what the manifests say (the schema checks are in
 * test/integration/k8s-crd.test.ts). Jobs go through the real loader, as the CLI's do.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { loadJobFile } from '../../src/validate/job.ts';
import { SpecError } from '../../src/errors.ts';
import { resolveJobForK8s, renderJobFile } from '../../src/k8s/cli.ts';
import { renderK8s, renderK8sYaml, renderRun, type K8sObject } from '../../src/k8s/render.ts';
import { DEFAULT_IMAGE, DEFAULT_VLLM_IMAGE } from '../../src/jobfile/kubernetes.ts';
import { RUN_ID_LABEL, dnsLabel, runNames } from '../../src/k8s/names.ts';

const FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'k8s');
const RUN_ID_OPTS = { now: new Date('2026-11-28T12:00:00Z') };

type Any = Record<string, any>;

function render(fixture: string, set: string[] = []): { cm: K8sObject; apps: Any[]; run: ReturnType<typeof renderRun> } {
  const run = renderJobFile(join(FIXTURES, fixture), set, RUN_ID_OPTS);
  return { cm: run.configMap, apps: run.apps as Any[], run };
}

const sidecarOf = (app: Any): Any => app.spec.executor.initContainers[0];

test('quickstart: one SparkApplication named after the run, with platform defaults', () => {
  const { cm, apps, run } = render('quickstart.yaml');
  assert.equal(apps.length, 1);
  const app = apps[0] as Any;
  assert.equal(app.kind, 'SparkApplication');
  assert.equal(app.apiVersion, 'sparkoperator.k8s.io/v1beta2');
  assert.match(app.metadata.name, /^quickstart-20261128120000-[0-9a-f]{4}$/);
  assert.equal(app.metadata.name, run.jobJson.run.id, 'named <name>-<run stamp>: the run id');
  assert.equal(app.metadata.labels[RUN_ID_LABEL], run.jobJson.run.id);
  assert.equal(app.metadata.namespace, 'default');
  const spec = app.spec;
  assert.equal(spec.type, 'Python');
  assert.equal(spec.image, DEFAULT_IMAGE);
  assert.equal(spec.mainApplicationFile, 'local:///opt/sparkinfer/python/sparkinfer/driver.py');
  assert.deepEqual(spec.arguments, ['--job', '/etc/sparkinfer/job.json', '--worker', '/opt/sparkinfer/dist/sparkinfer-worker.mjs']);
  assert.deepEqual(spec.driver.configMaps, [{ name: cm.metadata.name, path: '/etc/sparkinfer' }]);
  assert.equal(spec.driver.serviceAccount, 'sparkinfer');
  assert.deepEqual(spec.restartPolicy, {
    type: 'OnFailure',
    onFailureRetries: 3,
    onFailureRetryInterval: 60,
    onSubmissionFailureRetries: 3,
    onSubmissionFailureRetryInterval: 60,
  });
  assert.deepEqual(spec.dynamicAllocation, {
    enabled: true,
    initialExecutors: 2,
    minExecutors: 0,
    maxExecutors: 2,
    shuffleTrackingEnabled: true,
    shuffleTrackingTimeout: 600_000,
  });
  const conf = spec.sparkConf;
  assert.equal(conf['spark.dynamicAllocation.enabled'], 'true');
  assert.equal(conf['spark.dynamicAllocation.shuffleTracking.enabled'], 'true');
  assert.equal(conf['spark.dynamicAllocation.shuffleTracking.timeout'], '600000ms');
  assert.equal(conf['spark.dynamicAllocation.minExecutors'], '0');
  assert.equal(conf['spark.dynamicAllocation.maxExecutors'], '2');
  assert.equal(conf['spark.task.maxFailures'], '4');
  assert.equal(conf['spark.executorEnv.SPARKINFER_ENDPOINT'], 'http://127.0.0.1:8000/v1');
  assert.ok(new RegExp(conf['spark.redaction.regex'].replace('(?i)', ''), 'i').test('spark.executorEnv.OPENAI_API_KEY'));
  assert.ok(new RegExp(conf['spark.redaction.regex'].replace('(?i)', ''), 'i').test('spark.executorEnv.HF_TOKEN'));
  assert.equal(spec.batchScheduler, undefined, 'no Volcano unless asked');
  // Executor sizing: 4 task slots feed the engine; 4 workers' memory is in the overhead.
  assert.equal(spec.executor.cores, 4);
  assert.equal(spec.executor.memory, '4096m');
  assert.equal(spec.executor.memoryOverhead, `${410 + 4 * 256}m`);
  assert.deepEqual(spec.executor.tolerations, [{ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' }]);
  // The run directory volume on driver and executors.
  assert.deepEqual(spec.volumes[0], { name: 'sparkinfer-runs', persistentVolumeClaim: { claimName: 'sparkinfer-runs' } });
  for (const role of ['driver', 'executor'])
    assert.ok(spec[role].volumeMounts.some((m: Any) => m.name === 'sparkinfer-runs' && m.mountPath === '/var/lib/sparkinfer/runs'));
});

test('the engine is a native sidecar: init container, restartPolicy Always, probed, GPU-limited, model cache, HF_HOME', () => {
  const { apps } = render('quickstart.yaml');
  const spec = (apps[0] as Any).spec;
  assert.equal(spec.executor.initContainers.length, 1);
  assert.equal(spec.executor.sidecars, undefined, 'not a regular sidecar: those start in no particular order');
  const c = sidecarOf(apps[0] as Any);
  assert.equal(c.restartPolicy, 'Always');
  assert.equal(c.image, DEFAULT_VLLM_IMAGE);
  assert.doesNotMatch(c.image, /:latest$/);
  for (const probe of ['startupProbe', 'readinessProbe']) assert.deepEqual(c[probe].httpGet, { path: '/health', port: 8000 });
  assert.equal(c.startupProbe.periodSeconds * c.startupProbe.failureThreshold, 20 * 60, 'startup_timeout (20m) of probing');
  // python/sparkinfer/sidecar_watch.py quotes an engine's last lines from its terminated state.
  assert.equal(c.terminationMessagePolicy, 'FallbackToLogsOnError');
  assert.equal(c.resources.limits['nvidia.com/gpu'], 1);
  assert.equal(c.resources.requests['nvidia.com/gpu'], 1);
  assert.deepEqual(c.ports, [{ name: 'engine', containerPort: 8000, protocol: 'TCP' }]);
  assert.deepEqual(c.env[0], { name: 'HF_HOME', value: '/models/hf' });
  assert.deepEqual(c.command, ['vllm', 'serve']);
  assert.deepEqual(c.args, [
    'HuggingFaceTB/SmolLM2-135M-Instruct',
    '--served-model-name',
    'smollm2-135m-instruct',
    '--host',
    '0.0.0.0',
    '--port',
    '8000',
  ]);
  assert.deepEqual(
    spec.volumes.find((v: Any) => v.name === 'model-cache'),
    { name: 'model-cache', persistentVolumeClaim: { claimName: 'sparkinfer-models' } },
  );
  // vLLM's engine core and API server exchange data through /dev/shm (160 MiB at least, on one GPU
  // too); a container's default is 64 MiB, where vLLM fails to start (found on the local cluster).
  assert.deepEqual(c.volumeMounts, [
    { name: 'model-cache', mountPath: '/models' },
    { name: 'dshm', mountPath: '/dev/shm' },
  ]);
  assert.deepEqual(
    spec.volumes.find((v: Any) => v.name === 'dshm'),
    { name: 'dshm', emptyDir: { medium: 'Memory', sizeLimit: '8192Mi' } },
  );
  // The webhook adds a volume only when the Spark container mounts it.
  assert.ok(spec.executor.volumeMounts.some((m: Any) => m.name === 'model-cache' && m.readOnly === true));
  assert.ok(spec.executor.volumeMounts.some((m: Any) => m.name === 'dshm'));
  // llama-server needs no shared memory: no /dev/shm volume without tensor parallelism.
  const llama = (
    render('quickstart.yaml', ['kubernetes.engine.kind=llama-server', 'kubernetes.engine.image=x/y:1', 'kubernetes.engine.model=/m.gguf'])
      .apps[0] as Any
  ).spec;
  assert.equal(
    llama.volumes.find((v: Any) => v.name === 'dshm'),
    undefined,
  );
});

test('job.json in the ConfigMap points the worker at the sidecar and the run directory at the run volume', () => {
  const { cm, run } = render('quickstart.yaml');
  const job = JSON.parse((cm.data as Any)['job.json']);
  assert.deepEqual(job, JSON.parse(JSON.stringify(run.jobJson)));
  assert.equal(job.run.endpoint, 'http://127.0.0.1:8000/v1');
  assert.equal(job.engine.endpoint, 'http://127.0.0.1:8000/v1');
  assert.equal(job.engine.launch, undefined, 'the sidecar is the engine; nothing is launched');
  assert.equal(job.run.engine_kind, 'vllm');
  assert.equal(job.spark.master, 'k8s://https://kubernetes.default.svc:443');
  assert.equal(job.run.root, '/var/lib/sparkinfer/runs/quickstart');
  assert.equal(job.run.dir, `/var/lib/sparkinfer/runs/quickstart/${job.run.id}`);
  assert.deepEqual(job.run.columns, ['question']);
  assert.match(job.run.fingerprint, /^[0-9a-f]{64}$/);
});

test('GPU job: Volcano queue and gang reservation, tensor parallelism with a memory-backed /dev/shm', () => {
  const { apps } = render('gpu-volcano.yaml');
  const spec = (apps[0] as Any).spec;
  assert.equal(spec.batchScheduler, 'volcano');
  assert.equal(spec.batchSchedulerOptions.queue, 'gpu-batch');
  assert.equal(spec.batchSchedulerOptions.resources['nvidia.com/gpu'], 2, 'driver + 1 executor (executors.min) × 2 GPUs');
  assert.deepEqual(spec.dynamicAllocation, {
    enabled: true,
    initialExecutors: 4,
    minExecutors: 1,
    maxExecutors: 4,
    shuffleTrackingEnabled: true,
    shuffleTrackingTimeout: 600_000,
  });
  assert.equal(spec.executor.cores, 8);
  assert.equal(spec.executor.coreRequest, '2');
  assert.equal(spec.executor.priorityClassName, 'batch-low');
  assert.deepEqual(spec.executor.nodeSelector, { 'nvidia.com/gpu.product': 'NVIDIA-H100-80GB-HBM3' });
  assert.equal(spec.restartPolicy.onFailureRetries, 2);
  assert.equal(spec.sparkConf['spark.task.maxFailures'], '6');
  assert.equal(spec.timeToLiveSeconds, 86_400);
  const c = sidecarOf(apps[0] as Any);
  assert.equal(c.resources.limits['nvidia.com/gpu'], 2);
  const tp = c.args.indexOf('--tensor-parallel-size');
  assert.ok(tp > 0 && c.args[tp + 1] === '2', `tensor parallelism in ${c.args.join(' ')}`);
  assert.deepEqual(c.args.slice(-4), ['--max-model-len', '8192', '--gpu-memory-utilization', '0.92'], 'user args come last');
  assert.deepEqual(
    spec.volumes.find((v: Any) => v.name === 'dshm'),
    { name: 'dshm', emptyDir: { medium: 'Memory', sizeLimit: '16384Mi' } },
  );
  assert.ok(c.volumeMounts.some((m: Any) => m.name === 'dshm' && m.mountPath === '/dev/shm'));
  assert.ok(spec.executor.volumeMounts.some((m: Any) => m.name === 'dshm'));
});

/** Every env entry of every container in the objects. */
function allEnv(objects: unknown[]): Any[] {
  const out: Any[] = [];
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (typeof v === 'object' && v !== null) {
      for (const [k, child] of Object.entries(v)) {
        if (k === 'env' && Array.isArray(child)) out.push(...(child as Any[]));
        walk(child);
      }
    }
  };
  walk(objects);
  return out;
}

test('secrets are referenced with secretKeyRef and their values never appear', () => {
  const secretValues = { VLLM_API_KEY: 'sk-live-5ecret-value-0123456789', HF_TOKEN: 'hf_5ecretTokenValue9876543210' };
  const saved = { ...process.env };
  Object.assign(process.env, secretValues);
  try {
    const job = loadJobFile(join(FIXTURES, 'gpu-volcano.yaml'));
    const resolved = resolveJobForK8s(job, RUN_ID_OPTS);
    const yaml = renderK8sYaml(resolved);
    for (const v of Object.values(secretValues)) assert.ok(!yaml.includes(v), 'a secret value leaked into the manifests');
    const env = allEnv(renderK8s(resolved));
    const secretLike = env.filter((e) => /KEY|TOKEN|SECRET|PASSWORD/.test(e.name));
    assert.ok(secretLike.length >= 3, 'the fixture has secrets on executor, driver and engine');
    for (const e of secretLike) {
      assert.equal(e.value, undefined, `${e.name} has an inline value`);
      assert.ok(e.valueFrom?.secretKeyRef?.name && e.valueFrom.secretKeyRef.key, `${e.name} is not a secretKeyRef`);
    }
    assert.ok(!Object.keys(renderRun(resolved).apps[0]?.spec as Any).includes('envSecretKeyRefs'));
  } finally {
    for (const k of Object.keys(secretValues))
      if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
  }
});

test('engine.api_key_env without a kubernetes.secrets entry is a spec error', () => {
  assert.throws(
    () => render('gpu-volcano.yaml', ['kubernetes.secrets=[]']),
    (e: unknown) => e instanceof SpecError && /api_key_env is `VLLM_API_KEY`.*kubernetes\.secrets/.test(e.message),
  );
});

test('names are DNS-1035 labels of at most 63 characters, also for long names and two phases', () => {
  const long = 'a'.repeat(40);
  const id = `${long}-20261128120000-beef`;
  for (const phases of ['one', 'two'] as const) {
    const n = runNames(long, id, phases);
    for (const name of [n.configMap, ...n.apps.map((a) => a.name)]) {
      assert.ok(name.length <= 63, `${name} is ${name.length} characters`);
      assert.match(name, /^[a-z]([-a-z0-9]*[a-z0-9])?$/);
    }
    assert.equal(new Set(n.apps.map((a) => a.name)).size, n.apps.length);
  }
  assert.equal(runNames(long, id, 'one').apps[0]?.name, id, 'a run id that fits is used as is');
  // Cut names keep a hash of the whole: runs that differ only at the end stay distinct.
  assert.notEqual(dnsLabel(`${'b'.repeat(70)}-1`), dnsLabel(`${'b'.repeat(70)}-2`));
  assert.match(dnsLabel('7up-20261128120000-beef'), /^s-7up-/);
});

test('two phases: a CPU-only prepare application, then the GPU infer application, sharing job.json and the run volume', () => {
  const { cm, apps } = render('gpu-volcano.yaml', ['kubernetes.phases=two']);
  assert.deepEqual(
    apps.map((a) => a.metadata.labels['sparkinfer.io/phase']),
    ['prepare', 'infer'],
  );
  const [prep, infer] = apps.map((a) => a.spec) as [Any, Any];
  assert.deepEqual(prep.arguments.slice(-2), ['--phase', 'prepare']);
  assert.deepEqual(infer.arguments.slice(-2), ['--phase', 'infer']);
  assert.equal(prep.executor.initContainers, undefined);
  assert.equal(prep.executor.tolerations, undefined);
  assert.equal(prep.executor.nodeSelector, undefined);
  assert.equal(prep.batchSchedulerOptions.resources['nvidia.com/gpu'], undefined);
  assert.equal(prep.sparkConf['spark.executorEnv.SPARKINFER_ENDPOINT'], undefined);
  assert.equal(sidecarOf(apps[1] as Any).restartPolicy, 'Always');
  for (const s of [prep, infer]) {
    assert.deepEqual(s.driver.configMaps, [{ name: cm.metadata.name, path: '/etc/sparkinfer' }]);
    assert.deepEqual(s.volumes[0].persistentVolumeClaim, { claimName: 'sparkinfer-runs-rwx' });
  }
});

test('a hostPath model cache and the llama-server engine', () => {
  const { apps } = render('quickstart.yaml', [
    'kubernetes.engine.kind=llama-server',
    'kubernetes.engine.image=ghcr.io/example/llama-server-cuda:b1',
    'kubernetes.engine.model=/models/smollm2.gguf',
    'kubernetes.engine.model_cache.type=hostPath',
    'kubernetes.engine.model_cache.path=/var/cache/models',
    'kubernetes.engine.model_cache.read_only=true',
  ]);
  const spec = (apps[0] as Any).spec;
  assert.deepEqual(
    spec.volumes.find((v: Any) => v.name === 'model-cache'),
    { name: 'model-cache', hostPath: { path: '/var/cache/models', type: 'Directory' } },
  );
  const c = sidecarOf(apps[0] as Any);
  assert.equal(c.command, undefined, 'the image entrypoint is llama-server');
  assert.deepEqual(c.args.slice(0, 9), [
    '--model',
    '/models/smollm2.gguf',
    '--alias',
    'smollm2-135m-instruct',
    '--host',
    '0.0.0.0',
    '--port',
    '8000',
    '--metrics',
  ]);
  assert.deepEqual(c.volumeMounts, [{ name: 'model-cache', mountPath: '/models', readOnly: true }]);
});

test('gpus_per_executor: 0 renders a CPU job: the engine sidecar asks for no GPU, llama-server offloads nothing', () => {
  const { apps } = render('quickstart.yaml', [
    'kubernetes.gpus_per_executor=0',
    'kubernetes.engine.kind=llama-server',
    'kubernetes.engine.image=localhost/sparkinfer/llama-server:cpu',
    'kubernetes.engine.model=/models/model.gguf',
    'kubernetes.volcano={queue: default}',
  ]);
  const app = apps[0] as Any;
  const c = sidecarOf(app);
  assert.equal(c.restartPolicy, 'Always', 'still a native sidecar');
  assert.deepEqual(Object.keys(c.resources.requests).sort(), ['cpu', 'memory']);
  assert.deepEqual(Object.keys(c.resources.limits), ['memory']);
  assert.ok(!c.args.includes('--n-gpu-layers'));
  assert.ok(!JSON.stringify(app).includes('"nvidia.com/gpu":'), 'no GPU request anywhere, the gang reservation included');
  assert.equal(app.spec.sparkConf['spark.executorEnv.SPARKINFER_ENDPOINT'], 'http://127.0.0.1:8000/v1');
  // With GPUs, the same job asks for them.
  const gpu = sidecarOf(
    render('quickstart.yaml', ['kubernetes.engine.kind=llama-server', 'kubernetes.engine.image=x/y:1', 'kubernetes.engine.model=/m.gguf'])
      .apps[0] as Any,
  );
  assert.equal(gpu.resources.limits['nvidia.com/gpu'], 1);
  assert.ok(gpu.args.includes('--n-gpu-layers'));
  assert.throws(() => render('quickstart.yaml', ['kubernetes.gpus_per_executor=-1']), /gpus_per_executor/);
});

test('a CPU llama-server gets --threads from engine.cpu (llama.cpp takes every core of the node otherwise); args override', () => {
  const cpuJob = [
    'kubernetes.gpus_per_executor=0',
    'kubernetes.engine.kind=llama-server',
    'kubernetes.engine.image=x/y:1',
    'kubernetes.engine.model=/m.gguf',
  ];
  const threads = (set: string[]) => {
    const args = sidecarOf(render('quickstart.yaml', [...cpuJob, ...set]).apps[0] as Any).args as string[];
    return args.flatMap((a, i) => (a === '--threads' || a === '-t' ? [args[i + 1]] : a.startsWith('--threads=') ? [a.slice(10)] : []));
  };
  assert.deepEqual(threads([]), ['4'], 'the default engine.cpu, 4');
  assert.deepEqual(threads(['kubernetes.engine.cpu=300m']), ['1'], 'at least one');
  assert.deepEqual(threads(['kubernetes.engine.cpu=2.5']), ['2']);
  assert.deepEqual(threads(['kubernetes.engine.args=["--threads", "3"]']), ['3'], "the user's own, once");
  assert.deepEqual(threads(['kubernetes.engine.args=["-t", "5"]']), ['5']);
  // With GPUs the layers run on the GPU: llama.cpp's own default stays.
  const gpu = sidecarOf(render('quickstart.yaml', cpuJob.slice(1)).apps[0] as Any).args as string[];
  assert.ok(!gpu.includes('--threads'));
});

test("driver.core_request lowers the driver pod's CPU request and the gang reservation; default: cores", () => {
  const plain = (render('quickstart.yaml').apps[0] as Any).spec;
  assert.equal(plain.driver.coreRequest, undefined);
  const small = (render('quickstart.yaml', ['kubernetes.driver.core_request=250m', 'kubernetes.volcano={queue: default}']).apps[0] as Any)
    .spec;
  assert.equal(small.driver.coreRequest, '250m');
  assert.equal(small.driver.cores, 1, 'Spark still sees one core');
  const full = (render('quickstart.yaml', ['kubernetes.volcano={queue: default}']).apps[0] as Any).spec;
  const cpu = (s: Any): number => {
    const v = String(s.batchSchedulerOptions.resources.cpu);
    return v.endsWith('m') ? Number(v.slice(0, -1)) / 1000 : Number(v);
  };
  assert.ok(Math.abs(cpu(full) - cpu(small) - 0.75) < 1e-9, `${cpu(full)} vs ${cpu(small)}`);
  assert.throws(() => render('quickstart.yaml', ['kubernetes.driver.core_request=lots']), /core_request/);
});

test('bad kubernetes settings are spec errors that quote the value', () => {
  const cases: [string[], RegExp][] = [
    [['kubernetes.executors.memory=4096'], /memory size with a unit.*4096/],
    [['kubernetes.shuffle_tracking_timeout=600'], /duration with a unit/],
    [['kubernetes.engine.env={HF_TOKEN: abc}'], /looks like a secret/],
    [['kubernetes.engine.kind=openai'], /expected `image` for `engine.kind: openai`/],
    [['kubernetes.executors.min=5'], /`min` <= `max`/],
    [['kubernetes.executor.cores=4'], /kubernetes.executor: unknown field; did you mean "executors"/],
  ];
  for (const [set, re] of cases) assert.throws(() => render('quickstart.yaml', set), re, set.join(' '));
  assert.throws(
    () => render('quickstart.yaml', ['kubernetes.engine.args=["--port", "9000"]']),
    /`--port` is set by `kubernetes.engine.port`/,
  );
  assert.throws(() => render('quickstart.yaml', ['input.path=questions.jsonl']), /input.path is `questions.jsonl`, a relative path/);
  assert.throws(
    () => render('quickstart.yaml', ['kubernetes.engine={}']),
    /launches llama-server with `smollm2-135m-instruct` locally, but the cluster engine is vllm; set `kubernetes.engine.model`/,
  );
  assert.throws(
    () => render('quickstart.yaml', ['spark.conf={"spark.executorEnv.OPENAI_API_KEY": "sk-x"}']),
    /secrets must come from kubernetes.secrets/,
  );
});

test('the YAML is the objects, one document each, and the CLI options override namespace and image', () => {
  const job = resolveJobForK8s(loadJobFile(join(FIXTURES, 'gpu-volcano.yaml')), {
    ...RUN_ID_OPTS,
    runId: 'reviews-classify-20261128120000-abcd',
  });
  const opts = { namespace: 'other-ns', image: 'registry.example.com/sparkinfer:dev' };
  const docs = parseAllDocuments(renderK8sYaml(job, opts)).map((d) => d.toJS());
  assert.deepEqual(docs, JSON.parse(JSON.stringify(renderK8s(job, opts))));
  assert.deepEqual(
    docs.map((d) => d.metadata.namespace),
    ['other-ns', 'other-ns'],
  );
  assert.equal(docs[1].spec.image, opts.image);
  assert.equal(docs[1].metadata.name, 'reviews-classify-20261128120000-abcd');
  assert.throws(() => renderK8s(job, { namespace: 'Bad_NS' }), /namespace to be a Kubernetes name, got `Bad_NS`/);
});

test('prompt.chat_template is read beside the job file and shipped in job.json; gguf is refused', () => {
  const set = ['prompt.api=completions', 'prompt.chat_template=template.jinja'];
  const { cm } = render('gpu-volcano.yaml', set);
  const shipped = JSON.parse(String((cm.data as Record<string, string>)['job.json'])) as {
    run: { chat_template?: { template: string; source: string }; fingerprint: string };
  };
  assert.match(shipped.run.chat_template?.template ?? '', /<\|assistant\|>/);
  assert.match(shipped.run.chat_template?.source ?? '', /template\.jinja$/);
  // The template's text is part of the fingerprint, as for a local run.
  const plain = JSON.parse(String((render('gpu-volcano.yaml').cm.data as Record<string, string>)['job.json'])) as {
    run: { fingerprint: string; chat_template?: unknown };
  };
  assert.equal(plain.run.chat_template, undefined);
  assert.notEqual(shipped.run.fingerprint, plain.run.fingerprint);
  assert.throws(
    () => render('gpu-volcano.yaml', ['prompt.api=completions', 'prompt.chat_template=gguf']),
    (e: unknown) => e instanceof SpecError && /engine's pod/.test(e.message),
  );
  assert.throws(
    () => render('gpu-volcano.yaml', ['prompt.api=completions', 'prompt.chat_template=missing.jinja']),
    (e: unknown) => e instanceof SpecError,
  );
});

test('observability.prometheus: the driver gets the metrics port and the prometheus.io annotations; job.json binds every address', () => {
  const plain = render('quickstart.yaml');
  assert.equal((plain.apps[0] as Any).spec.driver.ports, undefined);
  assert.equal(plain.run.podMonitor, undefined);
  const { apps, cm, run } = render('quickstart.yaml', ['observability.prometheus.port=9464']);
  const app = apps[0] as Any;
  const driver = app.spec.driver;
  assert.deepEqual(driver.ports, [{ name: 'metrics', containerPort: 9464, protocol: 'TCP' }]);
  assert.equal(driver.annotations['prometheus.io/scrape'], 'true');
  assert.equal(driver.annotations['prometheus.io/port'], '9464');
  assert.equal(driver.annotations['prometheus.io/path'], '/metrics');
  assert.equal(app.spec.executor.ports, undefined, 'executors serve no metrics');
  const jobJson = JSON.parse(String((cm as Any).data['job.json']));
  assert.equal(jobJson.observability.prometheus.host, '0.0.0.0');
  assert.equal(jobJson.observability.prometheus.port, 9464);
  assert.equal(run.podMonitor, undefined, 'a PodMonitor only when asked for');
  assert.equal(renderK8s(run.jobJson).length, 2);
});

test('observability.prometheus.pod_monitor: a PodMonitor selecting the run’s driver pods, after the applications', () => {
  const set = ['observability.prometheus.port=9464', 'observability.prometheus.pod_monitor=true', 'kubernetes.phases=two'];
  const { run } = render('quickstart.yaml', set);
  const pm = run.podMonitor as Any;
  assert.equal(pm.apiVersion, 'monitoring.coreos.com/v1');
  assert.equal(pm.kind, 'PodMonitor');
  assert.equal(pm.metadata.namespace, run.namespace);
  assert.match(pm.metadata.name, /-metrics$/);
  assert.ok(pm.metadata.name.length <= 63);
  assert.equal(pm.metadata.labels[RUN_ID_LABEL], run.jobJson.run.id);
  assert.deepEqual(pm.spec.selector.matchLabels, { 'spark-role': 'driver' });
  assert.deepEqual(pm.spec.selector.matchExpressions, [
    { key: 'sparkoperator.k8s.io/app-name', operator: 'In', values: run.apps.map((a) => a.metadata.name) },
  ]);
  assert.equal(run.apps.length, 2);
  assert.deepEqual(pm.spec.podMetricsEndpoints, [{ port: 'metrics', path: '/metrics' }]);
  const job = resolveJobForK8s(loadJobFile(join(FIXTURES, 'quickstart.yaml'), { set }), RUN_ID_OPTS);
  const kinds = parseAllDocuments(renderK8sYaml(job)).map((d) => d.toJS().kind);
  assert.deepEqual(kinds, ['ConfigMap', 'SparkApplication', 'SparkApplication', 'PodMonitor']);
});

test('observability.traces: the pods’ job.json carries run.traces from the job alone, under a parent made at render time', () => {
  assert.equal(render('quickstart.yaml').run.jobJson.run.traces, undefined);
  const { run, cm } = render('quickstart.yaml', [
    'observability.traces.endpoint=http://otel-collector.monitoring:4318',
    'observability.traces.sample_ratio=0.01',
  ]);
  const t = run.jobJson.run.traces;
  assert.ok(t !== undefined);
  assert.equal(t.endpoint, 'http://otel-collector.monitoring:4318/v1/traces');
  assert.equal(t.sample_ratio, 0.01);
  assert.match(t.traceparent, /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
  assert.deepEqual(JSON.parse(String((cm as Any).data['job.json'])).run.traces, t);
});
