/**
 * Controlling a running application on the local cluster: `status`, `logs -f` and `cancel`
 * (npm run test:cluster). Cancel must leave no pod of the application behind.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appPods, removeApp, sparkinfer, waitFor, writeJob, testClient } from './lib.ts';

test('status, logs -f and cancel work on a running application; cancel leaves no pods', async (t) => {
  const { c, cleanupWith } = testClient(t);
  // Long enough to still be running while we look at it.
  const { file } = writeJob({ name: 'ctl', rows: 400, extra: { sampling: { temperature: 0.7, max_tokens: 64 } } });
  const sub = await sparkinfer(['submit', file, '--target', 'k8s', '--no-watch'], 120_000).done;
  assert.equal(sub.code, 0, sub.stderr);
  const app = sub.stdout.trim().split('\n').at(-1) ?? '';
  assert.match(app, /^ctl-/);
  cleanupWith(() => removeApp(c, app));

  // status: RUNNING once the driver runs (bounded wait), with the driver pod named.
  const running = await waitFor(
    'status RUNNING',
    async () => {
      const st = await sparkinfer(['status', app], 60_000).done;
      return /\bRUNNING\b/.test(st.stdout) ? st : undefined;
    },
    5 * 60_000,
    3000,
  );
  assert.match(running.stdout, new RegExp(`sparkinfer/${app} RUNNING, driver ${app}-driver`));
  assert.equal(running.code, 0, 'a running application is not an error');

  // logs -f: the driver's log streams while it runs; once lines arrived, stop following.
  const logs = sparkinfer(['logs', app, '-f'], 5 * 60_000);
  await waitFor(
    'driver log lines from logs -f',
    async () =>
      logs
        .stdout()
        .split('\n')
        .filter((l) => l.trim() !== '').length >= 3
        ? true
        : undefined,
    3 * 60_000,
    1000,
  );
  logs.kill();
  await logs.done;

  // cancel: the application and every pod of it are gone (bounded).
  const cancel = await sparkinfer(['cancel', app], 60_000).done;
  assert.equal(cancel.code, 0, cancel.stderr);
  assert.match(cancel.stderr, new RegExp(`deleted .*${app}`));
  await waitFor('no pods left after cancel', async () => ((await appPods(c, app)).length === 0 ? true : undefined), 120_000, 2000);
  const after = await sparkinfer(['status', app], 60_000).done;
  assert.notEqual(after.code, 0, 'status of a cancelled application is an error (not found)');
});
