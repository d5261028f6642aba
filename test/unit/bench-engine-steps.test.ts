/**
 * bench/gpu/engine-steps.ts reads llama-server's per-request timings from the bench's engine log:
 * the wall time of each release comes from the section header plus llama.cpp's own time prefix.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { engineQueue, readReleases, summarize } from '../../bench/gpu/engine-steps.ts';

const log = [
  '',
  '=== sparkinfer: 2026-11-29T06:17:42.000Z start 1 of llama-server: /x/llama-server --port 1',
  '0.00.196.478 I srv  llama_server: initializing ...',
  '0.02.400.043 I slot print_timing: id 54 | task 203 | prompt eval time =      66.40 ms /    41 tokens (    1.62 ms per token,   617.45 tokens per second)',
  '0.02.400.052 I slot print_timing: id 54 | task 203 |        eval time =    1116.05 ms /    16 tokens (   74.40 ms per token,    13.44 tokens per second)',
  '1.05.000.000 I slot print_timing: id 3 | task 9 |        eval time =    5000.00 ms /    50 tokens (  100.00 ms per token,    10.00 tokens per second)',
  '=== sparkinfer: 2026-11-29T06:30:00.000Z start 1 of llama-server: /x/llama-server --port 2',
  '0.01.500.000 I slot print_timing: id 1 | task 1 |        eval time =     900.00 ms /    10 tokens (   90.00 ms per token,    11.11 tokens per second)',
].join('\n');

test('readReleases: one release per "eval time" line (not the prompt line), timed from its section header', () => {
  const rel = readReleases(log);
  assert.deepEqual(
    rel.map((r) => [new Date(r.at).toISOString(), r.tokens, r.stepMs]),
    [
      ['2026-11-29T06:17:44.400Z', 16, 74.4],
      ['2026-11-29T06:18:47.000Z', 50, 100],
      ['2026-11-29T06:30:01.500Z', 10, 90],
    ],
  );
});

test('summarize: the releases inside [from, to), their mean step and engine-side rates', () => {
  const rel = readReleases(log);
  const s = summarize(rel, Date.parse('2026-11-29T06:17:40Z'), Date.parse('2026-11-29T06:18:50Z'));
  assert.deepEqual(s, { released: 2, step_ms: 87.2, tok_s: 0.9, rps: 0 }); // 66 tokens, 2 requests in 70 s
  assert.deepEqual(summarize(rel, 0, 1000), { released: 0, step_ms: null, tok_s: 0, rps: 0 });
});

test("engineQueue: the first engine's mean running and waiting inside the measured seconds, from either arm's trace", () => {
  const ceiling = [
    [7, [[256, 100]]],
    [
      8,
      [
        [256, 200],
        [1, 1],
      ],
    ],
    [9, [[250, 300]]],
    [28, [[0, 0]]],
  ];
  assert.deepEqual(engineQueue(ceiling, 8, 28), { engine_running: 253, engine_waiting: 250 });
  const worker = [
    [
      8,
      [
        [259, 400],
        [259, 300],
      ],
      [[256, 444]],
    ],
    [9.5, [[259, 380]], [[255, 401]]],
    [9.9, [[1, 1]], []],
  ];
  assert.deepEqual(engineQueue(worker, 8, 28), { engine_running: 255.5, engine_waiting: 422.5 });
  assert.deepEqual(engineQueue([[30, [[1, 2]]]], 8, 28), { engine_running: null, engine_waiting: null });
  assert.deepEqual(engineQueue(undefined, 0, 1), { engine_running: null, engine_waiting: null });
});
