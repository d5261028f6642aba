/**
 * Virtual-time load driver for the SIMULATED engine: several workers share one `SimEngine`, and
 * each worker is a closed loop that keeps `window.limit()` requests in flight, as the partition
 * worker does. Used by the scheduler's unit tests and by the benchmark's simulated scenarios.
 */
import type { AdaptiveWindowLike } from '../../src/scheduler/signals.ts';
import { checkInt, checkNumber } from '../../src/checks.ts';
import { VirtualClock, seededRandom } from '../../src/sim/clock.ts';
import {
  SimEngine,
  type SimEngineOptions,
  type SimHandle,
  type SimRequest,
  type SimResult,
  type SimStats,
} from '../../src/sim/engine-sim.ts';

export interface SimWorker {
  /** Builds the worker's window on the simulation's clock. */
  window: (now: () => number) => AdaptiveWindowLike;
  /** When the worker starts sending, in simulated ms. Default 0. */
  startAtMs?: number;
  /** When it stops sending new requests (in-flight ones still finish) and polling. Default: the end. */
  stopAtMs?: number;
  /**
   * Called once the worker has stopped and its last request has ended, as a worker leaves at the
   * end of its task (a shared window's `leave`).
   */
  onStop?: () => void;
}

export interface ClosedLoopOptions {
  /** The simulated engine (its clock is the simulation's). */
  engine: Omit<SimEngineOptions, 'clock'>;
  workers: SimWorker[];
  /** Simulated run length in ms. */
  durationMs: number;
  /** Throughput and the traces' statistics count from here on, in ms. Default 0. */
  warmupMs?: number;
  /** Prompt tokens per request, drawn uniformly from [min, max]. Default [100, 300]. */
  promptTokens?: readonly [number, number];
  /** Output tokens per request, drawn uniformly from [min, max]. Default [100, 300]. */
  outputTokens?: readonly [number, number];
  /** Engine metrics poll period per worker, in ms; `false`: the engine has no metrics. Default 1000. */
  pollMs?: number | false;
  /** Report the preemption counter with the metrics (vLLM's `num_preemptions_total`). Default true. */
  reportPreemptions?: boolean;
  /** One-way network + client time, in ms. Default 2. */
  clientDelayMs?: number;
  /** Client-side request timeout, in ms: the request is cancelled and retried. Default Infinity. */
  requestTimeoutMs?: number;
  /** Delay before a rejected (503) or timed-out request is sent again, in ms (jittered ±50%). Default 500. */
  retryDelayMs?: number;
  /** Trace sample period, in ms. Default 1000. */
  sampleEveryMs?: number;
  /** Scripted changes: `run` is called at simulated time `atMs`. */
  events?: Array<{ atMs: number; run: (engine: SimEngine) => void }>;
  /** RNG seed (workload and jitter). Default 1. */
  seed?: number;
  /**
   * Tell each worker's window the engine's slots (`onEngineCapacity`, as llama-server's /slots does
   * before the worker's first request). Default false.
   */
  reportCapacity?: boolean;
  /**
   * Give each worker's window one metrics sample before its first request, as the worker does
   * with vLLM's /metrics (a shared window sets its learned bound from it). Default false.
   */
  reportLoadFirst?: boolean;
  /**
   * Injected FAULTS, per attempt with this probability, drawn evenly from `faultKinds`: `overload`
   * (a 503 at once, the engine not asked), `error` (a 500 or a reset at once), `timeout` (never
   * answered: the client gives up at `requestTimeoutMs`, or after 30 s without one). Default 0.
   */
  faultRate?: number;
  faultKinds?: ReadonlyArray<'overload' | 'error' | 'timeout'>;
}

export interface WorkerResult {
  completed: number;
  completionTokens: number;
  rejected: number;
  timeouts: number;
  /** Sampled window limits after warm-up. */
  limits: number[];
  meanLimit: number;
  meanInFlight: number;
}

export interface TraceSample {
  t: number;
  limits: number[];
  inFlight: number[];
  waiting: number;
  running: number;
  kvUsage: number;
  preemptions: number;
}

export interface ClosedLoopResult {
  /** The most requests in flight at once over all workers, from the start (exact, not sampled). */
  peakTotalInFlight: number;
  /** The same, counted only at sends after warm-up. */
  peakAfterWarmup: number;
  /** Attempts that failed by an injected fault. */
  faults: number;
  /** Completion tokens per simulated second, from warm-up to the end. */
  tokensPerS: number;
  /** Finished requests per simulated second, from warm-up to the end. */
  requestsPerS: number;
  /** Preemptions from warm-up to the end. */
  preemptions: number;
  /** Preemptions per finished request, from warm-up to the end. */
  preemptionRate: number;
  /** Mean and extremes of the total in flight (all workers) after warm-up. */
  totalInFlight: { mean: number; min: number; max: number };
  /** Mean engine queue after warm-up. */
  meanWaiting: number;
  /** Fraction of samples after warm-up with an empty engine queue. */
  emptyQueueFraction: number;
  workers: WorkerResult[];
  trace: TraceSample[];
  engine: SimStats;
}

const mean = (xs: number[]): number => (xs.length === 0 ? 0 : xs.reduce((a, b) => a + b, 0) / xs.length);

/** The options checked, with their defaults. */
function settingsOf(o: ClosedLoopOptions) {
  const durationMs = checkNumber('durationMs', o.durationMs, 1);
  const warmupMs = checkNumber('warmupMs', o.warmupMs ?? 0, 0, durationMs - 1);
  const [pMin, pMax] = o.promptTokens ?? [100, 300];
  const [oMin, oMax] = o.outputTokens ?? [100, 300];
  checkInt('promptTokens[0]', pMin, 1);
  checkInt('promptTokens[1]', pMax, pMin);
  checkInt('outputTokens[0]', oMin, 1);
  checkInt('outputTokens[1]', oMax, oMin);
  return {
    durationMs,
    warmupMs,
    pMin,
    pMax,
    oMin,
    oMax,
    pollMs: o.pollMs === false ? (false as const) : checkNumber('pollMs', o.pollMs ?? 1000, 1),
    clientDelayMs: checkNumber('clientDelayMs', o.clientDelayMs ?? 2, 0),
    timeoutMs: checkNumber('requestTimeoutMs', o.requestTimeoutMs ?? Number.POSITIVE_INFINITY, 1, Number.POSITIVE_INFINITY, true),
    retryDelayMs: checkNumber('retryDelayMs', o.retryDelayMs ?? 500, 0),
    sampleEveryMs: checkNumber('sampleEveryMs', o.sampleEveryMs ?? 1000, 1),
    reportPreemptions: o.reportPreemptions ?? true,
    faultRate: checkNumber('faultRate', o.faultRate ?? 0, 0, 1),
    faultKinds: o.faultKinds ?? (['overload', 'error', 'timeout'] as const),
  };
}

/** What every worker of one simulated run shares: settings, clock, engine, random source and the totals. */
interface Loop {
  o: ClosedLoopOptions;
  cfg: ReturnType<typeof settingsOf>;
  clock: VirtualClock;
  engine: SimEngine;
  rand: () => number;
  uniform: (a: number, b: number) => number;
  totals: { inFlight: number; peak: number; peakAfterWarmup: number; faults: number };
}

interface LoopWorker {
  index: number;
  /** Called once when nothing is in flight any more after the stop (then cleared). */
  onDrained?: (() => void) | undefined;
  drained(): void;
  window: AdaptiveWindowLike;
  inFlight: number;
  completed: number;
  completionTokens: number;
  rejected: number;
  timeouts: number;
  limits: number[];
  inFlights: number[];
}

export function runClosedLoop(options: ClosedLoopOptions): ClosedLoopResult {
  const o = options;
  const cfg = settingsOf(o);
  const rand = seededRandom(o.seed ?? 1);
  const clock = new VirtualClock();
  const loop: Loop = {
    o,
    cfg,
    clock,
    engine: new SimEngine({ ...o.engine, clock }),
    rand,
    uniform: (a, b) => a + Math.floor(rand() * (b - a + 1)),
    totals: { inFlight: 0, peak: 0, peakAfterWarmup: 0, faults: 0 },
  };
  const workers = o.workers.map((spec, index) => startWorker(loop, spec, index));
  let atWarmup: SimStats | undefined;
  clock.at(cfg.warmupMs, () => {
    atWarmup = loop.engine.stats();
  });
  const trace = startSampling(loop, workers);
  for (const ev of o.events ?? []) clock.at(ev.atMs, () => ev.run(loop.engine));
  clock.runUntil(cfg.durationMs);
  return summarize(loop, workers, trace, atWarmup);
}

/** One simulated worker: its window, the requests it keeps in flight, its retries and its poller. */
function startWorker(loop: Loop, spec: SimWorker, index: number): LoopWorker {
  const { clock, engine, cfg, o } = loop;
  const window = spec.window(() => clock.now());
  const startAt = spec.startAtMs ?? 0;
  const stopAt = spec.stopAtMs ?? cfg.durationMs;
  const w: LoopWorker = {
    index,
    window,
    drained: () => {
      if (w.inFlight > 0 || w.onDrained === undefined) return;
      const f = w.onDrained;
      w.onDrained = undefined;
      f();
    },
    inFlight: 0,
    completed: 0,
    completionTokens: 0,
    rejected: 0,
    timeouts: 0,
    limits: [],
    inFlights: [],
  };
  const active = (): boolean => clock.now() >= startAt && clock.now() < stopAt;
  /** Rejected or timed-out requests waiting for their retry; they are sent before new ones. */
  const retries: SimRequest[] = [];
  const pump = (): void => {
    while (active() && w.inFlight < window.limit()) {
      w.inFlight++;
      attempt(retries.shift() ?? { promptTokens: loop.uniform(cfg.pMin, cfg.pMax), outputTokens: loop.uniform(cfg.oMin, cfg.oMax) });
    }
  };
  const attempt = (req: SimRequest): void =>
    sendAttempt(
      loop,
      w,
      req,
      () => pump(),
      () => {
        retries.push(req);
        pump();
      },
    );
  clock.at(startAt, () => {
    // As the worker does with llama-server's /slots before its first request.
    if (o.reportCapacity === true) window.onEngineCapacity?.(engine.slots, engine.metrics().running);
    if (o.reportLoadFirst === true) {
      const m = engine.metrics();
      window.onEngineLoad?.({ waiting: m.waiting, running: m.running, kvUsage: m.kvUsage });
    }
    pump();
  });
  if (cfg.pollMs !== false) startPolling(loop, window, startAt, stopAt, cfg.pollMs, pump);
  if (spec.onStop !== undefined && stopAt < cfg.durationMs)
    clock.at(stopAt, () => {
      w.onDrained = spec.onStop;
      w.drained();
    });
  return w;
}

/**
 * One attempt of a request. As in the worker's pipeline, a rejected or timed-out request leaves
 * the window and comes back after a jittered backoff (`retry`), to be sent when the window has room.
 */
function sendAttempt(loop: Loop, w: LoopWorker, req: SimRequest, pump: () => void, retry: () => void): void {
  const { clock, engine, cfg, rand, totals } = loop;
  const window = w.window;
  window.onStart?.();
  totals.inFlight++;
  if (totals.inFlight > totals.peak) totals.peak = totals.inFlight;
  if (clock.now() >= cfg.warmupMs && totals.inFlight > totals.peakAfterWarmup) totals.peakAfterWarmup = totals.inFlight;
  const sentAt = clock.now();
  let settled = false;
  let handle: SimHandle | undefined;
  let timer: { cancel(): void } | undefined;
  const settle = (kind: 'ok' | 'overload' | 'timeout' | 'error', r?: SimResult): void => {
    if (settled) return;
    settled = true;
    timer?.cancel();
    w.inFlight--;
    w.drained();
    totals.inFlight--;
    const latencyMs = clock.now() - sentAt;
    if (kind === 'ok' && r !== undefined) {
      w.completed++;
      w.completionTokens += r.completionTokens;
      window.onComplete?.({ latencyMs, ok: true, kind, outputTokens: r.completionTokens });
      pump();
      return;
    }
    if (kind === 'overload') w.rejected++;
    else if (kind === 'timeout') w.timeouts++;
    window.onComplete?.({
      latencyMs,
      ok: false,
      kind,
      ...(kind === 'overload' ? { status: 503 } : kind === 'error' ? { status: 500 } : {}),
    });
    // No pump here: refilling the freed place at once would hammer a full queue; the next
    // completion, poll or retry does it.
    clock.after(cfg.retryDelayMs * (0.5 + rand()), retry);
  };
  const fault = cfg.faultRate > 0 && rand() < cfg.faultRate ? cfg.faultKinds[Math.floor(rand() * cfg.faultKinds.length)] : undefined;
  if (fault !== undefined) {
    totals.faults++;
    // A timeout fault is an answer that never comes; the others come back at once.
    if (fault !== 'timeout') clock.after(2 * cfg.clientDelayMs, () => settle(fault));
    else if (!Number.isFinite(cfg.timeoutMs)) clock.after(30_000, () => settle('timeout'));
  }
  clock.after(cfg.clientDelayMs, () => {
    if (settled || fault !== undefined) return;
    handle = engine.submit(req, (r) => {
      clock.after(cfg.clientDelayMs, () => settle(r.status === 200 ? 'ok' : 'overload', r));
    });
  });
  if (Number.isFinite(cfg.timeoutMs)) {
    timer = clock.after(cfg.timeoutMs, () => {
      handle?.cancel();
      settle('timeout');
    });
  }
}

/** The engine-load poller of one worker: metrics to its window, then a tick and a pump. */
function startPolling(loop: Loop, window: AdaptiveWindowLike, startAt: number, stopAt: number, pollMs: number, pump: () => void): void {
  const { clock, engine, cfg, rand } = loop;
  const first = startAt + rand() * pollMs;
  const poll = (): void => {
    const m = engine.metrics();
    window.onEngineLoad?.({
      waiting: m.waiting,
      running: m.running,
      kvUsage: m.kvUsage,
      ...(cfg.reportPreemptions ? { preempted: m.preemptions } : {}),
    });
    window.tick?.();
    pump();
    // Jittered like the real poller, so no worker always polls right after another one.
    const next = pollMs * (0.5 + rand());
    if (clock.now() + next < Math.min(stopAt, cfg.durationMs)) clock.after(next, poll);
  };
  clock.at(first, poll);
}

/** The trace: every `sampleEveryMs`, the windows, what is in flight and the engine's metrics. */
function startSampling(loop: Loop, workers: LoopWorker[]): TraceSample[] {
  const { clock, engine, cfg } = loop;
  const trace: TraceSample[] = [];
  const sample = (): void => {
    const m = engine.metrics();
    const s: TraceSample = {
      t: clock.now(),
      limits: workers.map((w) => w.window.limit()),
      inFlight: workers.map((w) => w.inFlight),
      waiting: m.waiting,
      running: m.running,
      kvUsage: m.kvUsage,
      preemptions: m.preemptions,
    };
    trace.push(s);
    if (s.t >= cfg.warmupMs) {
      for (const w of workers) {
        w.limits.push(w.window.limit());
        w.inFlights.push(w.inFlight);
      }
    }
    if (clock.now() + cfg.sampleEveryMs <= cfg.durationMs) clock.after(cfg.sampleEveryMs, sample);
  };
  clock.at(0, sample);
  return trace;
}

function summarize(loop: Loop, workers: LoopWorker[], trace: TraceSample[], atWarmup: SimStats | undefined): ClosedLoopResult {
  const { durationMs, warmupMs } = loop.cfg;
  const end = loop.engine.stats();
  const start = atWarmup ?? end;
  const spanS = (durationMs - warmupMs) / 1000;
  const after = trace.filter((s) => s.t >= warmupMs);
  const totals = after.map((s) => s.inFlight.reduce((a, b) => a + b, 0));
  const completed = end.completed - start.completed;
  const preemptions = end.preemptions - start.preemptions;
  return {
    peakTotalInFlight: loop.totals.peak,
    peakAfterWarmup: loop.totals.peakAfterWarmup,
    faults: loop.totals.faults,
    tokensPerS: (end.completionTokens - start.completionTokens) / spanS,
    requestsPerS: completed / spanS,
    preemptions,
    preemptionRate: completed === 0 ? 0 : preemptions / completed,
    totalInFlight: { mean: mean(totals), min: Math.min(...totals), max: Math.max(...totals) },
    meanWaiting: mean(after.map((s) => s.waiting)),
    emptyQueueFraction: after.length === 0 ? 0 : after.filter((s) => s.waiting === 0).length / after.length,
    workers: workers.map((w) => ({
      completed: w.completed,
      completionTokens: w.completionTokens,
      rejected: w.rejected,
      timeouts: w.timeouts,
      limits: w.limits,
      meanLimit: mean(w.limits),
      meanInFlight: mean(w.inFlights),
    })),
    trace,
    engine: end,
  };
}
