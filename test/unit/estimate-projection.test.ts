/** `sparkinfer estimate`'s projection math (src/job/projection.ts), on measurements worked out by hand. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { costOf, meanInterval, percentile, project, type EstimateMeasurements, type SampleRow } from '../../src/job/projection.ts';
import { formatProjection, formatSeconds } from '../../src/cli/console.ts';

const row = (completion: number | null, finish = 'stop', error: string | null = null, prompt = 10): SampleRow => ({
  prompt_tokens: error === null ? prompt : null,
  completion_tokens: completion,
  finish_reason: error === null ? finish : null,
  error_code: error,
});

function measured(over: Partial<EstimateMeasurements> = {}): EstimateMeasurements {
  return {
    rows: 100,
    rows_counted: 100,
    prompt_tokens: 1000,
    count_errors_by_code: {},
    rows_from_ledger: 0,
    ledger_prompt_tokens: 0,
    ledger_completion_tokens: 0,
    sample: [row(10), row(20), row(30), row(40, 'length')],
    sample_s: 8,
    count_s: 2,
    count_started_at: 20_000,
    sample_ended_at: 40_000,
    ...over,
  };
}
const JOB = { task: 'generate' as const, sampling: { max_tokens: 40 }, estimate: undefined };
const TIMES = { startedAt: 0, finishedAt: 43_000 };

test('percentile is nearest-rank; none for no values', () => {
  assert.equal(percentile([1, 2, 3, 4], 50), 2);
  assert.equal(percentile([1, 2, 3, 4], 95), 4);
  assert.equal(percentile([7], 95), 7);
  assert.equal(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 90), 9);
  assert.equal(percentile([], 50), null);
});

test('meanInterval: the mean ± two standard errors; one value has no interval', () => {
  const m = meanInterval([10, 20, 30, 40]);
  // sd (n-1) = sqrt(500/3) = 12.91; 2·sd/√4 = 12.91
  assert.equal(m?.mean, 25);
  assert.ok(Math.abs((m?.half ?? 0) - 12.9099) < 1e-3, String(m?.half));
  assert.equal(meanInterval([5])?.half, Number.POSITIVE_INFINITY);
  assert.equal(meanInterval([]), null);
});

test('project: exact prompts, the sample exactly plus the rows left × the mean, wall = start-up + rows left ÷ rate + wrap-up', () => {
  const p = project(measured(), JOB, TIMES);
  assert.equal(p.rows_done, 4);
  assert.equal(p.rows_left, 96);
  assert.equal(p.prompt_tokens, 1000);
  assert.equal(p.prompt_tokens_left, 1000 - 40);
  // 100 sampled tokens + 96 × 25 = 2500; the interval 25 ± 12.91 → 12.09..37.91 per row.
  assert.equal(p.completion_tokens.mid, 2500);
  assert.equal(p.completion_tokens.low, Math.round(100 + 96 * (25 - 12.909944)));
  assert.equal(p.completion_tokens.high, Math.round(100 + 96 * (25 + 12.909944)));
  assert.deepEqual(
    { mean: p.completion.mean, p50: p.completion.p50, p95: p.completion.p95, hit: p.completion.hit_max_tokens },
    { mean: 25, p50: 20, p95: 40, hit: 1 },
  );
  // 4 rows in 8 s = 0.5 rows/s → 96 rows in 192 s; start-up 20 s (to the count pass), wrap-up 3 s.
  assert.equal(p.throughput.rows_per_s, 0.5);
  assert.equal(p.throughput.output_tokens_per_s, 12.5);
  assert.equal(p.startup_s, 20);
  assert.equal(p.tail_s, 3);
  assert.equal(p.infer_s.mid, 192);
  assert.equal(p.wall_s.mid, 215);
  // The inference range follows the completion range.
  assert.ok(Math.abs(p.infer_s.low - (192 * (25 - 12.909944)) / 25) < 0.1);
  assert.ok(p.wall_s.low < p.wall_s.mid && p.wall_s.mid < p.wall_s.high);
  assert.equal(p.cost, null);
});

test("project with the sample's tasks: what the pass paid once is not multiplied by the rows left; the next run's resume and read-back are added", () => {
  // Two tasks of 2 rows on 2 slots: 4.4 + 3.6 = 8 slot-seconds, 2 slot-seconds a row; the pass took
  // 8 s, so 8 − 8/2 = 4 s of it was paid once (its start, a slot idle at its end).
  const split = {
    tasks: [
      { rows: 2, s: 4.4 },
      { rows: 2, s: 3.6 },
    ],
    slots: 2,
    run_slots: 2,
    resume_s: 5,
    readback_s: 1,
    wrapup_started_at: 42_000,
  };
  const p = project(measured(split), JOB, TIMES);
  // 96 rows × 2 slot-seconds ÷ 2 slots = 96 s, + 4 s once = 100 s (rows left ÷ 0.5 rows/s said 192 s).
  assert.equal(p.infer_s.mid, 100);
  // start-up 20 s + the rehearsed resume 5 s; wrap-up: the read-back 1 s + 1 s from the rehearsal's end.
  assert.equal(p.startup_s, 25);
  assert.equal(p.tail_s, 2);
  assert.equal(p.wall_s.mid, 127);
  // Tasks at 2.2 and 1.8 s a row: 2 ± 0.4 (±20 %), inside the completion range (×0.484..×1.516), which decides.
  assert.ok(Math.abs(p.infer_s.low - (4 + (96 * (25 - 12.909944)) / 25)) < 0.1, String(p.infer_s.low));
  assert.ok(Math.abs(p.infer_s.high - (4 + (96 * (25 + 12.909944)) / 25)) < 0.1, String(p.infer_s.high));
  // More slots in the next run (more rows, more partitions): the per-row part shares them.
  assert.equal(project(measured({ ...split, run_slots: 4 }), JOB, TIMES).infer_s.mid, 4 + 48);
  // Tasks that disagree (3 and 1 s a row: 2 ± 2) widen the range beyond the completion range.
  const tasks = [
    { rows: 2, s: 6 },
    { rows: 2, s: 2 },
  ];
  const wide = project(measured({ ...split, tasks }), JOB, TIMES);
  assert.equal(wide.infer_s.low, 4);
  assert.equal(wide.infer_s.high, 4 + 96 * 2);
  // Nothing left: no inference time, not even the once-part.
  assert.equal(project(measured({ ...split, rows: 4 }), JOB, TIMES).infer_s.mid, 0);
});

test('project: the range never passes max_tokens or 0, failed rows are left out of the mean, ledger rows count exactly', () => {
  const p = project(
    measured({
      rows_from_ledger: 10,
      ledger_prompt_tokens: 100,
      ledger_completion_tokens: 333,
      sample: [row(40, 'length'), row(40, 'length'), row(38), row(null, 'stop', 'E_TIMEOUT')],
    }),
    JOB,
    TIMES,
  );
  assert.equal(p.rows_done, 14);
  assert.equal(p.rows_left, 86);
  assert.equal(p.completion.failed, 1);
  assert.equal(p.completion.sampled, 4);
  assert.ok(p.completion_tokens.high <= 333 + 118 + 86 * 40, 'never above max_tokens per row');
  assert.equal(p.prompt_tokens_left, 1000 - 100 - 30);
  // A single ok row has no interval: 0..max_tokens.
  const one = project(measured({ sample: [row(12)] }), JOB, TIMES);
  assert.equal(one.completion_tokens.low, 12);
  assert.equal(one.completion_tokens.high, 12 + 99 * 40);
});

test('project: nothing left to infer means no inference time; embed jobs have no completion tokens', () => {
  const done = project(measured({ rows: 4 }), JOB, TIMES);
  assert.equal(done.rows_left, 0);
  assert.equal(done.infer_s.mid, 0);
  assert.equal(done.completion_tokens.low, 100);
  assert.equal(done.completion_tokens.high, 100);
  const embed = project(measured({ sample: [row(0), row(0)] }), { ...JOB, task: 'embed' }, TIMES);
  assert.deepEqual(embed.completion_tokens, { low: 0, mid: 0, high: 0 });
  assert.equal(embed.infer_s.low, embed.infer_s.high, 'no completion range to scale by');
});

test('costOf: price_per_hour × wall time plus the token prices × the tokens left; none without prices', () => {
  assert.equal(costOf(undefined, { low: 1, mid: 2, high: 3 }, 1, { low: 1, mid: 1, high: 1 }), null);
  const c = costOf(
    { price_per_hour: 3.6, price_per_million_prompt_tokens: 1, price_per_million_completion_tokens: 2 },
    { low: 1000, mid: 2000, high: 3000 },
    1_000_000,
    { low: 500_000, mid: 1_000_000, high: 2_000_000 },
  );
  // 3.6/h × 2000 s = 2; 1 × 1M prompt = 1; 2 × 1M completion = 2 → 5.
  assert.equal(c?.mid, 5);
  assert.equal(c?.low, 1 + 1 + 1);
  assert.equal(c?.high, 3 + 1 + 4);
  assert.match(c?.basis ?? '', /price_per_hour 3\.6 × the wall time \+ price_per_million_prompt_tokens 1/);
  const tokensOnly = costOf({ price_per_million_completion_tokens: 10 }, { low: 1, mid: 1, high: 1 }, 5, {
    low: 0,
    mid: 100_000,
    high: 200_000,
  });
  assert.deepEqual({ low: tokensOnly?.low, mid: tokensOnly?.mid, high: tokensOnly?.high }, { low: 0, mid: 1, high: 2 });
});

test('project: the cost of the next run uses its wall time and the tokens of the rows left', () => {
  const p = project(measured(), { ...JOB, estimate: { price_per_hour: 36, price_per_million_prompt_tokens: 1000 } }, TIMES);
  // 36/h × 215 s = 2.15; 1000/M × 960 prompt tokens left = 0.96.
  assert.equal(p.cost?.mid, 3.11);
});

test('the human projection names every number and how it was made; embed jobs show no completion line', () => {
  const p = project(
    measured({ count_errors_by_code: { E_TEMPLATE: 2 }, rows_counted: 98 }),
    { ...JOB, estimate: { price_per_hour: 36 } },
    TIMES,
  );
  const text = formatProjection(p, '/runs/x/estimate.json');
  assert.match(
    text,
    /^sparkinfer estimate: 100 rows; 4 have a result now \(4 sampled, kept in the ledger\), 96 left for `sparkinfer run`$/m,
  );
  assert.match(text, /^ {2}prompt tokens {6}1000 \(every row, counted by the engine's tokenizer\)$/m);
  assert.match(text, /2 rows could not be counted: E_TEMPLATE ×2/);
  assert.match(text, /^ {2}completion tokens {2}2500 \(1261–3739\): 4 sampled rows, mean 25, p50 20, p95 40, 1 hit max_tokens \(40\)$/m);
  assert.match(text, /^ {2}wall time {10}3 min 35 s \(.*\) for the next run: start-up 20 s \+ inference 3 min 12 s \+ wrap-up 3 s$/m);
  assert.match(text, /^ {2}cost {15}2\.15 \(.*\) for the next run: price_per_hour 36 × the wall time$/m);
  const embed = formatProjection(project(measured({ sample: [row(0)] }), { ...JOB, task: 'embed' }, TIMES), 'e.json');
  assert.doesNotMatch(embed, /completion tokens/);
  assert.equal(formatSeconds(59.6), '1 min 00 s');
  assert.equal(formatSeconds(7260), '2 h 01 min');
});
