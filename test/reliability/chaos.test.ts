/**
 * The short chaos soak (test/reliability/chaos.ts) in `npm test`: 3,000 rows through random engine
 * faults, three worker SIGKILLs, an engine restart and a SIGKILL of the whole run, then the rerun.
 * The 100,000-row version is `npm run soak` (bench/chaos.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chaosSoak } from './chaos.ts';
import { tempDir } from '../helpers/tmp.ts';

test('chaos soak, 3,000 rows: every key once, nothing left behind, the rerun resumes', { timeout: 900_000 }, async () => {
  const work = tempDir('chaos-test');
  const r = await chaosSoak({ rows: 3000, work, log: (l) => process.stderr.write(`${l}\n`) });
  process.stderr.write(`${JSON.stringify(r)}\n`);
  assert.equal(r.exit_codes.fault_free, 0);
  assert.equal(r.exit_codes.chaos_run, 137, 'the chaos run ends killed');
  assert.equal(r.exit_codes.rerun, 0);
  assert.equal(r.workers_killed, 3);
  assert.equal(r.engine_restarts, 1);
  assert.ok(r.run_killed_at_ledger_lines > 0 && r.run_killed_at_ledger_lines < r.rows);
  assert.ok(Object.keys(r.faults_injected).length >= 3, `faults injected: ${JSON.stringify(r.faults_injected)}`);
  assert.equal(r.lost, 0);
  assert.equal(r.duplicates, 0);
  assert.equal(r.rows_failed, 0);
  assert.ok(r.exactly_once);
  assert.ok(r.rows_from_ledger > 0, 'the rerun took finished rows from the ledger');
  assert.equal(r.rows_from_ledger + r.rows_inferred, r.rows);
  assert.equal(r.processes_left, 0, 'no process of either run is left');
});
