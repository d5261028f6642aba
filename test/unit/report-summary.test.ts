/**
 * The summary's engine-side prompt counts (issue 21): the workers' stats files are summed, and
 * `prompt_tokens_evaluated` / `prompt_cache_share` are null when no engine told.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildSummary, formatSummary } from '../../src/report/summary.ts';
import { readProgress } from '../../src/spark/progress.ts';
import { newStats, StatsFile } from '../../src/worker/stats.ts';

test('prompt cache counts: summed over the stats files, evaluated = known − cached, share rounded', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sparkinfer-summary-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
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
