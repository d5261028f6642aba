/**
 * Whole-run faults against real Spark and a real llama-server, counted at the engine through the
 * counting proxy: the run's process group SIGKILLed at ~50%, a second run refused by the lock
 * meanwhile, a changed job refused, a damaged ledger, and the rerun that resumes.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startDemoEngine } from '../helpers/engine.ts';
import { summaryOf } from '../helpers/cli.ts';
import type { LocalEngine } from '../../src/launch/engine.ts';
import { printTable, type ScenarioRow } from './lib.ts';
import { killAndResume, type Ctx } from './scenarios.ts';
import { tempDir } from '../helpers/tmp.ts';

let engine: LocalEngine;
let ctx: Ctx;
const table: ScenarioRow[] = [];

before(async () => {
  engine = await startDemoEngine({ parallel: 4 });
  ctx = { work: tempDir('rel-resume'), engineRoot: engine.endpoint.replace(/\/v1$/, ''), rows: 60 };
});
after(async () => {
  await engine?.stop();
  printTable('reliability: whole-run faults and resume', table);
});

test('SIGKILL at ~50%, rerun: each key once, rows_from_ledger + rows_inferred = rows_in, re-inference within the in-flight bound', {
  timeout: 900_000,
}, async () => {
  const r = await killAndResume(ctx);
  table.push(...r.rows);
  const n = ctx.rows;
  // The lock refused a second run while the first was going, fast and before any Spark work.
  assert.equal(r.concurrent.code, 2, r.concurrent.stderr.slice(-2000));
  assert.match(r.concurrent.stderr, /another run .* is using this output/);
  // The killed CLI's driver took its Spark processes down (no orphan keeps writing the ledger).
  assert.ok(r.sparkGroupGone, "the killed run's Spark process group exited by itself");
  assert.ok(r.killedAtLedgerLines < n, `killed mid-run (${r.killedAtLedgerLines} of ${n} rows in the ledger)`);
  // A changed job is refused with exit 2 before an engine or a JVM starts.
  assert.equal(r.changed.code, 2, r.changed.stderr.slice(-2000));
  assert.match(r.changed.stderr, /the job changed since run \S+ \(changed: prompt\); rerun with --fresh/);
  assert.ok(r.changed.ms < 30_000, `refused in ${r.changed.ms} ms`);
  // The rerun resumes.
  assert.equal(r.rerun.code, 0, r.rerun.stderr.slice(-3000));
  const s = r.rerunSummary;
  assert.equal(s.rows_in, n);
  assert.equal((s.rows_from_ledger as number) + (s.rows_inferred as number), n, 'rows_from_ledger + rows_inferred = rows_in');
  assert.equal((s.rows_ok as number) + (s.rows_failed as number), n);
  assert.equal(s.rows_from_ledger, r.ledgerOkKeys.size, 'every ok ledger row (and only those) was reused');
  assert.equal(r.postsC, n - r.ledgerOkKeys.size, 'the engine saw exactly the rows that were not finished');
  const reInferred = r.postsA + r.postsC - n;
  assert.ok(
    reInferred >= 0 && reInferred <= r.windowTimesTasks,
    `re-inferred ${reInferred} rows, bound: in-flight window × running tasks = ${r.windowTimesTasks}`,
  );
  assert.equal(r.tally.lost, 0);
  assert.equal(r.tally.duplicates, 0);
  assert.equal(r.tally.foreign, 0, 'a ledger key that is not in the input is not written');
  assert.equal(r.tally.ok, n, 'every row ok: the ok ledger line won over the error line of another attempt');
  const torn = r.tally.byKey.get(r.tornKey);
  assert.notEqual(torn?.text, 'torn', 'a torn ledger line is never taken as a result');
  assert.equal(torn?.error_code, null);
  // Both runs are consumed: a later run starts from scratch.
  assert.equal(r.consumed.length, 2);
  const marker = JSON.parse(readFileSync(join(r.consumed[0] ?? '', 'CONSUMED'), 'utf8')) as { by: string; reason: string };
  assert.equal(marker.by, summaryOf(r.rerun).run_id);
  assert.equal(marker.reason, 'resumed');
});
