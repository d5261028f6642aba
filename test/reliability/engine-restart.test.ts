/**
 * The local launcher supervises the job's engine: SIGKILL it mid-run and it is restarted within
 * `engine.launch.max_restarts`; the workers wait out the outage on /health, and every row comes
 * out once with `error_code` null. Real Spark, real llama-server (the job's own).
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { printTable, type ScenarioRow } from './lib.ts';
import { engineRestart } from './scenarios.ts';
import { tempDir } from '../helpers/tmp.ts';

const table: ScenarioRow[] = [];
after(() => printTable('reliability: engine restart', table));

test('engine SIGKILLed mid-run: restarted by the launcher, the job completes with every row ok', { timeout: 600_000 }, async () => {
  const n = 40;
  const r = await engineRestart({ work: tempDir('rel-restart'), engineRoot: '', rows: n });
  table.push(r.row);
  assert.equal(r.cli.code, 0, r.cli.stderr.slice(-3000));
  assert.ok(r.killedAtLedgerLines > 0 && r.killedAtLedgerLines < n, `killed mid-run (${r.killedAtLedgerLines} of ${n})`);
  assert.equal(r.starts, 2, 'the engine was started twice');
  assert.match(r.cli.stderr, /exited unexpectedly \(killed by SIGKILL\); restarting it on the same port \(1 of 2\)/);
  assert.equal(r.tally.lost, 0);
  assert.equal(r.tally.duplicates, 0);
  assert.equal(r.tally.ok, n, 'every row has error_code null');
  assert.equal(r.summary.rows_ok, n);
});
