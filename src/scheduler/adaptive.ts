/**
 * `engine.concurrency: auto`: the adaptive in-flight window, its options and its control law
 * (docs/scheduler.md explains the law and the measurements behind it).
 */
import { SpecError } from '../errors.ts';
import { checkAbove, checkFunction, checkInt, checkNumber } from '../checks.ts';
import { RecentCounts } from './recent.ts';
import { completionKind, type AdaptiveWindowLike, type CompletionSample, type EngineLoadSample, type WindowLogger } from './signals.ts';

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
  /**
   * Target engine queue as a fraction of its running requests (plus one), for engines that report
   * KV-cache usage or preemptions (vLLM): there a waiting request is admitted as soon as its prompt
   * fits, so a long queue turns into preemptions. Default 0.125.
   */
  queueTarget?: number;
  /**
   * The same for engines that report neither (llama-server): they have fixed slots and never
   * preempt, so a waiting request costs nothing but latency, and a queue as long as the batch
   * covers answers that finish together (equal lengths finish in the same step; the next wave
   * must already be waiting, not one client round trip away). Default 1.
   */
  slotQueueTarget?: number;
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
  /** Overload answers and timeouts that were not cut on (faults, not congestion), by kind. */
  faults: Record<string, number>;
  /** Long-term latency (per output token when reported), in ms. */
  longLatencyMs: number | undefined;
  /** Latency rounds completed (each judges half a window of answers). */
  rounds: number;
}

/**
 * Congestion, not a fault: overload answers (429/503) and timeouts cut the window only when they
 * are a pattern, at least CONGESTION_MIN of them and CONGESTION_RATE of the answers within the
 * last CONGESTION_INTERVAL_MS. A lone timeout (a preempted node, a dropped connection) or a
 * scattering of 503s says nothing about the engine's queue; every one of them used to cut, and at
 * 2 % faults the window rarely grew back (the chaos soak ran 4.6x slower than fault-free).
 */
const CONGESTION_INTERVAL_MS = 10_000;
const CONGESTION_MIN = 3;
const CONGESTION_RATE = 0.1;
/** A latency round is at least this many answers (and half a window): fewer are noise. */
const MIN_ROUND_SAMPLES = 4;
/** Cut on 429/503: the engine said it is full. */
const OVERLOAD_FACTOR = 0.7;
/** Cut on a timeout: the strongest sign, and the most expensive to get wrong. */
const TIMEOUT_FACTOR = 0.5;
/** Cut on preemption: wasted work has started, but the window is near its best. */
const PREEMPT_FACTOR = 0.9;
/** Growth per metrics poll below target. Half a request: against 5% cuts, shares even out faster. */
const METRIC_GROWTH = 0.5;
/** The gentlest queue (and KV) cut: small enough to keep the queue, big enough to even out shares. */
const MAX_QUEUE_FACTOR = 0.95;
/** Long-term latency stays within this multiple of the lowest round seen (unless rebased). */
const MAX_DRIFT = 3;
/** Latency-only slow start ends when a round is this much slower than the lowest seen. */
const SLOW_START_EXIT = 1.25;
/** Long-term latency follows the round means with these weights per round (up, down). */
const LONG_WEIGHT = 0.1;
const LONG_WEIGHT_DOWN = 0.5;

/**
 * `engine.concurrency: auto`: AIMD on signals every worker of an engine sees alike, so workers
 * sharing an engine converge to fair shares without talking to each other (docs/scheduler.md).
 * - Engine metrics (fresh): per poll, grow by half a request while the engine queue is at most
 *   `1 + queueTarget × running` (`slotQueueTarget` for engines with no KV signal); above it, cut
 *   by the excess's share of the engine's requests (at least 5%); cut 5% when the KV cache passes
 *   `kvHigh`, 10% on new preemptions.
 * - No fresh metrics: Gradient-style latency control per round (half a window of answers): grow
 *   while the round's latency per output token stays within `latencyTolerance` of the long-term
 *   one, cut by their ratio beyond it. A cut that does not bring latency down rebases instead
 *   (the engine got slower, which more or fewer requests will not fix).
 * - Always: cut by 0.7 on 429/503 and by 0.5 on a timeout when they form a pattern (at least 3,
 *   and 10 % of the answers, within 10 s; a lone one is a fault, left to the retry policy), unless
 *   the request was sent before the last cut (old news). A rate limiter's refusal never cuts.
 * Metric cuts wait until the in-flight count has drained to the last cut's limit. Until the first
 * sign of congestion the window doubles (slow start).
 */
export class AdaptiveWindow implements AdaptiveWindowLike {
  readonly #min: number;
  readonly #max: number;
  readonly #now: () => number;
  readonly #log: WindowLogger | undefined;
  readonly #queueTarget: number;
  readonly #slotQueueTarget: number;
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
  /** When the last cut on an answer (429/503, timeout, latency) happened. */
  #lastAnswerCutAt: number | undefined;
  #lastChangeAt: number | undefined;
  #lastPreempted: number | undefined;
  #roundSum = 0;
  #roundCount = 0;
  #long: number | undefined;
  /** Lowest round latency seen. */
  #floor: number | undefined;
  /** The last latency cut, until the round after it has judged it. */
  #cutJudge: { latency: number; factor: number } | undefined;
  readonly #cuts: Record<string, number> = {};
  /** Overload answers and timeouts taken as faults (no pattern), by kind: not cut on. */
  readonly #faults: Record<string, number> = {};
  #rounds = 0;
  #capacitySeen = false;
  /** Answers, and overload answers and timeouts among them, over the congestion interval. */
  readonly #recent = new RecentCounts(CONGESTION_INTERVAL_MS);
  /** The engine's slots, when it told (llama-server's /slots): the batch its queue is judged by. */
  #slots: number | undefined;
  readonly #growListeners: Array<() => void> = [];

  constructor(options: AdaptiveWindowOptions = {}) {
    if (options === null || typeof options !== 'object')
      throw new SpecError(`Expected window options to be an object, got \`${String(options)}\``);
    const o = options;
    this.#min = checkInt('min', o.min ?? 1, 1);
    this.#max = checkInt('max', o.max ?? 512, this.#min);
    this.#w = checkInt('initial', o.initial ?? Math.min(this.#max, Math.max(this.#min, 4)), this.#min, this.#max);
    if (o.now !== undefined) checkFunction('now', o.now);
    this.#now = o.now ?? (() => performance.now());
    this.#log = o.logger;
    this.#queueTarget = checkNumber('queueTarget', o.queueTarget ?? 0.125, 0, 4);
    this.#slotQueueTarget = checkNumber('slotQueueTarget', o.slotQueueTarget ?? 1, 0, 4);
    this.#kvHigh = checkAbove('kvHigh', o.kvHigh ?? 0.95, 0, 1);
    this.#staleMs = checkAbove('metricsStaleMs', o.metricsStaleMs ?? 5000, 0);
    this.#tolerance = checkAbove('latencyTolerance', o.latencyTolerance ?? 1.5, 1);
  }

  limit(): number {
    return Math.floor(this.#w);
  }

  onGrow(listener: () => void): void {
    this.#growListeners.push(listener);
  }

  onStart(): void {
    this.#inFlight++;
    if (this.#inFlight > this.#peak) this.#peak = this.#inFlight;
  }

  onComplete(sample: CompletionSample): void {
    if (this.#inFlight > 0) this.#inFlight--;
    this.#checkDrained();
    const kind = sample.kind ?? completionKind(sample);
    const latency = Number.isFinite(sample.latencyMs) && sample.latencyMs >= 0 ? sample.latencyMs : 0;
    // A request sent before the last cut on an answer reports on the old window: that news is
    // already acted on (one cut per window of bad answers, as TCP cuts once per window of losses).
    const stale = this.#lastAnswerCutAt !== undefined && this.#now() - latency < this.#lastAnswerCutAt;
    // A rate limiter's refusal says how fast, not how many at once: the rate gate's business.
    if (kind === 'ratelimit') return;
    const bad = kind === 'overload' || kind === 'timeout';
    this.#recent.add(this.#now(), bad);
    if (bad) {
      if (!stale && this.#congested()) this.#cut(kind === 'overload' ? OVERLOAD_FACTOR : TIMEOUT_FACTOR, kind, false);
      else this.#faults[kind] = (this.#faults[kind] ?? 0) + 1;
      return;
    }
    // Other failures (a 500, a refused connection) are the retry policy's and the outage
    // pause's business (worker/pipeline.ts): they say nothing about how full the engine is.
    if (kind !== 'ok') return;
    // Latency rounds judge the current window: only requests sent since it last changed count.
    const before = this.#lastChangeAt !== undefined && this.#now() - latency < this.#lastChangeAt;
    if (before || latency === 0) return;
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
    if (newPreemptions > 0) {
      this.#cut(this.#slowStart ? 0.5 : PREEMPT_FACTOR, 'preemption');
      return;
    }
    // KV-limited engines (they report KV usage or preemptions) get a short queue; slot-limited
    // ones a batch-long queue (see the options).
    const kvAware = kv !== undefined || preempted !== undefined;
    // A slot engine with known slots is judged by what it holds beyond them, not by the split of
    // the moment: between two waves of equal-length answers a poll can find every slot just freed
    // (running 0) and the next wave still listed as waiting. Judged by `running` that is a queue
    // of 33 against a target of 1, and a halving; a 16-slot CPU llama-server (5 s per wave) got
    // one every few polls and settled at its slot count with no queue (bench c, 2026-11-29).
    const slots = kvAware ? undefined : this.#slots;
    const queued = slots !== undefined ? Math.max(0, running + waiting - slots) : waiting;
    const batch = slots !== undefined ? Math.max(running, slots) : running;
    const target = 1 + (kvAware ? this.#queueTarget : this.#slotQueueTarget) * batch;
    if (queued > target) {
      // Everyone sees the same excess and cuts by its share of it: together they remove about the
      // excess, and a bigger window gives back more, which is what makes the shares converge.
      const share = (queued - target) / Math.max(1, running + waiting);
      this.#cut(Math.min(MAX_QUEUE_FACTOR, Math.max(0.5, 1 - share)), 'queue');
      return;
    }
    // A nearly full KV cache is where preemption starts; engines that do not export the
    // preemption counter are held back by this alone.
    if (kv !== undefined && kv >= this.#kvHigh) {
      this.#cut(MAX_QUEUE_FACTOR, 'kv');
      return;
    }
    // KV usage trails the window by a request's lifetime (young sequences are short): stop
    // doubling halfway to the limit, or the window overshoots into a preemption storm.
    if (kv !== undefined && kv >= this.#kvHigh / 2) this.#slowStart = false;
    // On a slot engine the queue is a direct measure of the room left, so slow start grows by at
    // most that room instead of doubling: workers that started together all jumped to the free
    // slots, and doubling from there put twice the target in flight. The excess then drains at
    // the engine's answer rate (10 s and more on an H200 with varied answers): llama-server held
    // ~308 waiting instead of ~253 and its own step was 9 % longer (docs/scheduler.md).
    this.#grow(METRIC_GROWTH, slots !== undefined ? Math.max(METRIC_GROWTH, target - queued) : undefined);
  }

  /**
   * The engine's slot count (llama-server), told once at the start. In slow start a smaller window
   * jumps to the free slots: an engine with fixed slots never preempts, so there is nothing to
   * find out below its slot count, and doubling up to it from 4 admits requests in groups a poll
   * apart. With equal-length answers those groups then finish, and are replaced, at different
   * steps forever after, which cost llama-server half its throughput on an H200 (bench/GPU.md).
   * Workers that start together all jump; the queue cuts then share the engine out as usual. A
   * worker that finds the slots taken starts slowly, as before.
   */
  onEngineCapacity(slots: number, busy: number): void {
    if (this.#capacitySeen) return;
    this.#capacitySeen = true;
    if (!Number.isFinite(slots) || !Number.isFinite(busy) || slots < 1 || busy < 0) return;
    this.#slots = Math.floor(slots);
    const free = Math.floor(slots - busy);
    if (!this.#slowStart || this.#draining || free <= this.limit()) return;
    const before = this.limit();
    this.#w = Math.min(this.#max, free);
    this.#log?.debug?.(`window ${before} -> ${this.limit()} (engine has ${free} free slots)`);
    for (const l of this.#growListeners) l();
  }

  snapshot(): WindowSnapshot {
    return {
      limit: this.limit(),
      inFlight: this.#inFlight,
      mode: this.#metricsFresh() ? 'metrics' : 'latency',
      phase: this.#slowStart ? 'slow-start' : 'steady',
      cuts: { ...this.#cuts },
      faults: { ...this.#faults },
      longLatencyMs: this.#long,
      rounds: this.#rounds,
    };
  }

  /** Overload answers and timeouts form a pattern within the interval (see CONGESTION_RATE). */
  #congested(): boolean {
    const { all, marked } = this.#recent.counts(this.#now());
    return marked >= CONGESTION_MIN && marked >= CONGESTION_RATE * all;
  }

  #metricsFresh(): boolean {
    return this.#lastLoadAt !== undefined && this.#now() - this.#lastLoadAt <= this.#staleMs;
  }

  #endRound(): void {
    this.#rounds++;
    const short = this.#roundSum / this.#roundCount;
    this.#roundSum = 0;
    this.#roundCount = 0;
    this.#floor = Math.min(this.#floor ?? short, short);
    const long = this.#long ?? short;
    // Long-term latency follows slowly upwards, quickly downwards (a lighter load is news now),
    // and never beyond MAX_DRIFT × the best seen: slow growth is still growth.
    this.#long = Math.min(long + (short < long ? LONG_WEIGHT_DOWN : LONG_WEIGHT) * (short - long), MAX_DRIFT * this.#floor);
    if (this.#metricsFresh()) return;
    const judged = this.#cutJudge;
    this.#cutJudge = undefined;
    // The first round after a latency cut tells queueing from a slower engine: had we been
    // queueing, latency would have fallen about as much as the window. If it fell less than half
    // of that, the engine got slower (or other clients load it): rebase instead of cutting on.
    if (judged !== undefined && short > judged.latency * (1 - (1 - judged.factor) / 2)) {
      this.#floor = short / MAX_DRIFT;
      this.#long = short;
      this.#log?.debug?.(`latency ${short.toFixed(1)}ms did not fall with the window: new baseline`);
      return;
    }
    const ratio = short / long;
    if (ratio <= this.#tolerance) {
      // Doubling stops at the first clear rise over the best seen: the knee is near.
      if (this.#slowStart && short > SLOW_START_EXIT * this.#floor) this.#slowStart = false;
      this.#grow(1);
      return;
    }
    const factor = Math.max(0.5, this.#tolerance / ratio);
    this.#cut(factor, 'latency', false);
    this.#cutJudge = { latency: short, factor };
  }

  /** Grows by `step`, or doubles in slow start, by no more than `room` when that is known. */
  #grow(step: number, room = Number.POSITIVE_INFINITY): void {
    if (this.#draining) return;
    // A window that was not filled did not cause the good news: keep it (the worker is input-bound).
    if (this.#peak < Math.floor(this.#w)) return;
    const before = this.limit();
    this.#w = Math.min(this.#max, this.#slowStart ? this.#w + Math.min(this.#w, room) : this.#w + step);
    if (!this.#metricsFresh()) this.#changed();
    this.#peak = this.#inFlight;
    if (this.limit() !== before) {
      this.#log?.debug?.(`window ${before} -> ${this.limit()} (${this.#slowStart ? 'slow start' : 'grow'})`);
      for (const l of this.#growListeners) l();
    }
  }

  #cut(factor: number, reason: string, gated = true): void {
    this.#slowStart = false;
    if (gated && this.#draining) return;
    if (!gated) this.#lastAnswerCutAt = this.#now();
    this.#changed();
    const before = this.limit();
    this.#w = Math.max(this.#min, this.#w * factor);
    this.#cuts[reason] = (this.#cuts[reason] ?? 0) + 1;
    this.#draining = this.#inFlight > this.limit();
    this.#peak = this.#inFlight;
    this.#log?.debug?.(`window ${before} -> ${this.limit()} (${reason})`);
  }

  #changed(): void {
    this.#lastChangeAt = this.#now();
    this.#roundSum = 0;
    this.#roundCount = 0;
  }

  #checkDrained(): void {
    if (this.#draining && this.#inFlight <= this.limit()) this.#draining = false;
  }
}

function finite(x: number | undefined): number | undefined {
  return typeof x === 'number' && Number.isFinite(x) ? x : undefined;
}
