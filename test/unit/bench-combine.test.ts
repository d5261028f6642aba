/** Bench a's ceiling runs in two halves (before and after the end-to-end arm); these merge them. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { combineLoads, type LoadResult } from '../../bench/lib/loadgen.ts';
import { sumCpu } from '../../bench/lib/proc.ts';

const arm = (ok: number, tokens: number, wallS: number, p50: number): LoadResult => ({
  requests: ok + 1,
  ok,
  failed: 1,
  promptTokens: 10 * ok,
  completionTokens: tokens,
  wallS,
  tokS: tokens / wallS,
  rps: ok / wallS,
  latencyP50Ms: p50,
  latencyP95Ms: 2 * p50,
});

test('two arms merge into tokens over the summed wall time, not the mean of their rates', () => {
  const m = combineLoads([arm(10, 640, 10, 100), arm(30, 1920, 40, 300)]);
  assert.equal(m.completionTokens, 2560);
  assert.equal(m.wallS, 50);
  assert.equal(m.tokS, 2560 / 50); // 51.2; the mean of the two rates would be 56
  assert.equal(m.rps, 40 / 50);
  assert.deepEqual([m.requests, m.ok, m.failed, m.promptTokens], [42, 40, 2, 400]);
  assert.deepEqual([m.latencyP50Ms, m.latencyP95Ms], [300, 600]);
});

test('CPU seconds add up per class, a class missing from one arm counting 0 there', () => {
  assert.deepEqual(
    sumCpu([
      { engine: 300.25, harness: 2 },
      { engine: 310.5, jvm: 1.25 },
    ]),
    { engine: 610.75, harness: 2, jvm: 1.25 },
  );
});
