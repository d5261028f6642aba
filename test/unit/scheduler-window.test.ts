import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AdaptiveWindow, type AdaptiveWindowOptions } from '../../src/scheduler/adaptive.ts';
import { FixedWindow, makeWindow } from '../../src/scheduler/window.ts';
import { BadArgumentError } from '../../src/errors.ts';

/** A window on a hand-driven clock, with `fill()` to put `limit()` requests in flight. */
function harness(options: AdaptiveWindowOptions = {}) {
  let t = 0;
  const w = new AdaptiveWindow({ now: () => t, ...options });
  let inFlight = 0;
  return {
    w,
    advance(ms: number) {
      t += ms;
    },
    get now() {
      return t;
    },
    fill() {
      while (inFlight < w.limit()) {
        w.onStart();
        inFlight++;
      }
    },
    finish(
      n: number,
      sample: {
        latencyMs: number;
        ok?: boolean;
        kind?: 'ok' | 'overload' | 'ratelimit' | 'timeout' | 'error';
        status?: number;
        outputTokens?: number;
      },
    ) {
      for (let i = 0; i < n; i++) {
        inFlight--;
        w.onComplete({ ok: true, ...sample });
      }
    },
    get inFlight() {
      return inFlight;
    },
  };
}

test('options are validated with the bad value quoted', () => {
  assert.throws(() => new AdaptiveWindow({ min: 0 }), {
    name: 'BadArgumentError',
    message: 'Expected `min` to be an integer from 1 and up, got `0` (number)',
  });
  assert.throws(() => new AdaptiveWindow({ min: 4, max: 2 }), /Expected `max` to be an integer from 4 and up, got `2` \(number\)/);
  assert.throws(() => new AdaptiveWindow({ min: 2, max: 8, initial: 9 }), /Expected `initial` to be an integer from 2 to 8, got `9`/);
  assert.throws(() => new AdaptiveWindow({ kvHigh: 1.5 }), /`kvHigh`.*got `1.5`/);
  assert.throws(() => new AdaptiveWindow({ latencyTolerance: 1 }), /`latencyTolerance` to be a number above 1, got `1`/);
  assert.throws(() => new AdaptiveWindow({ metricsStaleMs: Number.NaN }), /`metricsStaleMs`.*got `NaN`/);
  assert.throws(() => new AdaptiveWindow({ now: 5 as unknown as () => number }), /`now` to be a function, got `5` \(number\)/);
  assert.throws(() => new FixedWindow(0), BadArgumentError);
  assert.throws(() => new FixedWindow(2.5), /`concurrency`.*got `2.5`/);
  assert.throws(
    () => makeWindow({ concurrency: 'many' as unknown as number }),
    /`concurrency` to be "auto" or a number.*got `many` \(string\)/,
  );
});

test('makeWindow: a number is fixed, auto is adaptive within min and max', () => {
  const fixed = makeWindow({ concurrency: 7 });
  assert.equal(fixed.limit(), 7);
  assert.equal(fixed.onEngineLoad, undefined, 'a fixed window needs no metrics polling');
  const auto = makeWindow({ concurrency: 'auto', concurrency_min: 3, concurrency_max: 6 }, { now: () => 0 });
  assert.equal(auto.limit(), 4);
  assert.equal(typeof auto.onEngineLoad, 'function');
  // Slow start would double to 8; max caps it.
  for (let i = 0; i < 8; i++) auto.onStart?.();
  auto.onEngineLoad?.({ waiting: 0, running: 4 });
  assert.equal(auto.limit(), 6);
  assert.equal(makeWindow({ concurrency: 'auto', concurrency_min: 10, concurrency_max: 512 }).limit(), 10);
});

test('metrics: slow start doubles while the engine has room, then grows by one per poll', () => {
  const h = harness({ initial: 4 });
  const limits: number[] = [];
  for (let i = 0; i < 4; i++) {
    h.fill();
    h.w.onEngineLoad({ waiting: 0, running: h.inFlight, kvUsage: 0.1 });
    limits.push(h.w.limit());
  }
  assert.deepEqual(limits, [8, 16, 32, 64]);
  h.fill();
  h.w.onEngineLoad({ waiting: 20, running: 64, kvUsage: 0.2 }); // target 1 + 8 = 9: cut by the excess's share
  const exact = 64 * (1 - (20 - 9) / (64 + 20));
  const cut = h.w.limit();
  assert.equal(cut, Math.floor(exact));
  assert.equal(h.w.snapshot().phase, 'steady');
  // Drain to the new limit, then an idle engine earns half a request per poll, not doubling.
  h.finish(h.inFlight - cut, { latencyMs: 100 });
  for (let i = 0; i < 4; i++) {
    h.fill();
    h.w.onEngineLoad({ waiting: 0, running: cut, kvUsage: 0.2 });
  }
  assert.equal(h.w.limit(), Math.floor(exact + 2));
});

test('metrics: the queue cut is proportional to the excess and never gentler than 5%', () => {
  const h = harness({ initial: 100, max: 512 });
  h.fill();
  h.w.onEngineLoad({ waiting: 30, running: 80, kvUsage: 0.2 }); // target 11, excess 19 of 110 requests
  assert.equal(h.w.limit(), Math.floor(100 * (1 - 19 / 110)));
  const h2 = harness({ initial: 100 });
  h2.fill();
  h2.w.onEngineLoad({ waiting: 12, running: 80, kvUsage: 0.2 }); // excess 1 of 92: still a 5% cut
  assert.equal(h2.w.limit(), 95);
  const h3 = harness({ initial: 100 });
  h3.fill();
  h3.w.onEngineLoad({ waiting: 10, running: 80, kvUsage: 0.2 }); // within target: grows (slow start)
  assert.equal(h3.w.limit(), 200);
});

test('metrics: an engine with no KV signal (slot-limited) gets a batch-long queue target', () => {
  // No kvUsage, no preemption counter (llama-server): target 1 + 1 × running.
  const h = harness({ initial: 100, max: 512 });
  h.fill();
  h.w.onEngineLoad({ waiting: 80, running: 80 }); // target 81: within it, grows
  assert.equal(h.w.limit(), 200);
  h.fill();
  h.w.onEngineLoad({ waiting: 120, running: 80 }); // excess 39 of 200 requests
  assert.equal(h.w.limit(), Math.floor(200 * (1 - 39 / 200)));
  assert.equal(h.w.snapshot().cuts.queue, 1);
  // The same queue on an engine that reports KV usage is far over its target (1 + 10).
  const k = harness({ initial: 100, max: 512 });
  k.fill();
  k.w.onEngineLoad({ waiting: 80, running: 80, kvUsage: 0.2 });
  assert.equal(k.w.limit(), Math.floor(100 * (1 - 69 / 160)), 'excess 69 of 160 requests');
  const t = harness({ initial: 100, max: 512, slotQueueTarget: 0.125 });
  t.fill();
  t.w.onEngineLoad({ waiting: 80, running: 80 });
  assert.equal(t.w.limit(), Math.floor(100 * (1 - 69 / 160)), 'slotQueueTarget is an option');
});

test('metrics: a second cut waits until the first one has drained', () => {
  const h = harness({ initial: 100 });
  h.fill();
  h.w.onEngineLoad({ waiting: 50, running: 80, kvUsage: 0.2 });
  const first = h.w.limit();
  h.w.onEngineLoad({ waiting: 50, running: 80, kvUsage: 0.2 }); // the same excess, still in flight: no new cut
  assert.equal(h.w.limit(), first);
  h.finish(h.inFlight - first, { latencyMs: 100 });
  h.w.onEngineLoad({ waiting: 50, running: 80, kvUsage: 0.2 });
  assert.ok(h.w.limit() < first);
  assert.equal(h.w.snapshot().cuts.queue, 2);
});

test('metrics: preemptions (a counter) and a nearly full KV cache cut the window', () => {
  const h = harness({ initial: 50 });
  h.fill();
  h.w.onEngineLoad({ waiting: 0, running: 50, kvUsage: 0.3, preempted: 100 }); // first reading: a baseline, not news
  assert.equal(h.w.limit(), 100); // grew (slow start)
  h.fill();
  h.w.onEngineLoad({ waiting: 0, running: 100, kvUsage: 0.99, preempted: 104 });
  assert.equal(h.w.limit(), 50, 'preemption in slow start halves');
  h.finish(h.inFlight - 50, { latencyMs: 10 });
  h.w.onEngineLoad({ waiting: 0, running: 50, kvUsage: 0.97, preempted: 104 });
  assert.equal(h.w.limit(), 47, 'KV above kvHigh: a 5% cut');
  h.finish(h.inFlight - 47, { latencyMs: 10 });
  h.w.onEngineLoad({ waiting: 0, running: 47, kvUsage: 0.5, preempted: 3 }); // counter went down: engine restarted
  assert.equal(h.w.limit(), 48, '47.5 + 0.5');
  h.w.onEngineLoad({ waiting: 0, running: 47, kvUsage: 0.5, preempted: 5 });
  assert.equal(h.w.limit(), 43, 'steady-state preemption: a 10% cut (48 × 0.9)');
  assert.deepEqual(h.w.snapshot().cuts, { preemption: 2, kv: 1 });
});

test("capacity: in slow start the window jumps to the engine's free slots, and says so", () => {
  const h = harness({ initial: 4, max: 300 });
  let grown = 0;
  h.w.onGrow(() => {
    grown++;
  });
  h.w.onEngineCapacity(256, 6); // 250 slots free: nothing to discover below them
  assert.equal(h.w.limit(), 250);
  assert.equal(grown, 1);
  assert.equal(h.w.snapshot().phase, 'slow-start');
  // It is a starting point, not a limit: the engine's queue still decides from here.
  h.fill();
  h.w.onEngineLoad({ waiting: 0, running: 250 });
  assert.equal(h.w.limit(), 300); // doubling, capped by max
  h.w.onEngineCapacity(512, 0); // only once: later reports change nothing
  assert.equal(h.w.limit(), 300);
});

test('capacity: a slot engine polled between two waves (slots just freed, the next wave waiting) is not cut', () => {
  // Settle a window at 33 on a 16-slot engine: 16 running and a batch-long queue of 17.
  const settle = (known: boolean) => {
    const h = harness({ initial: 4 });
    if (known) h.w.onEngineCapacity(16, 0);
    for (let i = 0; i < 8 && h.w.limit() < 33; i++) {
      h.fill();
      h.w.onEngineLoad({ waiting: 0, running: 16 });
    }
    // Force the window to 33: a queue cut from a big window, then drain to it.
    h.fill();
    h.w.onEngineLoad({ waiting: h.inFlight - 16, running: 16 });
    h.finish(h.inFlight - h.w.limit(), { latencyMs: 5000 });
    return h;
  };
  const known = settle(true);
  const limit = known.w.limit();
  known.fill();
  // Between waves: nothing running, everything in the engine listed as waiting.
  known.w.onEngineLoad({ waiting: known.inFlight, running: 0 });
  assert.ok(known.w.limit() >= limit, `kept ${limit} (got ${known.w.limit()})`);
  // A real excess is still cut: 16 running and 3 batches waiting.
  known.fill();
  known.w.onEngineLoad({ waiting: 48, running: 16 });
  assert.ok(known.w.limit() < limit, 'cut on a queue of 48 against 17');
  // Without the slot count the same between-waves poll reads as a queue of all of it, and cuts.
  const unknown = settle(false);
  const before = unknown.w.limit();
  unknown.fill();
  unknown.w.onEngineLoad({ waiting: unknown.inFlight, running: 0 });
  assert.ok(unknown.w.limit() < before);
});

test('capacity: workers that jumped together grow by the room the queue leaves, not by doubling', () => {
  // Two workers share a 256-slot engine (no KV signal) and both jump to the free slots.
  const slots = 256;
  const hs = [harness({ initial: 4, max: 1024 }), harness({ initial: 4, max: 1024 })];
  for (const h of hs) h.w.onEngineCapacity(slots, 0);
  let peak = 0;
  for (let poll = 0; poll < 6; poll++) {
    for (const h of hs) h.fill();
    const total = hs.reduce((a, h) => a + h.inFlight, 0);
    peak = Math.max(peak, total);
    const load = { running: Math.min(total, slots), waiting: Math.max(0, total - slots) };
    for (const h of hs) h.w.onEngineLoad(load);
  }
  // The target is the slots plus a batch-long queue (513). Doubling put 1,024 in flight.
  assert.ok(peak <= 2 * slots + 1 + 4, `peak in flight ${peak}`);
  const total = hs.reduce((a, h) => a + h.w.limit(), 0);
  // Near the target the usual queue cut (5 %) takes over: the engine keeps a queue.
  assert.ok(total >= 0.9 * (2 * slots + 1), `the queue is kept: windows sum to ${total}`);
  // A worker alone still reaches the target in one poll.
  const alone = harness({ initial: 4, max: 1024 });
  alone.w.onEngineCapacity(slots, 0);
  alone.fill();
  alone.w.onEngineLoad({ running: slots, waiting: 0 });
  assert.equal(alone.w.limit(), 2 * slots);
});

test('capacity: ignored when the slots are taken, out of slow start, or nonsense', () => {
  const full = harness({ initial: 4 });
  full.w.onEngineCapacity(256, 256); // other workers already fill the engine: slow start as usual
  assert.equal(full.w.limit(), 4);
  const capped = harness({ initial: 4, max: 64 });
  capped.w.onEngineCapacity(256, 0);
  assert.equal(capped.w.limit(), 64);
  const steady = harness({ initial: 4 });
  steady.fill();
  steady.w.onEngineLoad({ waiting: 40, running: 4 }); // a queue cut ends slow start
  const after = steady.w.limit();
  steady.w.onEngineCapacity(256, 0);
  assert.equal(steady.w.limit(), after);
  const bad = harness({ initial: 4 });
  for (const [slots, busy] of [
    [Number.NaN, 0],
    [-3, 0],
    [0, 0],
    [8, Number.NaN],
  ] as const)
    bad.w.onEngineCapacity(slots, busy);
  assert.equal(bad.w.limit(), 4);
  // A fixed window has no such hook: `concurrency: N` means N.
  assert.equal((new FixedWindow(3) as { onEngineCapacity?: unknown }).onEngineCapacity, undefined);
});

test('a window that is not filled does not grow', () => {
  const h = harness({ initial: 8 });
  for (let i = 0; i < 3; i++) h.w.onStart(); // an input-bound worker: 3 of 8
  h.w.onEngineLoad({ waiting: 0, running: 3 });
  assert.equal(h.w.limit(), 8);
});

test('429/503 cut by 0.7 and timeouts by 0.5 when they form a pattern, once per window of bad news', () => {
  const h = harness({ initial: 100 });
  h.fill();
  h.advance(1000);
  h.finish(10, { ok: false, status: 503, latencyMs: 5 });
  assert.equal(h.w.limit(), 70, 'a burst from one window costs one cut');
  h.fill();
  h.advance(1000);
  h.finish(1, { ok: false, kind: 'overload', latencyMs: 5 }); // sent after the cut: news
  assert.equal(h.w.limit(), 49);
  h.advance(1000);
  h.finish(1, { ok: false, kind: 'timeout', latencyMs: 500 });
  assert.equal(h.w.limit(), 24);
  h.advance(1000);
  h.finish(1, { ok: false, status: 504, latencyMs: 5000 }); // sent before that cut: old news
  assert.equal(h.w.limit(), 24);
  h.finish(5, { ok: false, status: 500, kind: 'error', latencyMs: 5 }); // not about load
  assert.equal(h.w.limit(), 24);
  assert.deepEqual(h.w.snapshot().cuts, { overload: 2, timeout: 1 });
  for (let i = 0; i < 20; i++) {
    h.advance(1000);
    h.finish(1, { ok: false, status: 429, latencyMs: 1 });
  }
  assert.equal(h.w.limit(), 1, 'never below min');
});

test('a lone timeout or scattered 503s among answers are faults: the window stays; a rate limit never cuts', () => {
  const h = harness({ initial: 20, metricsStaleMs: 60_000 });
  h.w.onEngineLoad({ waiting: 2, running: 20 }); // metrics: growth is the poll's, not the answers'
  for (let s = 0; s < 30; s++) {
    h.fill();
    h.advance(1000);
    // 20 answers a second, with a timeout, a 503 or a 429 now and then (about 2 %).
    h.finish(19, { latencyMs: 900 });
    if (s % 3 === 0) h.finish(1, { ok: false, kind: 'timeout', latencyMs: 900 });
    else if (s % 3 === 1) h.finish(1, { ok: false, status: 503, latencyMs: 900 });
    else h.finish(1, { ok: false, status: 429, latencyMs: 900 });
    h.finish(1, { ok: false, kind: 'ratelimit', status: 429, latencyMs: 900 });
  }
  assert.equal(h.w.limit(), 20, 'no cut');
  assert.deepEqual(h.w.snapshot().cuts, {});
  assert.deepEqual(h.w.snapshot().faults, { timeout: 10, overload: 20 });
  // Then most answers are 503s for a second: over the last 10 s that is above a tenth, congestion.
  h.fill();
  h.advance(1000);
  h.finish(5, { latencyMs: 900 });
  h.finish(15, { ok: false, status: 503, latencyMs: 900 });
  assert.equal(h.w.limit(), 14, 'one cut: the other 503s of that second were sent before it');
  assert.deepEqual(h.w.snapshot().cuts, { overload: 1 });
});

test('latency mode: grows while latency holds, cuts on a sharp rise, rebases when a cut does not help', () => {
  const h = harness({ initial: 8 });
  assert.equal(h.w.snapshot().mode, 'latency');
  // Rounds of half a window (at least 4): flat latency doubles the window in slow start.
  const round = (latencyMs: number) => {
    h.fill();
    h.advance(latencyMs);
    const rounds = h.w.snapshot().rounds;
    while (h.w.snapshot().rounds === rounds) {
      if (h.inFlight === 0) assert.fail('the round did not end with a whole window answered');
      h.finish(1, { latencyMs, outputTokens: 10 });
    }
  };
  round(1000); // first round sets the baseline
  assert.equal(h.w.limit(), 16);
  round(1000);
  assert.equal(h.w.limit(), 32);
  round(1300); // 30% over the floor: slow start ends, +1
  assert.equal(h.w.limit(), 33);
  assert.equal(h.w.snapshot().phase, 'steady');
  round(4000); // latency × 3 over the long-term: cut by tolerance / ratio
  const cut = h.w.limit();
  assert.ok(cut < 33 * 0.6 && cut >= 16, `cut to ${cut}`);
  round(3900); // the cut did not bring latency down: a slower engine, not our load
  assert.equal(h.w.limit(), cut, 'rebased, not cut again');
  round(3900);
  assert.equal(h.w.limit(), cut + 1, 'and grows again at the new normal');
  assert.deepEqual(h.w.snapshot().cuts, { latency: 1 });
});

test('latency mode: a cut that brings latency down stays a cut', () => {
  const h = harness({ initial: 32 });
  const round = (latencyMs: number) => {
    h.fill();
    h.advance(latencyMs);
    const rounds = h.w.snapshot().rounds;
    while (h.w.snapshot().rounds === rounds) {
      if (h.inFlight === 0) assert.fail('the round did not end with a whole window answered');
      h.finish(1, { latencyMs });
    }
  };
  round(100);
  round(130);
  const before = h.w.limit();
  round(400);
  const cut = h.w.limit();
  assert.ok(cut < before);
  round(120); // queueing it was: latency fell with the window, no rebase, grow on
  assert.equal(h.w.limit(), cut + 1);
  round(400);
  assert.ok(h.w.limit() < cut + 1, 'a new rise cuts again');
});

test('fresh metrics take over from latency; stale metrics hand back', () => {
  const h = harness({ initial: 8, metricsStaleMs: 5000 });
  h.fill();
  h.w.onEngineLoad({ waiting: 2, running: 8 });
  assert.equal(h.w.snapshot().mode, 'metrics');
  const before = h.w.limit();
  // A huge latency jump does not cut while the engine queue says all is well.
  h.advance(100);
  h.finish(8, { latencyMs: 100 });
  h.fill();
  h.advance(4900);
  h.finish(8, { latencyMs: 4900 });
  assert.equal(h.w.snapshot().mode, 'metrics', 'still fresh at exactly metricsStaleMs');
  assert.equal(h.w.limit(), before);
  h.advance(1);
  assert.equal(h.w.snapshot().mode, 'latency');
  // A load without `waiting` (KV only) does not count as fresh metrics.
  h.w.onEngineLoad({ running: 8, kvUsage: 0.2 });
  assert.equal(h.w.snapshot().mode, 'latency');
});

test('FixedWindow ignores every signal', () => {
  const f = new FixedWindow(5);
  f.onStart();
  f.onComplete();
  assert.equal(f.limit(), 5);
});
