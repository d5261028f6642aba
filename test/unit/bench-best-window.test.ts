/** bench/lib/best-window.ts: the best fixed window's rate, picked on other rounds than it is read on. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { heldOutBest } from '../../bench/lib/best-window.ts';

test('heldOutBest: alike windows with noise do not inflate the best (the highest mean would)', () => {
  // Three windows with the same mean (12) whose rounds differ: the highest mean is 12, but each
  // window picked on one round reads 10 on the other.
  const windows = [
    { window: 16, each: [10, 14] },
    { window: 64, each: [14, 10] },
    { window: 256, each: [12, 12] },
  ];
  assert.deepEqual(heldOutBest(windows), { rate: 10, picks: [16, 64] });
});

test('heldOutBest: a window that is really better is picked every round and read at its mean', () => {
  const windows = [
    { window: 4, each: [10, 11, 9] },
    { window: 16, each: [20, 22, 21] },
  ];
  assert.deepEqual(heldOutBest(windows), { rate: 21, picks: [16, 16, 16] });
});

test('heldOutBest: null with one round or no windows', () => {
  assert.equal(heldOutBest([{ window: 1, each: [5] }]), null);
  assert.equal(heldOutBest([]), null);
});
