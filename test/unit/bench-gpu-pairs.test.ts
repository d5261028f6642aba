/**
 * bench/gpu/pairs.ts: pairs of arms from gpu-bench --repeats (or from several engine starts, joined
 * by collect.ts) become one row: arm means, sd, the ratio of the means and each pair's ratio.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { addScaleOut, combine, type Pair } from '../../bench/gpu/pairs.ts';

const arm = (tok: number, sm = 10): Record<string, unknown> => ({ tok_s: tok, rps: tok / 64, gpu_util: { mean: sm } });

test('combine: means of each arm, the ratio of the means, each pair in order with who went first', () => {
  const pairs: Pair[] = [
    { first: 'ceiling', ceiling: arm(1000), worker: arm(900) },
    { first: 'worker', ceiling: arm(1200), worker: arm(1260) },
    { ceiling: arm(1100, 20), worker: arm(1100, 20) },
  ];
  const r = combine(pairs) as {
    ceiling: Record<string, unknown>;
    worker: Record<string, unknown>;
    worker_vs_engine_ratio: number;
    ratio_each: number[];
    repeats: Array<{ first: string }>;
  };
  assert.equal(r.ceiling.tok_s, 1100);
  assert.equal(r.worker.tok_s, 1086.7);
  assert.equal(r.ceiling.tok_s_sd, 100);
  assert.equal(r.worker_vs_engine_ratio, 0.988);
  assert.deepEqual(r.ratio_each, [0.9, 1.05, 1]);
  // A pair without `first` takes gpu-bench's alternation from its index.
  assert.deepEqual(
    r.repeats.map((p) => p.first),
    ['ceiling', 'worker', 'ceiling'],
  );
  assert.deepEqual(r.ceiling.gpu_util, { mean: 13.3 });
});

test('combine: one pair is reported as measured', () => {
  const r = combine([{ ceiling: arm(1000), worker: arm(970) }]);
  assert.deepEqual(r, { ceiling: arm(1000), worker: arm(970), worker_vs_engine_ratio: 0.97 });
});

test('addScaleOut: each count against n × the one-GPU run, per arm; null where an arm or the base is missing', () => {
  const runs: Array<Record<string, unknown>> = [
    { gpus: 2, ceiling: arm(5800), worker: arm(6000) },
    { gpus: 1, ceiling: arm(3000), worker: arm(3200) },
    { gpus: 4, ceiling: arm(11_400) },
  ];
  addScaleOut(runs);
  assert.deepEqual(
    runs.map((r) => [r.gpus, r.scaleout_efficiency, r.scaleout_efficiency_ceiling]),
    [
      [2, 0.938, 0.967],
      [1, 1, 1],
      [4, null, 0.95],
    ],
  );
  const noBase: Array<Record<string, unknown>> = [{ gpus: 2, ceiling: arm(5800), worker: arm(6000) }];
  addScaleOut(noBase);
  assert.equal(noBase[0]?.scaleout_efficiency, null);
});
