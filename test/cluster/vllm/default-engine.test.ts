/**
 * The default engine kind, vLLM, as the executor's sidecar on the local cluster
 * (npm run test:cluster:vllm). The image is vLLM's CPU build (deploy/engine-vllm-cpu.Dockerfile, a
 * stand-in for the public GPU image that cannot be pulled here), so what this proves is the
 * default manifest: the `vllm serve` command and its arguments, port 8000 and the /health probes,
 * with a real vLLM answering the workers. Not run by `npm run test:cluster` (a 7 GB image).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as C from '../../../scripts/cluster/config.ts';
import { appPods, assertEveryKeyOnce, removeApp, sparkinfer, waitFor, writeJob, type Pod, testClient } from '../lib.ts';

const ROWS = 24;

test('the default engine kind: vLLM serves the executor from its native sidecar, every key once', async (t) => {
  const { c, cleanupWith } = testClient(t);
  const name = 'vllm';
  const { file, outHost } = writeJob({
    name,
    rows: ROWS,
    kubernetes: {
      executors: { max: 1, core_request: '300m', memory: '1g' },
      engine: {
        kind: 'vllm',
        image: C.VLLM_IMAGE,
        model: '/opt/models/smollm2-135m-instruct',
        // CPU only: bf16 and a short context keep the KV cache (1 GiB) and the start-up small.
        args: ['--dtype', 'bfloat16', '--max-model-len', '2048'],
        env: { VLLM_CPU_KVCACHE_SPACE: '1', OMP_NUM_THREADS: '1' },
        cpu: '1',
        memory: '6g',
        startup_timeout: '10m',
      },
    },
    // The job talks to the sidecar as a vLLM server (no local launch).
    extra: { engine: { endpoint: 'http://127.0.0.1:8000/v1', kind: 'vllm', concurrency: 'auto', request_timeout: '5m' } },
  });
  const t0 = Date.now();
  const run = sparkinfer(['submit', file, '--target', 'k8s'], 25 * 60_000);
  const app = await waitFor('the application name', async () => run.stdout().split('\n')[0]?.trim() || undefined, 60_000, 500);
  cleanupWith(() => removeApp(c, app));
  // The executor pod once its executor container runs: the engine passed its startup probe by then.
  let finished = false;
  void run.done.then(() => {
    finished = true;
  });
  const seen = await waitFor(
    'an executor pod with its executor container running',
    async () => {
      for (const p of await appPods(c, app, 'executor').catch(() => [] as Pod[])) {
        const exec = (p.status?.containerStatuses ?? []).find((s: Pod) => s.name === 'spark-kubernetes-executor');
        if (exec?.state?.running !== undefined || exec?.state?.terminated !== undefined) return p;
      }
      return finished ? null : undefined;
    },
    20 * 60_000,
    2000,
  );
  const r = await run.done;
  process.stderr.write(`cluster: vLLM sidecar: submit of ${ROWS} rows finished in ${Math.round((Date.now() - t0) / 1000)} s\n`);
  assert.equal(r.code, 0, `submit exited ${r.code}:\n${r.stderr.slice(-4000)}`);
  assertEveryKeyOnce(outHost, ROWS);

  assert.ok(seen, 'an executor pod was seen with its executor container started');
  const engine = ((seen.spec.initContainers ?? []) as Pod[]).find((x) => x.name === 'engine');
  assert.ok(engine !== undefined, 'the engine is in the executor pod');
  assert.equal(engine.restartPolicy, 'Always', 'a native sidecar');
  assert.deepEqual(engine.command, ['vllm', 'serve'], "the default manifest's command");
  assert.deepEqual(engine.args.slice(0, 7), [
    '/opt/models/smollm2-135m-instruct',
    '--served-model-name',
    'smollm2-135m-instruct',
    '--host',
    '0.0.0.0',
    '--port',
    '8000',
  ]);
  for (const probe of ['startupProbe', 'readinessProbe', 'livenessProbe'])
    assert.deepEqual(engine[probe]?.httpGet, { path: '/health', port: 8000, scheme: 'HTTP' }, probe);
  const engStatus = (seen.status.initContainerStatuses as Pod[]).find((s) => s.name === 'engine');
  assert.equal(engStatus?.started, true, "vLLM's startup probe passed");
});
