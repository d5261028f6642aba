/**
 * The in-flight window: how many requests a worker keeps at the engine. `FixedWindow` is
 * `engine.concurrency: N`; `AdaptiveWindow` is `auto`. The worker's dispatch loop asks `limit()`
 * before each send and reports every start and completion; a metrics poller reports the engine's
 * own load. docs/scheduler.md explains the control law and the measurements behind it.
 */
import { SpecError } from '../errors.ts';
import { checkAbove, checkFunction, checkInt, checkNumber } from './options.ts';

export type CompletionKind = 'ok' | 'overload' | 'timeout' | 'error';

export interface CompletionSample {
  /** From send to the last body byte, in ms. */
  latencyMs: number;
  ok: boolean;
  /** HTTP status of a failed attempt, when there was one. */
  status?: number | undefined;
  /** What happened; derived from `ok`/`status` when absent (429/503: overload, 408/504: timeout). */
  kind?: CompletionKind | undefined;
  /** Completion tokens of a successful answer; makes the latency signal length-independent. */
  outputTokens?: number | undefined;
}

export interface EngineLoadSample {
  /** Requests queued in the engine (vLLM `num_requests_waiting`, llama-server `requests_deferred`). */
  waiting?: number | undefined;
  /** Requests being decoded (vLLM `num_requests_running`, llama-server `requests_processing`). */
  running?: number | undefined;
  /** KV-cache usage, a fraction 0..1. */
  kvUsage?: number | undefined;
  /** Preemptions since engine start: a counter (vLLM `num_preemptions_total`). */
  preempted?: number | undefined;
}

/** What the worker's dispatch loop needs; `onEngineLoad` is absent when metrics are useless. */
export interface AdaptiveWindowLike {
  limit(): number;
  onStart?(): void;
  onComplete?(sample: CompletionSample): void;
  onEngineLoad?(load: EngineLoadSample): void;
}

export interface WindowLogger {
  debug?(message: string): void;
  info?(message: string): void;
}

/** `engine.concurrency: N`: always N in flight. */
export class FixedWindow implements AdaptiveWindowLike {
  readonly #n: number;
  constructor(n: number) {
    this.#n = checkInt('concurrency', n, 1);
  }
  limit(): number {
    return this.#n;
  }
  onStart(): void {}
  onComplete(): void {}
}

export interface AdaptiveWindowOptions {
  /** Lowest limit. Default 1. */
  min?: number;
  /** Highest limit. Default 512. */
  max?: number;
  /** Starting limit; it grows fast (doubling) until the first sign of congestion. Default min(max, max(min, 4)). */
  initial?: number;
  /** Monotonic clock in ms. Default `performance.now`. */
  now?: () => number;
  logger?: WindowLogger | undefined;
  /** Target engine queue as a fraction of its running requests (plus one). Default 0.125. */
  queueTarget?: number;
  /** KV-cache usage at and above which the window shrinks (gently, by 5%). Default 0.95. */
  kvHigh?: number;
  /** Engine metrics older than this are ignored and latency control takes over, in ms. Default 5000. */
  metricsStaleMs?: number;
  /** Latency-only mode: short-term over long-term latency above which the window shrinks. Default 1.5. */
  latencyTolerance?: number;
}

export interface WindowSnapshot {
  limit: number;
  inFlight: number;
  mode: 'metrics' | 'latency';
  phase: 'slow-start' | 'steady';
  /** Cuts so far, by reason. */
  cuts: Record<string, number>;
  /** Long-term latency (per output token when reported), in ms. */
  longLatencyMs: number | undefined;
}

const MIN_ROUND_SAMPLES = 1;
const OVERLOAD_FACTOR = 0.7;
const TIMEOUT_FACTOR = 0.5;
const PREEMPT_FACTOR = 0.9;
/** The gentlest queue cut: small enough to keep the queue, big enough to even out shares. */
const MAX_QUEUE_FACTOR = 0.95;
/** Long-term latency follows the round means with this weight per round. */
const LONG_WEIGHT = 0.1;

/**
 * `engine.concurrency: auto`. AIMD on a signal every worker of an engine sees alike, so workers
 * sharing an engine converge to fair shares without talking to each other:
 * - with engine metrics: grow by one per poll while the engine's queue is below
 *   `1 + queueTarget × running` (and the KV cache below `kvHigh`); cut when the queue passes twice
 *   that, by the share of the excess; cut by 0.8 on preemption;
 * - without (fresh) metrics: Gradient-style, grow while the short-term latency stays within
 *   `latencyTolerance` of the long-term one, cut by their ratio when it rises faster;
 * - always: cut by 0.7 on 429/503 and by 0.5 on timeouts.
 * After a cut, further cuts wait until the in-flight count has drained to the new limit, so one
 * burst of bad news costs one cut. Until the first cut the window doubles (slow start).
 */
export class AdaptiveWindow implements AdaptiveWindowLike {
  readonly #min: number;
  readonly #max: number;
  readonly #now: () => number;
  readonly #log: WindowLogger | undefined;
  readonly #queueTarget: number;
  readonly #kvHigh: number;
  readonly #staleMs: number;
  readonly #tolerance: number;
  #w: number;
  #inFlight = 0;
  /** Most in flight since the last growth: growing a window that is not filled proves nothing. */
  #peak = 0;
  #slowStart = true;
  #draining = false;
  #lastLoadAt: number | undefined;
  #lastCutAt: number | undefined;
  #lastPreempted: number | undefined;
  #roundSum = 0;
  #roundCount = 0;
  #long: number | undefined;
  readonly #cuts: Record<string, number> = {};

  constructor(options: AdaptiveWindowOptions = {}) {
    if (options === null || typeof options !== 'object') throw new SpecError(`Expected window options to be an object, got \`${String(options)}\``);
    const o = options;
    this.#min = checkInt('min', o.min ?? 1, 1);
    this.#max = checkInt('max', o.max ?? 512, this.#min);
    this.#w = checkInt('initial', o.initial ?? Math.min(this.#max, Math.max(this.#min, 4)), this.#min, this.#max);
    if (o.now !== undefined) checkFunction('now', o.now);
    this.#now = o.now ?? (() => performance.now());
    this.#log = o.logger;
    this.#queueTarget = checkNumber('queueTarget', o.queueTarget ?? 0.125, 0, 4);
    this.#kvHigh = checkAbove('kvHigh', o.kvHigh ?? 0.95, 0, 1);
    this.#staleMs = checkAbove('metricsStaleMs', o.metricsStaleMs ?? 5000, 0);
    this.#tolerance = checkAbove('latencyTolerance', o.latencyTolerance ?? 1.5, 1);
  }

  limit(): number {
    return Math.floor(this.#w);
  }

  onStart(): void {
    this.#inFlight++;
    if (this.#inFlight > this.#peak) this.#peak = this.#inFlight;
  }

  onComplete(sample: CompletionSample): void {
    if (this.#inFlight > 0) this.#inFlight--;
    this.#checkDrained();
    const kind = sample.kind ?? kindOf(sample);
    const latency = Number.isFinite(sample.latencyMs) && sample.latencyMs >= 0 ? sample.latencyMs : 0;
    // A request sent before the last cut reports on the old window: that news is already acted on.
    const stale = this.#lastCutAt !== undefined && this.#now() - latency < this.#lastCutAt;
    if (kind === 'overload') return stale ? undefined : this.#cut(OVERLOAD_FACTOR, 'overload', false);
    if (kind === 'timeout') return stale ? undefined : this.#cut(TIMEOUT_FACTOR, 'timeout', false);
    // Other failures (a 500, a refused connection) are the retry policy's and the circuit
    // breaker's business: they say nothing about how full the engine is.
    if (kind !== 'ok' || stale || latency === 0) return;
    const tokens = sample.outputTokens;
    this.#roundSum += tokens !== undefined && tokens > 0 ? latency / tokens : latency;
    this.#roundCount++;
    if (this.#roundCount >= Math.max(MIN_ROUND_SAMPLES, Math.ceil(this.#w / 2))) this.#endRound();
  }

  onEngineLoad(load: EngineLoadSample): void {
    const now = this.#now();
    const preempted = finite(load.preempted);
    let newPreemptions = 0;
    if (preempted !== undefined) {
      // A counter that went down means the engine restarted: start counting again.
      if (this.#lastPreempted !== undefined && preempted >= this.#lastPreempted) newPreemptions = preempted - this.#lastPreempted;
      this.#lastPreempted = preempted;
    }
    const waiting = finite(load.waiting);
    if (waiting === undefined) return;
    this.#lastLoadAt = now;
    this.#checkDrained();
    const running = finite(load.running) ?? 0;
    const kv = finite(load.kvUsage);
    // In slow start the window just doubled past a good one: halve it.
    if (newPreemptions > 0) return this.#cut(this.#slowStart ? 0.5 : PREEMPT_FACTOR, 'preemption');
    const target = 1 + this.#queueTarget * running;
    if (waiting > target) {
      // Everyone sees the same excess and cuts by its share of it: together they remove about the
      // excess, and a bigger window gives back more, which is what makes the shares converge.
      const share = (waiting - target) / Math.max(1, running + waiting);
      return this.#cut(Math.min(MAX_QUEUE_FACTOR, Math.max(0.5, 1 - share)), 'queue');
    }
    // A nearly full KV cache is where preemption starts; engines that do not export the
    // preemption counter are held back by this alone.
    if (kv !== undefined && kv >= this.#kvHigh) return this.#cut(MAX_QUEUE_FACTOR, 'kv');
    // KV usage trails the window by a request's lifetime (young sequences are short): stop
    // doubling halfway to the limit, or the window overshoots into a preemption storm.
    if (kv !== undefined && kv >= this.#kvHigh / 2) this.#slowStart = false;
    this.#grow(1);
  }

  snapshot(): WindowSnapshot {
    return {
      limit: this.limit(), inFlight: this.#inFlight, mode: this.#metricsFresh() ? 'metrics' : 'latency',
      phase: this.#slowStart ? 'slow-start' : 'steady', cuts: { ...this.#cuts }, longLatencyMs: this.#long,
    };
  }

  #metricsFresh(): boolean {
    return this.#lastLoadAt !== undefined && this.#now() - this.#lastLoadAt <= this.#staleMs;
  }

  #endRound(): void {
    const short = this.#roundSum / this.#roundCount;
    this.#roundSum = 0;
    this.#roundCount = 0;
    const long = this.#long ?? short;
    // Long-term latency follows slowly upwards, quickly downwards (a lighter load is news now).
    this.#long = short < long ? short : long + LONG_WEIGHT * (short - long);
    if (this.#metricsFresh()) return;
    const ratio = short / long;
    if (ratio > this.#tolerance) return this.#cut(Math.max(0.5, this.#tolerance / ratio), 'latency', false);
    this.#grow(1);
  }

  #grow(step: number): void {
    if (this.#draining) return;
    // A window that was not filled did not cause the good news: keep it (the worker is input-bound).
    if (this.#peak < Math.floor(this.#w)) return;
    const before = this.limit();
    this.#w = Math.min(this.#max, this.#slowStart ? this.#w * 2 : this.#w + step);
    this.#peak = this.#inFlight;
    if (this.limit() !== before) this.#log?.debug?.(`window ${before} -> ${this.limit()} (${this.#slowStart ? 'slow start' : 'grow'})`);
  }

  #cut(factor: number, reason: string, gated = true): void {
    this.#slowStart = false;
    if (gated && this.#draining) return;
    this.#lastCutAt = this.#now();
    this.#roundSum = 0;
    this.#roundCount = 0;
    const before = this.limit();
    this.#w = Math.max(this.#min, this.#w * factor);
    this.#cuts[reason] = (this.#cuts[reason] ?? 0) + 1;
    this.#draining = this.#inFlight > this.limit();
    this.#peak = this.#inFlight;
    this.#log?.debug?.(`window ${before} -> ${this.limit()} (${reason})`);
  }

  #checkDrained(): void {
    if (this.#draining && this.#inFlight <= this.limit()) this.#draining = false;
  }
}

function finite(x: number | undefined): number | undefined {
  return typeof x === 'number' && Number.isFinite(x) ? x : undefined;
}

function kindOf(s: CompletionSample): CompletionKind {
  if (s.ok) return 'ok';
  if (s.status === 429 || s.status === 503) return 'overload';
  if (s.status === 408 || s.status === 504) return 'timeout';
  return 'error';
}

/** The part of `engine` in the job spec that picks the window. */
export interface WindowSpec {
  concurrency: 'auto' | number;
  concurrency_min?: number | undefined;
  concurrency_max?: number | undefined;
}

/** `concurrency: N` → FixedWindow(N); `auto` → AdaptiveWindow within [concurrency_min, concurrency_max]. */
export function makeWindow(spec: WindowSpec, deps: Pick<AdaptiveWindowOptions, 'now' | 'logger'> = {}): AdaptiveWindowLike {
  if (spec === null || typeof spec !== 'object') throw new SpecError(`Expected an engine spec object, got \`${String(spec)}\``);
  if (spec.concurrency === 'auto') {
    return new AdaptiveWindow({
      ...(spec.concurrency_min !== undefined ? { min: spec.concurrency_min } : {}),
      ...(spec.concurrency_max !== undefined ? { max: spec.concurrency_max } : {}),
      ...deps,
    });
  }
  if (typeof spec.concurrency !== 'number') throw new SpecError(`Expected \`concurrency\` to be "auto" or a number from 1 and up, got \`${String(spec.concurrency)}\` (${typeof spec.concurrency})`);
  return new FixedWindow(spec.concurrency);
}
