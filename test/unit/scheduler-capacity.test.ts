/**
 * The capacity of an engine without a slot count, learned from its metrics
 * (src/scheduler/capacity.ts): the shared slow start, what "seen full" teaches, and that it only rises.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LearnedCapacity, PROBE_FULL, PROBE_GROWTH, PROBE_START } from '../../src/scheduler/capacity.ts';

const vllmQueue = (slots: number): number => 1 + Math.ceil(slots / 8);

test('probe: the guess grows to half again what ran, only while the engine runs nearly all of it with nothing waiting', () => {
  const c = new LearnedCapacity(vllmQueue);
  assert.deepEqual(c.state(), { slots: PROBE_START, phase: 'probe' });
  assert.equal(c.bound(), PROBE_START, 'while probing the guess is the whole bound: no queue on top');
  // Input-bound: well below the guess runs, so nothing is learned.
  assert.equal(c.observe({ running: Math.floor(PROBE_FULL * PROBE_START) - 1, waiting: 0 }), false);
  assert.equal(c.state().slots, PROBE_START);
  // Nearly all of it runs (answers on their way back are not running): grow from what ran.
  const ran = Math.ceil(PROBE_FULL * PROBE_START);
  assert.equal(c.observe({ running: ran, waiting: 0 }), true);
  assert.equal(c.state().slots, Math.ceil(PROBE_GROWTH * ran));
  // Someone else's load already runs far beyond the guess: the guess follows what runs.
  assert.equal(c.observe({ running: 200, waiting: 0 }), true);
  assert.equal(c.state().slots, Math.ceil(PROBE_GROWTH * 200));
  // A sample without both counts teaches nothing.
  assert.equal(c.observe({ kvUsage: 0.5 }), false);
});

test('seen full: a queue that stays while the running count does not grow; then what runs is the capacity, the queue on top', () => {
  const c = new LearnedCapacity(vllmQueue);
  for (let i = 0; i < 3; i++) c.observe({ running: c.state().slots, waiting: 0 });
  const guess = c.state().slots;
  assert.ok(guess > 40, `guess ${guess}`);
  // A burst being admitted: a queue for a moment, then more running. Nothing is learned from it.
  assert.equal(c.observe({ running: 30, waiting: 20 }), false);
  assert.equal(c.observe({ running: 38, waiting: 5 }), false, 'running grew: the engine was still admitting');
  assert.equal(c.state().phase, 'probe');
  // The queue stays and the running count does not grow: the engine fits 40, lower than the guess.
  assert.equal(c.observe({ running: 40, waiting: 0 }), false);
  assert.equal(c.observe({ running: 40, waiting: 9 }), false, 'one sample with a queue is not yet full');
  assert.equal(c.observe({ running: 40, waiting: 9 }), true);
  assert.deepEqual(c.state(), { slots: 40, phase: 'learned' });
  assert.equal(c.bound(), 40 + vllmQueue(40));
  // Running exactly at the capacity with nothing waiting is the moment between two waves: no change.
  assert.equal(c.observe({ running: 40, waiting: 0 }), false);
  // It never falls (a KV-limited moment with fewer running).
  c.observe({ running: 30, waiting: 12 });
  assert.equal(c.observe({ running: 30, waiting: 12 }), false);
  assert.equal(c.state().slots, 40);
  // It rises to a higher running count seen while requests wait...
  c.observe({ running: 44, waiting: 3 });
  assert.equal(c.observe({ running: 44, waiting: 3 }), true);
  assert.equal(c.state().slots, 44);
  // ...and to what ran with nothing waiting: that fit.
  assert.equal(c.observe({ running: 47, waiting: 0 }), true);
  assert.equal(c.state().slots, 47);
});

test('an engine already full at the start is learned from the first two samples', () => {
  const c = new LearnedCapacity(vllmQueue);
  assert.equal(c.observe({ running: 8, waiting: 3 }), false);
  assert.equal(c.observe({ running: 8, waiting: 3 }), true);
  assert.deepEqual(c.state(), { slots: 8, phase: 'learned' });
  assert.equal(c.bound(), 8 + vllmQueue(8));
});
