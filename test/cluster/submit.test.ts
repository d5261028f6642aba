/**
 * Real jobs on the local cluster (npm run test:cluster): `sparkinfer submit` of a quickstart-sized
 * job through the spark-operator and its webhook, driver and executors in the image built from
 * deploy/Dockerfile, the CPU llama-server as each executor's native sidecar.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appPods, assertEveryKeyOnce, removeApp, sparkinfer, writeJob, type Pod, testClient } from './lib.ts';

const ROWS = 100;

test('submit: a quickstart-sized job reaches COMPLETED with every key once; the engine is a native sidecar that started before the executor', async (t) => {
  const { c, cleanupWith } = testClient(t);
  const name = 'qs';
  const { file, outHost } = writeJob({ name, rows: ROWS });
  const t0 = Date.now();
  const run = sparkinfer(['submit', file, '--target', 'k8s'], 20 * 60_000);
  // Watch the executor pods while the job runs: keep the first one seen with both containers running.
  let seen: Pod | undefined;
  let appName: string | undefined;
  let finished = false;
  const watcher = (async () => {
    for (let i = 0; i < 1200 && !finished; i++) {
      try {
        // submit prints the application's name first.
        appName ??= run.stdout().split('\n')[0]?.trim() || undefined;
        if (appName !== undefined && seen === undefined) {
          for (const p of await appPods(c, appName, 'executor')) {
            const exec = (p.status?.containerStatuses ?? []).find((s: Pod) => s.name === 'spark-kubernetes-executor');
            if (exec?.state?.running !== undefined) {
              seen = p;
              break;
            }
          }
        }
      } catch {
        /* the API may be busy; try again */
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
  })();
  const r = await run.done;
  finished = true;
  await watcher;
  cleanupWith(async () => {
    if (appName !== undefined) await removeApp(c, appName);
  });
  const secs = Math.round((Date.now() - t0) / 1000);
  process.stderr.write(`cluster: submit of ${ROWS} rows finished in ${secs} s\n`);
  assert.equal(r.code, 0, `submit exited ${r.code}:\n${r.stderr.slice(-4000)}`);
  assert.match(r.stderr, /COMPLETED/);
  assertEveryKeyOnce(outHost, ROWS);

  assert.ok(seen !== undefined, 'an executor pod was seen running');
  const init = (seen.spec.initContainers ?? []) as Pod[];
  const engine = init.find((x) => x.name === 'engine');
  assert.ok(
    engine !== undefined,
    `the webhook put the engine into the executor pod's initContainers (got ${init.map((x) => x.name).join(', ')})`,
  );
  assert.equal(engine.restartPolicy, 'Always', 'a native sidecar');
  assert.ok(engine.startupProbe?.httpGet !== undefined, 'with its startup probe');
  const engStatus = (seen.status.initContainerStatuses as Pod[]).find((s) => s.name === 'engine');
  const execStatus = (seen.status.containerStatuses as Pod[]).find((s) => s.name === 'spark-kubernetes-executor');
  assert.equal(engStatus?.started, true);
  const engineStart = Date.parse(engStatus?.state?.running?.startedAt);
  const execStart = Date.parse(execStatus?.state?.running?.startedAt);
  const initialized = Date.parse((seen.status.conditions as Pod[]).find((x) => x.type === 'Initialized')?.lastTransitionTime);
  // Initialized turns True when every native sidecar's startup probe passed; the executor starts after it.
  assert.ok(
    engineStart <= initialized && initialized <= execStart,
    `engine ${engStatus?.state?.running?.startedAt} <= initialized <= executor ${execStatus?.state?.running?.startedAt}`,
  );
});
