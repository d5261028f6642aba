/**
 * Engine and worker faults against real Spark and a real llama-server, through the fault proxy:
 * every engine fault on first attempts plus a worker SIGKILL (one run), the engine gone for good,
 * hostile answers (huge, endless, not JSON, not HTTP), and the failure budget followed by
 * `--retry-errors`.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { startDemoEngine } from '../helpers/engine.ts';
import type { LocalEngine } from '../../src/launch/engine.ts';
import { printTable, type ScenarioRow } from './lib.ts';
import { budgetThenRetryErrors, engineGone, hostileAnswers, HOSTILE_CODE, mixedFaults, type Ctx } from './scenarios.ts';
import { tempDir } from '../helpers/tmp.ts';

let engine: LocalEngine;
let ctx: Ctx;
const table: ScenarioRow[] = [];

before(async () => {
  engine = await startDemoEngine({ parallel: 4 });
  ctx = { work: tempDir('rel-faults'), engineRoot: engine.endpoint.replace(/\/v1$/, ''), rows: 36 };
});
after(async () => {
  await engine?.stop();
  printTable('reliability: engine and worker faults', table);
});

test('every engine fault on first attempts, and a worker SIGKILLed mid-task: every row once, all ok', { timeout: 600_000 }, async () => {
  const r = await mixedFaults(ctx);
  table.push(...r.rows);
  assert.equal(r.cli.code, 0, r.cli.stderr.slice(-3000));
  assert.equal(r.tally.lost, 0, 'no row lost');
  assert.equal(r.tally.duplicates, 0, 'no row duplicated');
  assert.equal(r.tally.foreign, 0);
  assert.equal(r.tally.ok, ctx.rows, 'every row has error_code null');
  for (const p of r.perFault) {
    assert.equal(p.injected, p.ids.length, `${p.fault} injected once per row of its kind`);
    assert.equal(p.tally.ok, p.ids.length, `${p.fault} rows all ok`);
  }
  assert.equal(r.summary.rows_ok, ctx.rows);
  assert.ok(r.killMarker, 'the fault hook killed one worker');
  // The killed attempt's results are in the ledger and again in its retry's: the output has them once.
  assert.ok(r.ledgerLines > ctx.rows, `ledger has ${r.ledgerLines} lines for ${ctx.rows} rows: the retried task ran again`);
});

test('engine gone for good: the task is retried, then the job fails with exit 1 naming the outage', { timeout: 600_000 }, async () => {
  const r = await engineGone({ ...ctx, rows: 30 });
  table.push(r.row);
  assert.equal(r.cli.code, 1, r.cli.stderr.slice(-3000));
  assert.equal(r.summary.status, 'failed');
  assert.match(String(r.summary.message), /outage/, 'the reason names the outage');
  assert.match(String(r.summary.message), /outage_timeout/);
  assert.ok(r.workerAttempts > r.partitions, `Spark retried a task (${r.workerAttempts} worker attempts for ${r.partitions} tasks)`);
  assert.ok(r.ledgerOk >= 10, `rows answered before the outage are kept in the ledger (${r.ledgerOk})`);
});

test('failure budget: the driver cancels mid-run and says why and where; --retry-errors then infers only what failed', {
  timeout: 600_000,
}, async () => {
  const n = 60;
  const r = await budgetThenRetryErrors({ ...ctx, rows: n });
  table.push(...r.rows);
  assert.equal(r.first.code, 1, r.first.stderr.slice(-3000));
  const msg = String(r.firstSummary.message);
  assert.match(msg, /^\d+ of the first \d+ rows failed, more than limits.max_failed_fraction \(0\.2\); top errors: E_HTTP_4XX ×\d+;/, msg);
  assert.match(msg, /max_failed_fraction \(0\.2\)/);
  assert.match(msg, /cancelled the inference/);
  assert.ok(r.firstPosts < n, `cancelled before the end: ${r.firstPosts} of ${n} requests`);
  assert.ok(r.workersStopped, 'the workers stopped when the driver cancelled (they do not infer their whole partition)');
  assert.equal(r.committed, false, 'nothing was committed');
  assert.ok(r.failedRowsPath !== null && msg.includes(r.failedRowsPath), 'the message says where the failed rows are');
  assert.ok(
    r.failedRows.length > 0 && r.failedRows.every((x) => x.error_code === 'E_HTTP_4XX'),
    'failed rows file lists them with their code',
  );
  assert.ok(existsSync(r.failedRowsPath ?? ''));
  // The rerun keeps the ok rows and re-infers the rest: errors and rows never reached.
  assert.equal(r.retry.code, 0, r.retry.stderr.slice(-3000));
  assert.equal(r.retrySummary.rows_from_ledger, r.ledgerOkKeys.size);
  assert.equal(r.retrySummary.rows_inferred, n - r.ledgerOkKeys.size);
  assert.equal(r.retryPosts, n - r.ledgerOkKeys.size, 'the engine saw exactly the rows that were not ok');
  assert.equal(r.tally.lost, 0);
  assert.equal(r.tally.duplicates, 0);
  assert.equal(r.tally.ok, n);
});

test('hostile answers become per-row errors with stable codes, the job goes on, and worker memory stays bounded', {
  timeout: 600_000,
}, async () => {
  const r = await hostileAnswers({ ...ctx, rows: 20 });
  table.push(...r.rows);
  assert.equal(r.cli.code, 0, r.cli.stderr.slice(-3000));
  assert.equal(r.tally.lost, 0);
  assert.equal(r.tally.duplicates, 0);
  for (const p of r.perFault) {
    for (const id of p.always)
      assert.equal(r.tally.byKey.get(String(id))?.error_code, HOSTILE_CODE[p.fault], `${p.fault} on every attempt, row ${id}`);
    for (const id of p.once)
      assert.equal(r.tally.byKey.get(String(id))?.error_code, null, `${p.fault} on the first attempt only, row ${id}`);
  }
  assert.equal(r.summary.rows_failed, 10);
  // Each `huge` answer is cut at the 16 MiB cap (src/engine/http1/pool.ts MAX_BODY_BYTES). Without it a worker would
  // read for the whole request_timeout, gigabytes at loopback speed.
  assert.ok(r.workerPeakRssKb > 0 && r.workerPeakRssKb < 256 * 1024, `worker peak RSS ${r.workerPeakRssKb} KiB`);
});
