/** The SIMULATED engine model itself, in virtual time. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { VirtualClock, seededRandom } from '../../src/sim/clock.ts';
import { SimEngine, type SimResult } from '../../src/sim/engine-sim.ts';
import { runClosedLoop } from '../../bench/sim/closed-loop.ts';
import { PROFILES } from '../../bench/sim/profiles.ts';
import { FixedWindow } from '../../src/scheduler/window.ts';

function engine(options: Partial<ConstructorParameters<typeof SimEngine>[0]> = {}) {
  const clock = new VirtualClock();
  const e = new SimEngine({ clock, baseStepMs: 10, perSeqStepMs: 0, prefillMsPerToken: 0, ...options });
  const results: Array<SimResult & { at: number; id: number }> = [];
  let next = 0;
  const submit = (promptTokens: number, outputTokens: number) => {
    const id = next++;
    return e.submit({ promptTokens, outputTokens }, (r) => results.push({ ...r, at: clock.now(), id }));
  };
  return { clock, e, results, submit };
}

test('VirtualClock runs events in time order, ties in scheduling order, and skips cancelled ones', () => {
  const c = new VirtualClock();
  const seen: string[] = [];
  c.at(20, () => seen.push('b@20'));
  c.at(10, () => {
    seen.push('a@10');
    c.after(5, () => seen.push('d@15'));
  });
  c.at(20, () => seen.push('c@20'));
  const x = c.at(12, () => seen.push('never'));
  x.cancel();
  c.runUntil(18);
  assert.deepEqual(seen, ['a@10', 'd@15']);
  assert.equal(c.now(), 18);
  c.runUntil(100);
  assert.deepEqual(seen, ['a@10', 'd@15', 'b@20', 'c@20']);
  assert.equal(c.pending, 0);
});

test('seededRandom is deterministic per seed and uniform-ish', () => {
  const a = seededRandom(7),
    b = seededRandom(7),
    c = seededRandom(8);
  const xs = Array.from({ length: 1000 }, () => a());
  assert.deepEqual(
    xs.slice(0, 5),
    Array.from({ length: 5 }, () => b()),
  );
  assert.notEqual(xs[0], c());
  const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
  assert.ok(mean > 0.45 && mean < 0.55 && Math.min(...xs) >= 0 && Math.max(...xs) < 1);
});

test('one step per output token; the step grows with the batch', () => {
  const { clock, results, submit } = engine({ baseStepMs: 10, perSeqStepMs: 2 });
  submit(5, 3);
  clock.runUntil(1000);
  assert.equal(results[0]?.latencyMs, 3 * 12);
  const two = engine({ baseStepMs: 10, perSeqStepMs: 2 });
  two.submit(5, 3);
  two.submit(5, 3);
  two.clock.runUntil(1000);
  assert.deepEqual(
    two.results.map((r) => r.latencyMs),
    [42, 42],
    'a batch of two: 14 ms steps',
  );
});

test('prefill is charged in the admitting step', () => {
  const { clock, results, submit } = engine({ baseStepMs: 10, prefillMsPerToken: 1 });
  submit(100, 2);
  clock.runUntil(1000);
  assert.equal(results[0]?.latencyMs, 10 + 100 + 10);
});

test('slots bound the batch; the rest waits in FIFO order', () => {
  const { clock, e, results, submit } = engine({ slots: 2 });
  for (let i = 0; i < 5; i++) submit(1, 2);
  clock.runUntil(1);
  assert.deepEqual(e.metrics(), { waiting: 3, running: 2, kvUsage: 0, preemptions: 0 });
  clock.runUntil(1000);
  assert.deepEqual(
    results.map((r) => r.id),
    [0, 1, 2, 3, 4],
  );
  assert.deepEqual(
    results.map((r) => r.queuedMs),
    [0, 0, 20, 20, 40],
  );
});

test('waiting counts what a step left waiting, not a request on its way in (as vLLM makes its stats after each step)', () => {
  const { clock, e, submit } = engine({ slots: 2 });
  submit(1, 5);
  clock.runUntil(1); // the first step admitted it and runs until 10
  submit(1, 5);
  submit(1, 5);
  submit(1, 5);
  assert.equal(e.metrics().waiting, 0, 'arrived mid-step: not yet seen by an admission');
  clock.runUntil(11); // the next step admitted one (2 slots) and left two waiting
  assert.deepEqual(e.metrics(), { waiting: 2, running: 2, kvUsage: 0, preemptions: 0 });
});

test('a full queue answers 503 at once; a request longer than the KV cache 400', () => {
  const { clock, e, results, submit } = engine({ slots: 1, maxWaiting: 1, kvCapacityTokens: 50 });
  submit(10, 10);
  submit(10, 10);
  submit(10, 10);
  submit(45, 10);
  clock.runUntil(0);
  assert.deepEqual(
    results.map((r) => [r.id, r.status]),
    [
      [2, 503],
      [3, 400],
    ],
  );
  clock.runUntil(1000);
  assert.deepEqual(
    results.map((r) => r.status),
    [503, 400, 200, 200],
  );
  assert.equal(e.stats().rejected, 2);
});

test('KV overflow preempts the youngest, which is recomputed and still finishes whole', () => {
  // Two sequences of 10 + 10 tokens need 40 at the end; the cache holds 30.
  const { clock, e, results, submit } = engine({ kvCapacityTokens: 30, admitWatermark: 0, prefillMsPerToken: 1 });
  submit(10, 10);
  clock.runUntil(5);
  submit(10, 10);
  clock.runUntil(10_000);
  const s = e.stats();
  assert.ok(s.preemptions >= 1, 'preempted');
  assert.ok(s.recomputedTokens >= 10, `recomputed ${s.recomputedTokens}`);
  assert.deepEqual(
    results.map((r) => [r.id, r.completionTokens]),
    [
      [0, 10],
      [1, 10],
    ],
  );
  assert.equal(results[0]?.preemptions, 0, 'the oldest is never the victim');
  assert.ok((results[1]?.preemptions ?? 0) >= 1);
  assert.equal(e.metrics().kvUsage, 0);
});

test('cancel frees the slot and never answers', () => {
  const { clock, e, results, submit } = engine({ slots: 1 });
  const a = submit(1, 100);
  submit(1, 2);
  clock.runUntil(50);
  a.cancel();
  a.cancel();
  clock.runUntil(1000);
  assert.deepEqual(
    results.map((r) => r.id),
    [1],
  );
  assert.equal(e.stats().cancelled, 1);
  assert.deepEqual(e.metrics(), { waiting: 0, running: 0, kvUsage: 0, preemptions: 0 });
});

test('options are validated with the bad value quoted', () => {
  const clock = new VirtualClock();
  assert.throws(() => new SimEngine({ clock, slots: 0 }), /Expected `slots` to be an integer from 1 and up, got `0` \(number\)/);
  assert.throws(() => new SimEngine({ clock, kvCapacityTokens: -5 }), /`kvCapacityTokens`.*got `-5`/);
  assert.throws(() => new SimEngine({ clock, baseStepMs: Number.NaN }), /`baseStepMs`.*got `NaN`/);
  assert.throws(() => new SimEngine({ clock, baseStepMs: 0, perSeqStepMs: 0 }), /above 0/);
  const e = new SimEngine({ clock });
  assert.throws(() => e.submit({ promptTokens: 0, outputTokens: 5 }, () => {}), /`promptTokens`.*got `0`/);
  assert.throws(() => runClosedLoop({ engine: {}, workers: [], durationMs: 1000, warmupMs: 1000 }), /`warmupMs`/);
});

test('runs are deterministic per seed', () => {
  const run = (seed: number) =>
    runClosedLoop({ ...PROFILES['kv-limited'], seed, durationMs: 60_000, workers: [{ window: () => new FixedWindow(64) }] });
  const a = run(3),
    b = run(3),
    c = run(4);
  assert.deepEqual(a.engine, b.engine);
  assert.notDeepEqual(a.engine, c.engine);
});

test('the KV-limited profile punishes over-subscription; the slot-limited one does not', () => {
  const at = (profile: keyof typeof PROFILES, n: number) =>
    runClosedLoop({
      ...PROFILES[profile],
      durationMs: 300_000,
      warmupMs: 60_000,
      workers: [{ window: () => new FixedWindow(n) }],
    });
  const kvBest = at('kv-limited', 48),
    kvMax = at('kv-limited', 256);
  assert.ok(
    kvMax.tokensPerS < 0.95 * kvBest.tokensPerS,
    `256: ${kvMax.tokensPerS.toFixed(0)} vs 48: ${kvBest.tokensPerS.toFixed(0)} tok/s`,
  );
  assert.ok(kvMax.preemptionRate > 0.5 && kvBest.preemptionRate < 0.1);
  const slotFull = at('slot-limited', 32),
    slotOver = at('slot-limited', 96);
  assert.ok(Math.abs(slotOver.tokensPerS / slotFull.tokensPerS - 1) < 0.02, 'flat past the slots');
  assert.ok(at('slot-limited', 16).tokensPerS < 0.7 * slotFull.tokensPerS, 'but lower below them');
});
