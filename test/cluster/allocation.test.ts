/**
 * Dynamic allocation gives executors back on the local cluster (npm run test:cluster): 3 tasks on
 * 2 one-task executors, so the last task runs alone while the other executor has nothing to do.
 * Its pod, engine sidecar included, must be deleted while the job still runs (seen from the API),
 * and the job must still write every key exactly once.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import {
  appPods,
  ledgerRows,
  ledgerWorkers,
  assertEveryKeyOnce,
  type Pod,
  removeApp,
  sparkinfer,
  waitFor,
  writeJob,
  testClient,
} from './lib.ts';

const ROWS = 450; // 150 a task: ~45 s each at one thread per engine, so the executor left without a task idles well past IDLE_S
const IDLE_S = 10;

test('dynamic allocation removes an idle executor pod, sidecar included, while the job still runs', async (t) => {
  const { c, cleanupWith } = testClient(t);
  const name = 'give-back';
  const { file, outHost } = writeJob({
    name,
    rows: ROWS,
    kubernetes: {
      tasks_per_engine: 1,
      executors: { max: 2, core_request: '300m', memory: '1g' },
      executor_idle_timeout: `${IDLE_S}s`,
      // The repartition's shuffle files keep an executor otherwise (default 10m).
      shuffle_tracking_timeout: `${IDLE_S}s`,
    },
    extra: { spark: { partitions: 3 } },
  });
  const t0 = Date.now();
  const run = sparkinfer(['submit', file, '--target', 'k8s'], 25 * 60_000);
  const app = await waitFor('the application name', async () => run.stdout().split('\n')[0]?.trim() || undefined, 60_000, 500);
  cleanupWith(() => removeApp(c, app));
  let finished = false;
  void run.done.then(() => {
    finished = true;
  });
  // Watch the executor pods (bounded by the run itself): which ran, and which vanished while rows were still to do.
  // Only an executor that inferred rows counts: with a 10 s idle timeout, Spark also gives back executors that
  // idled between the prepare phase's jobs, before any inference.
  const ran = new Map<string, string | undefined>(); // pod name -> spark-exec-id
  const workedOn = (execId: string | undefined) =>
    execId !== undefined && ledgerWorkers(name, app).some((w) => w.includes(`-exec-${execId}-`));
  const removedMidRun: { pod: string; rowsDone: number; atS: number }[] = [];
  const deadline = Date.now() + 25 * 60_000;
  while (!finished && Date.now() < deadline) {
    const pods = await appPods(c, app, 'executor').catch(() => undefined);
    if (pods !== undefined) {
      const now = new Set(pods.map((p) => p.metadata.name as string));
      const done = ledgerRows(name, app);
      for (const [p, id] of ran)
        if (!now.has(p) && done < ROWS && workedOn(id))
          removedMidRun.push({ pod: p, rowsDone: done, atS: Math.round((Date.now() - t0) / 1000) });
      for (const p of [...ran.keys()]) if (!now.has(p)) ran.delete(p);
      for (const p of pods)
        if (p.status?.phase === 'Running' && p.status?.containerStatuses?.some((s: Pod) => s.started === true))
          ran.set(p.metadata.name, p.metadata.labels?.['spark-exec-id']);
    }
    await delay(1000);
  }
  const r = await run.done;
  process.stderr.write(
    `cluster: give-back: run finished in ${Math.round((Date.now() - t0) / 1000)} s; removed mid-run: ${JSON.stringify(removedMidRun)}\n`,
  );
  assert.equal(r.code, 0, `submit exited ${r.code}:\n${r.stderr.slice(-4000)}`);
  assert.ok(removedMidRun.length > 0, 'an executor pod that had run was deleted while rows were still to do');
  assertEveryKeyOnce(outHost, ROWS);
});
