/**
 * Faults on the local cluster (npm run test:cluster): an executor pod deleted mid-run, and the
 * driver pod killed mid-run (the operator retries the application, the rerun resumes from the
 * ledger on the run volume). Every input key must come out exactly once.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { objectPath } from '../../src/k8s/client.ts';
import { appPods, ledgerRows, NS, assertEveryKeyOnce, removeApp, RUNS_HOST, sparkinfer, waitFor, writeJob, testClient } from './lib.ts';

const ROWS = 120;

function summaryOf(job: string, app: string): Record<string, unknown> {
  return JSON.parse(readFileSync(join(RUNS_HOST, job, app, 'driver_summary.json'), 'utf8')) as Record<string, unknown>;
}

async function killPod(c: ReturnType<typeof testClient>['c'], name: string): Promise<void> {
  await c.call('DELETE', objectPath({ apiVersion: 'v1', kind: 'Pod', namespace: NS, name }), { query: { gracePeriodSeconds: 0 } });
}

for (const victim of ['executor', 'driver'] as const) {
  test(`${victim} pod deleted mid-run: the job completes with every key exactly once${victim === 'driver' ? ', resuming from the ledger' : ''}`, async (t) => {
    const { c, cleanupWith } = testClient(t);
    const name = `kill-${victim}`;
    const { file, outHost } = writeJob({ name, rows: ROWS });
    const t0 = Date.now();
    const run = sparkinfer(['submit', file, '--target', 'k8s'], 25 * 60_000);
    const app = await waitFor('the application name', async () => run.stdout().split('\n')[0]?.trim() || undefined, 60_000, 500);
    cleanupWith(() => removeApp(c, app));
    // Mid-run: some rows are in the ledger, not all.
    await waitFor('15 rows in the ledger', async () => (ledgerRows(name, app) >= 15 ? true : undefined), 10 * 60_000, 1000);
    const before = ledgerRows(name, app);
    assert.ok(before < ROWS, `still running (${before} of ${ROWS} rows done)`);
    const pods = await appPods(c, app, victim);
    const pod = pods.find((p) => p.status?.phase === 'Running');
    assert.ok(pod !== undefined, `a running ${victim} pod (got ${pods.map((p) => `${p.metadata.name} ${p.status?.phase}`).join(', ')})`);
    await killPod(c, pod.metadata.name as string);
    const r = await run.done;
    process.stderr.write(`cluster: ${victim} killed after ${before} rows; run finished in ${Math.round((Date.now() - t0) / 1000)} s\n`);
    assert.equal(r.code, 0, `submit exited ${r.code}:\n${r.stderr.slice(-4000)}`);
    assertEveryKeyOnce(outHost, ROWS);
    const s = summaryOf(name, app);
    assert.equal(s.rows_out, ROWS);
    assert.equal(s.distinct_keys_out, ROWS);
    if (victim === 'driver') {
      assert.match(r.stderr, /attempt 2/, 'the operator retried the application');
      assert.ok(Number(s.rows_from_ledger) > 0, `the rerun resumed from the ledger (rows_from_ledger ${String(s.rows_from_ledger)})`);
    }
  });
}
