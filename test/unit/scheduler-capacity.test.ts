/**
 * The capacity of an engine without a slot count, learned from its metrics
 * (src/scheduler/capacity.ts): the shared slow start, what "seen full" teaches, that it only rises,
 * and the run directory's memory of it for later tasks (src/rundir/engine-capacity.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LearnedCapacity, PROBE_FULL, PROBE_GROWTH, PROBE_START } from '../../src/scheduler/capacity.ts';
import { readEngineCapacity, TRUST_MS, writeEngineCapacity } from '../../src/rundir/engine-capacity.ts';
import { tempDir } from '../helpers/tmp.ts';

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
  assert.equal(c.observe({ running: Math.floor(PROBE_FULL * guess) - 1, waiting: 0 }), false);
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

test('a capacity remembered from an earlier task of the run starts learned, and still only rises', () => {
  const c = new LearnedCapacity(vllmQueue, { slots: 64, phase: 'learned' });
  assert.deepEqual(c.state(), { slots: 64, phase: 'learned' });
  assert.equal(c.bound(), 64 + vllmQueue(64));
  assert.equal(c.observe({ running: 12, waiting: 0 }), false, 'an idle engine teaches nothing');
  c.observe({ running: 70, waiting: 2 });
  assert.equal(c.observe({ running: 70, waiting: 2 }), true);
  assert.equal(c.state().slots, 70);
});

test('the run directory keeps a learned capacity (or a guess) per endpoint, trusted for TRUST_MS after its last write', () => {
  const dir = tempDir('capacity');
  const at = 1_000_000;
  assert.equal(readEngineCapacity(dir, 'http://a/v1', at), undefined, 'nothing learned yet');
  writeEngineCapacity(dir, 'http://a/v1', { slots: 64, phase: 'learned' }, at);
  assert.deepEqual(readEngineCapacity(dir, 'http://a/v1', at + 1000), { slots: 64, phase: 'learned' });
  writeEngineCapacity(dir, 'http://a/v1', { slots: 96, phase: 'probe' }, at);
  assert.deepEqual(readEngineCapacity(dir, 'http://a/v1', at + 1000), { slots: 96, phase: 'probe' }, 'a guess is kept as a guess');
  assert.equal(readEngineCapacity(dir, 'http://b/v1', at + 1000), undefined, 'another endpoint knows nothing');
  assert.equal(readEngineCapacity(dir, 'http://a/v1', at + TRUST_MS + 1), undefined, 'too old: learn anew');
  writeFileSync(join(dir, 'engines', readdirSync(join(dir, 'engines'))[0] as string), '{"slots": "many"}');
  assert.equal(readEngineCapacity(dir, 'http://a/v1', at + 1000), undefined, 'unreadable: learn anew');
});

test('a guess remembered from an earlier task goes on probing from where it was, never below the start', () => {
  const c = new LearnedCapacity(vllmQueue, { slots: 54, phase: 'probe' });
  assert.deepEqual(c.state(), { slots: 54, phase: 'probe' });
  assert.equal(c.bound(), 54, 'still a guess: no queue on top');
  assert.deepEqual(new LearnedCapacity(vllmQueue, { slots: 3, phase: 'probe' }).state(), { slots: PROBE_START, phase: 'probe' });
  c.observe({ running: 60, waiting: 4 });
  assert.equal(c.observe({ running: 60, waiting: 4 }), true, 'then seen full as from the start');
  assert.deepEqual(c.state(), { slots: 60, phase: 'learned' });
});
