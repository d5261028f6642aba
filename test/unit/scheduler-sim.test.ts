/**
 * The adaptive window against the SIMULATED engine, in virtual time: several workers share one
 * engine, each a closed loop keeping `limit()` requests in flight. Deterministic (seeded).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runClosedLoop, type ClosedLoopOptions, type ClosedLoopResult } from '../../bench/sim/closed-loop.ts';
import { PROFILES } from '../../bench/sim/profiles.ts';
import { sweepWindows } from '../../bench/sim/sweep.ts';
import { AdaptiveWindow, type AdaptiveWindowOptions } from '../../src/scheduler/adaptive.ts';
import { FixedWindow } from '../../src/scheduler/window.ts';

const SLOT = PROFILES['slot-limited'];
const KV = PROFILES['kv-limited'];
const SLOTS = SLOT.engine.slots;

type Profile = typeof SLOT | typeof KV;

function auto(
  profile: Profile,
  workers: number,
  extra: Partial<ClosedLoopOptions> = {},
  options: AdaptiveWindowOptions = {},
): ClosedLoopResult {
  return runClosedLoop({
    ...profile,
    durationMs: 300_000,
    warmupMs: 60_000,
    workers: Array.from({ length: workers }, (_, i) => ({ window: (now) => new AdaptiveWindow({ now, ...options }), startAtMs: i * 5000 })),
    ...extra,
  });
}

/** Best total throughput over fixed windows (split evenly over the workers). */
function sweep(profile: Profile, workers: number, totals: number[], extra: Partial<ClosedLoopOptions> = {}) {
  const rows = totals.map((total) => {
    const r = runClosedLoop({
      ...profile,
      durationMs: 300_000,
      warmupMs: 60_000,
      workers: Array.from({ length: workers }, () => ({ window: () => new FixedWindow(Math.max(1, Math.round(total / workers))) })),
      ...extra,
    });
    return { total, tokensPerS: r.tokensPerS, preemptionRate: r.preemptionRate };
  });
  const best = rows.reduce((a, b) => (b.tokensPerS > a.tokensPerS ? b : a));
  return { rows, best, max: rows[rows.length - 1] as (typeof rows)[number] };
}

const stats = (xs: number[]) => {
  const m = xs.reduce((a, b) => a + b, 0) / xs.length;
  const sd = Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / xs.length);
  return { mean: m, cv: sd / m, min: Math.min(...xs), max: Math.max(...xs) };
};

test('convergence: 4 workers keep the slot-limited engine full with a small queue', () => {
  const r = auto(SLOT, 4);
  assert.ok(r.totalInFlight.min >= SLOTS, `total in flight fell to ${r.totalInFlight.min} (< ${SLOTS} slots)`);
  assert.ok(r.totalInFlight.max <= SLOTS * 1.5, `total in flight reached ${r.totalInFlight.max} (> slots + half)`);
  assert.ok(r.emptyQueueFraction <= 0.05, `engine queue empty in ${(r.emptyQueueFraction * 100).toFixed(0)}% of samples`);
  assert.ok(r.meanWaiting >= 1 && r.meanWaiting <= 0.3 * SLOTS, `mean queue ${r.meanWaiting}`);
  assert.equal(
    r.workers.reduce((a, w) => a + w.rejected, 0),
    0,
    'no 503s',
  );
});

test('convergence: on the KV-limited engine the total settles near the best fixed window, without preemption storms', () => {
  const fixed = sweep(KV, 4, [32, 48, 64, 256]);
  const r = auto(KV, 4);
  const t = r.totalInFlight.mean;
  assert.ok(t >= 0.75 * fixed.best.total && t <= 1.35 * fixed.best.total, `mean total ${t.toFixed(1)} vs best fixed ${fixed.best.total}`);
  assert.ok(fixed.max.preemptionRate > 0.5, `the sim should thrash at 256 (${fixed.max.preemptionRate})`);
  assert.ok(
    r.preemptionRate < fixed.max.preemptionRate / 2,
    `auto preempts ${r.preemptionRate.toFixed(2)}/request vs ${fixed.max.preemptionRate.toFixed(2)} at 256`,
  );
});

test('stability: after warm-up the limits oscillate in a narrow band', () => {
  const one = auto(SLOT, 1);
  const l = stats(one.workers[0]?.limits ?? []);
  assert.ok(l.max - l.min <= 0.25 * SLOTS, `single worker limit range ${l.min}..${l.max}`);
  const four = auto(SLOT, 4);
  assert.ok(
    four.totalInFlight.max - four.totalInFlight.min <= 0.25 * SLOTS,
    `total range ${four.totalInFlight.min}..${four.totalInFlight.max}`,
  );
  for (const w of four.workers) {
    const s = stats(w.limits);
    assert.ok(s.cv <= 0.35, `a worker's limit varies by ${(s.cv * 100).toFixed(0)}% (cv)`);
  }
  const kv = auto(KV, 1, { durationMs: 600_000, warmupMs: 120_000 });
  const k = stats(kv.workers[0]?.limits ?? []);
  assert.ok(k.cv <= 0.15, `KV-limited single worker cv ${k.cv.toFixed(2)}`);
});

test('backoff: a burst of 503s cuts once, and the window settles under the queue bound', () => {
  let win!: AdaptiveWindow;
  const seen: Record<number, ReturnType<AdaptiveWindow['snapshot']>> = {};
  const bound = 16 + 8;
  const r = runClosedLoop({
    engine: { slots: 16, maxWaiting: 8 },
    pollMs: false,
    durationMs: 60_000,
    warmupMs: 30_000,
    workers: [{ window: (now) => (win = new AdaptiveWindow({ now, initial: 200 })) }],
    events: [100, 3000].map((t) => ({
      atMs: t,
      run: () => {
        seen[t] = win.snapshot();
      },
    })),
  });
  assert.deepEqual(seen[100]?.cuts, { overload: 1 }, '176 rejections of one window: one cut');
  assert.equal(seen[100]?.limit, 140);
  assert.ok((seen[3000]?.limit ?? Infinity) <= bound, `limit ${seen[3000]?.limit} after 3 s`);
  const later = r.trace.filter((s) => s.t >= 3000).map((s) => s.limits[0] ?? 0);
  assert.ok(Math.max(...later) <= bound, `limit went back to ${Math.max(...later)}`);
  assert.ok(Math.min(...later) >= 12, `over-cut to ${Math.min(...later)}`);
});

test('backoff: latency-only, a 4× slower engine lowers the window, which then rebases instead of collapsing', () => {
  const r = runClosedLoop({
    ...SLOT,
    pollMs: false,
    durationMs: 400_000,
    warmupMs: 100_000,
    workers: [{ window: (now) => new AdaptiveWindow({ now }) }],
    events: [{ atMs: 200_000, run: (e) => e.setSpeed({ baseStepMs: 80, perSeqStepMs: 1 }) }],
  });
  const at = (from: number, to: number) => stats(r.trace.filter((s) => s.t >= from && s.t < to).map((s) => s.limits[0] ?? 0));
  const before = at(150_000, 200_000);
  const after = at(200_000, 260_000);
  const late = at(300_000, 400_000);
  assert.ok(after.min <= 0.75 * before.mean, `limit ${before.mean.toFixed(0)} only fell to ${after.min}`);
  assert.ok(late.min >= 0.9 * SLOTS, `collapsed to ${late.min} after the slowdown (slots ${SLOTS})`);
});

test('backoff: with metrics a slower engine is not an overloaded one, but timeouts still cut', () => {
  const slow = runClosedLoop({
    ...SLOT,
    durationMs: 400_000,
    warmupMs: 100_000,
    workers: [{ window: (now) => new AdaptiveWindow({ now }) }],
    events: [{ atMs: 200_000, run: (e) => e.setSpeed({ baseStepMs: 80, perSeqStepMs: 1 }) }],
  });
  const after = slow.trace.filter((s) => s.t >= 200_000).map((s) => s.limits[0] ?? 0);
  assert.ok(Math.min(...after) >= SLOTS && Math.max(...after) <= 1.5 * SLOTS, `limits ${Math.min(...after)}..${Math.max(...after)}`);

  let win!: AdaptiveWindow;
  const timeouts = runClosedLoop({
    ...SLOT,
    requestTimeoutMs: 30_000,
    durationMs: 300_000,
    warmupMs: 100_000,
    workers: [{ window: (now) => (win = new AdaptiveWindow({ now })) }],
    events: [{ atMs: 150_000, run: (e) => e.setSpeed({ baseStepMs: 400, perSeqStepMs: 5 }) }],
  });
  assert.ok((timeouts.workers[0]?.timeouts ?? 0) > 0);
  assert.ok((win.snapshot().cuts.timeout ?? 0) >= 1, JSON.stringify(win.snapshot().cuts));
  const lows = timeouts.trace.filter((s) => s.t >= 150_000).map((s) => s.limits[0] ?? 0);
  assert.ok(Math.min(...lows) <= 0.6 * SLOTS, `timeouts only cut to ${Math.min(...lows)}`);
});

test('fairness: 4 workers joining at different times with different starts end within ±30% of the mean', () => {
  for (const profile of [SLOT, KV]) {
    const r = runClosedLoop({
      ...profile,
      durationMs: 600_000,
      warmupMs: 300_000,
      workers: [64, 1, 8, 16].map((initial, i) => ({ window: (now) => new AdaptiveWindow({ now, initial }), startAtMs: i * 20_000 })),
    });
    const means = r.workers.map((w) => w.meanLimit);
    const m = means.reduce((a, b) => a + b, 0) / means.length;
    for (const x of means)
      assert.ok(Math.abs(x / m - 1) <= 0.3, `${profile.description}: shares ${means.map((v) => v.toFixed(1)).join(', ')}`);
  }
});

test('degradation: without metrics, latency control keeps ≥ 90% of the best fixed window', () => {
  const slotFixed = sweep(SLOT, 4, [8, 16, 32, 48, 64, 96]);
  const slotAuto = auto(SLOT, 4, { pollMs: false });
  assert.ok(
    slotAuto.tokensPerS >= 0.9 * slotFixed.best.tokensPerS,
    `slot-limited: ${slotAuto.tokensPerS.toFixed(0)} vs ${slotFixed.best.tokensPerS.toFixed(0)} tok/s`,
  );
  const kvFixed = sweep(KV, 1, [16, 32, 48, 64, 128, 256], { durationMs: 600_000, warmupMs: 120_000 });
  const kvAuto = auto(KV, 1, { pollMs: false, durationMs: 600_000, warmupMs: 120_000 });
  assert.ok(
    kvAuto.tokensPerS >= 0.9 * kvFixed.best.tokensPerS,
    `KV-limited: ${kvAuto.tokensPerS.toFixed(0)} vs ${kvFixed.best.tokensPerS.toFixed(0)} tok/s`,
  );
});

test('throughput: auto reaches ≥ 95% of the best fixed window on the KV-limited engine, and beats the largest', () => {
  for (const workers of [1, 4]) {
    const r = sweepWindows({ profile: KV, workers, totals: [1, 2, 4, 8, 16, 32, 48, 64, 128, 256], latencyOnly: false });
    const say = `${workers} worker(s): auto ${r.auto.tokensPerS.toFixed(0)} tok/s, best fixed ${r.best.total} ${r.best.tokensPerS.toFixed(0)}, fixed 256 ${r.max.tokensPerS.toFixed(0)}`;
    assert.ok(r.autoVsBestFixed >= 0.95, say);
    assert.ok(r.autoVsMaxFixed >= 1.0, say);
    assert.ok(r.best.total > 8 && r.best.total < 256, `the best fixed window is inside the range: ${say}`);
  }
});
