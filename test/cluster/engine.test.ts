/**
 * An engine that never becomes healthy, on the local cluster (npm run test:cluster): the sidecar
 * gets a model path that does not exist, so llama-server exits at every start and the executor
 * container never starts. The driver's sidecar watch (python/sparkinfer/sidecar_watch.py) must end
 * the application within the startup timeout, with a message naming the engine; nothing hangs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appPods, removeApp, sparkinfer, waitFor, writeJob, testClient } from './lib.ts';

const STARTUP_TIMEOUT_S = 120;

test('an engine that never becomes healthy ends the application with a message naming it, within the startup timeout', async (t) => {
  const { c, cleanupWith } = testClient(t);
  const { file } = writeJob({
    name: 'no-engine',
    rows: 20,
    kubernetes: { retries: 0, engine: { model: '/opt/models/missing.gguf', startup_timeout: `${STARTUP_TIMEOUT_S}s` } },
  });
  const t0 = Date.now();
  // Bounded well above the startup timeout: a hang fails here, not in the harness.
  const run = sparkinfer(['submit', file, '--target', 'k8s'], (STARTUP_TIMEOUT_S + 300) * 1000);
  const app = await waitFor('the application name', async () => run.stdout().split('\n')[0]?.trim() || undefined, 60_000, 500);
  cleanupWith(() => removeApp(c, app));
  // The clock that matters starts when the executor pod exists (scheduling and the driver's JVM come first).
  const podAt = await waitFor(
    'an executor pod',
    async () => ((await appPods(c, app, 'executor')).length > 0 ? Date.now() : undefined),
    5 * 60_000,
    1000,
  );
  const r = await run.done;
  const s = Math.round((Date.now() - t0) / 1000);
  const afterPod = Math.round((Date.now() - podAt) / 1000);
  process.stderr.write(`cluster: unhealthy engine: submit ended after ${s} s (${afterPod} s after the first executor pod)\n`);
  assert.equal(r.code, 1, `the application FAILED (exit ${r.code}):\n${r.stderr.slice(-4000)}`);
  assert.match(r.stderr, /FAILED/);
  assert.match(
    r.stderr,
    /sparkinfer: the engine \(llama-server, container `engine` of executor pod \S+, image localhost\/sparkinfer\/llama-server:cpu\) never became healthy: it exited with code \d+/,
  );
  assert.match(r.stderr, /missing\.gguf/, "the engine's own last lines say why");
  assert.ok(
    afterPod <= STARTUP_TIMEOUT_S + 60,
    `ended ${afterPod} s after the executor pod, within the startup timeout (${STARTUP_TIMEOUT_S} s)`,
  );
  // Nothing left running: the executors go with the failed driver.
  await waitFor('no executor pod left', async () => ((await appPods(c, app, 'executor')).length === 0 ? true : undefined), 120_000, 2000);
});
