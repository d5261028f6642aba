/**
 * The summary's engine-side prompt counts (issue 21): the workers' stats files are summed, and
 * `prompt_tokens_evaluated` / `prompt_cache_share` are null when no engine told; and why a run was
 * slow (issue 37): retries and window cuts by reason, summed over the stats files.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { buildSummary, formatSummary } from '../../src/report/summary.ts';
import { readProgress } from '../../src/rundir/progress.ts';
import { newStats, StatsFile, windowCuts } from '../../src/worker/stats.ts';
import { FixedWindow, makeWindow } from '../../src/scheduler/window.ts';
import { tempDir } from '../helpers/tmp.ts';

test('prompt cache counts: summed over the stats files, evaluated = known − cached, share rounded', () => {
  const dir = tempDir('summary');
  for (const [id, known, cached] of [
    ['w1', 1000, 700],
    ['w2', 500, 100],
  ] as const) {
    const s = newStats(id, 0);
    Object.assign(s, { prompt_tokens: known, prompt_tokens_cache_known: known, prompt_tokens_cached: cached });
    new StatsFile(join(dir, 'stats'), id).write(s);
  }
  const p = readProgress(dir);
  assert.deepEqual([p.promptTokensCacheKnown, p.promptTokensCached], [1500, 800]);
  const s = buildSummary({
    runId: 'r',
    runDir: dir,
    wallMs: 1000,
    status: 'succeeded',
    exitCode: 0,
    output: null,
    driver: { prompt_tokens: 1500 },
    engineCache: { known: 1500, cached: 800 },
  });
  assert.equal(s.prompt_tokens_evaluated, 700);
  assert.equal(s.prompt_cache_share, 0.533);
  assert.match(formatSummary(s), /engine: 700 prompt tokens evaluated, 53% from its prefix cache/);
});

test('prompt cache counts: null when no answer said', () => {
  const s = buildSummary({
    runId: 'r',
    runDir: '/x',
    wallMs: 1000,
    status: 'succeeded',
    exitCode: 0,
    output: null,
    engineCache: { known: 0, cached: 0 },
  });
  assert.deepEqual([s.prompt_tokens_evaluated, s.prompt_cache_share], [null, null]);
  assert.doesNotMatch(formatSummary(s), /engine:/);
});

/** Writes one worker's stats file with these retries and cuts by reason. */
function writeReasons(dir: string, id: string, retries: Record<string, number>, cuts: Record<string, number>): void {
  const s = newStats(id, 0);
  Object.assign(s, { retries_by_reason: retries, window_cuts: cuts });
  new StatsFile(join(dir, 'stats'), id).write(s);
}

test('retries and window cuts by reason: summed over every stats file, printed largest first', () => {
  const dir = tempDir('summary');
  writeReasons(dir, 'w1', { timeout: 3, http_5xx: 4 }, { queue: 2 });
  writeReasons(dir, 'w2', { timeout: 2, rate_limit: 3 }, { overload: 1, share: 0 });
  // A stats file of an older worker, without the keys: counted as none.
  const old = newStats('w3', 0) as unknown as Record<string, unknown>;
  delete old.retries_by_reason;
  delete old.window_cuts;
  new StatsFile(join(dir, 'stats'), 'w3').write(old as unknown as ReturnType<typeof newStats>);
  const p = readProgress(dir);
  assert.deepEqual(p.retriesByReason, { timeout: 5, http_5xx: 4, rate_limit: 3 });
  assert.deepEqual(p.windowCuts, { queue: 2, overload: 1 });
  const s = buildSummary({
    runId: 'r',
    runDir: dir,
    wallMs: 1000,
    status: 'succeeded',
    exitCode: 0,
    output: null,
    reasons: { retries: p.retriesByReason, cuts: p.windowCuts },
  });
  assert.deepEqual(s.retries_by_reason, { timeout: 5, http_5xx: 4, rate_limit: 3 });
  assert.deepEqual(s.window_cuts_by_reason, { queue: 2, overload: 1 });
  assert.match(formatSummary(s), /\n {2}retries: 12 \(timeout 5, http_5xx 4, rate_limit 3\) · window cuts: 3 \(queue 2, overload 1\)\n/);
});

test('retries and window cuts by reason: {} and no line when there were none; one part when only one', () => {
  const none = buildSummary({ runId: 'r', runDir: '/x', wallMs: 1000, status: 'succeeded', exitCode: 0, output: null });
  assert.deepEqual([none.retries_by_reason, none.window_cuts_by_reason], [{}, {}]);
  assert.doesNotMatch(formatSummary(none), /retries|window cuts/);
  const cutsOnly = buildSummary({
    runId: 'r',
    runDir: '/x',
    wallMs: 1000,
    status: 'succeeded',
    exitCode: 0,
    output: null,
    reasons: { cuts: { kv: 2 } },
  });
  assert.match(formatSummary(cutsOnly), /\n {2}window cuts: 2 \(kv 2\)\n/);
  assert.doesNotMatch(formatSummary(cutsOnly), /retries/);
});

test("windowCuts: the adaptive window's snapshot cuts, a copy; {} for a fixed window", () => {
  assert.deepEqual(windowCuts(new FixedWindow(4)), {});
  const w = makeWindow({ concurrency: 'auto', concurrency_min: 1, concurrency_max: 64 });
  // Three 503s at once are a pattern (docs/scheduler.md, "Faults or congestion"): one cut.
  for (let i = 0; i < 3; i++) w.onStart?.();
  for (let i = 0; i < 3; i++) w.onComplete?.({ latencyMs: 10, ok: false, status: 503 });
  const cuts = windowCuts(w);
  assert.deepEqual(cuts, { overload: 1 });
  cuts.overload = 99;
  assert.deepEqual(windowCuts(w), { overload: 1 }, "a copy, not the window's own record");
});
