/**
 * The rate gate: paces one worker's sends to a hosted endpoint's rate limit (docs/scheduler.md,
 * "Rate limits"). The window (adaptive.ts) says how many requests may be in flight; the gate says
 * how fast they may start. The pipeline asks `delayMs` before each send and tells it of every send
 * and every answer; the gate never sleeps itself. Its rules:
 *   - a refusal with rate-limit headers (a 'ratelimit' completion) holds ALL dispatch until its
 *     `retry-after-ms`/`retry-after` (else the time the headers say room comes back, else 1 s) has
 *     passed, cut to `holdCapMs`, plus a little jitter so that workers don't come back together;
 *   - an answer saying nothing is left (`x-ratelimit-remaining-requests` 0, or remaining tokens
 *     below a request's estimate) holds dispatch until room for one request comes back: before any 429;
 *   - pacing: sends are spaced to the worker's share of the sustainable rate: `engine.rate_limit`
 *     over the workers sharing the endpoint, and the rate the headers imply (limit, remaining,
 *     reset), whichever is lower;
 *   - AIMD on the send rate: a refusal cuts it to 0.7× the recent send rate, once per interval;
 *     while answers succeed it grows by a fixed step per second back up to the share. Workers
 *     sharing one limit each see their own refusals and converge to fair shares without a coordinator.
 * Without any limit seen or configured the gate is idle: `delayMs` is one comparison and a send
 * costs one array store.
 */
import type { RateBudget, RateInfo } from '../engine/ratelimit.ts';
import { RecentCounts } from './recent.ts';

/** The gate as the worker pipeline drives it (PipelineDeps.gate). */
export interface SendGate {
  /** How long to wait before the next send, in ms; 0: send now. */
  delayMs(now: number): number;
  /** A request with this body goes out now. */
  onSend(now: number, body: string): void;
  /** A request ended. `rateLimited`: the refusal was a rate limit (pipeline.ts decides, by `isRateLimited`). */
  onAnswer(now: number, body: string, rateLimited: boolean, outcome: GateOutcome): void;
}

/** What the gate reads of an attempt (pipeline.ts's Attempt fits). */
export interface GateOutcome {
  ok: boolean;
  rateLimit?: RateInfo | undefined;
  fields?: { prompt_tokens?: number | null | undefined; completion_tokens?: number | null | undefined } | undefined;
}

export interface RateGateOptions {
  /** `engine.rate_limit.requests_per_minute`: a known limit on the whole endpoint. */
  requestsPerMinute?: number | undefined;
  /** `engine.rate_limit.tokens_per_minute`: a known limit, prompt and completion tokens together. */
  tokensPerMinute?: number | undefined;
  /** How many workers share the endpoint and its limit, read at each use. Default: 1. */
  workers?: () => number;
  /** `sampling.max_tokens`, for a request's token estimate. Default 0. */
  maxTokens?: number;
  /** Longest hold after one refusal, in ms (retry.ts's `retryAfterCapMs`). Default 120_000. */
  holdCapMs?: number;
  /** Returns a number in [0, 1), for the jitter. Default Math.random. */
  random?: () => number;
  log?: (message: string) => void;
}

/** The fraction of a header-derived rate that pacing aims at: headers round, and others may share the limit. */
const SAFETY = 0.95;
/** A refusal cuts the send rate to this fraction of the recent send rate. */
const CUT = 0.7;
/** Additive increase: the send rate grows by this fraction of its ceiling (or of the rate before the last cut) per second. */
const STEP_PER_S = 0.05;
/** Slowest pace a cut can set, in requests per second. */
const MIN_RATE = 0.05;
/** Refusals within this long of a cut (or within the hold it set) cut no further: they were sent before it. */
const CUT_INTERVAL_MS = 1000;
/** The recent send rate is measured over the last sends (at most this many) of the last RECENT_MS. */
const RECENT_SENDS = 32;
const RECENT_MS = 5000;
/** ... over at least this long, so that a burst of sends answered at once does not read as a huge rate. */
const RECENT_FLOOR_MS = 100;
/** Hold when a refusal names no wait and its headers say nothing of the reset. */
const DEFAULT_HOLD_MS = 1000;
/**
 * A refusal that names only a retry time (no `x-ratelimit-*` budget) is a fault, not a limit,
 * unless refusals form a pattern: at least REFUSAL_MIN of them and REFUSAL_RATE of the answers
 * within REFUSAL_INTERVAL_MS. A fault holds only its row for its retry time; the others go on and
 * the send rate is not cut. Injected 429s at 2 % faults (the chaos soak) held every worker for a
 * second and cut its rate each time: 3.1× slower than fault-free. A real limiter refuses in
 * bursts, and those that name a budget (`x-ratelimit-*`: OpenAI, Azure) are acted on at once.
 */
const REFUSAL_INTERVAL_MS = 10_000;
const REFUSAL_MIN = 3;
const REFUSAL_RATE = 0.05;

/**
 * Bounds on a limit's refill rate from one answer, in units per ms: remaining `R` of limit `L`
 * comes back to `L` in `reset` at rate r, so r = (L − R′)/reset with R′ in [R, R + 1) (hosts round
 * the remaining down). Undefined when the answer can't tell (nothing used, no reset).
 */
function refillBounds(b: RateBudget): [number, number] | undefined {
  const { limit: l, remaining: r, resetMs: t } = b;
  if (l === undefined || r === undefined || t === undefined || t <= 0 || r >= l) return undefined;
  return [Math.max(0, l - r - 1) / t, (l - r) / t];
}

/**
 * A limit's refill rate as the intersection of every answer's bounds; a sample outside it (the
 * limit changed) starts afresh. The estimate is the upper bound: the samples' tightest one.
 */
class RefillEstimate {
  #lo = 0;
  #hi = Infinity;
  add(b: RateBudget): void {
    const s = refillBounds(b);
    if (s === undefined) return;
    if (s[0] > this.#hi || s[1] < this.#lo) [this.#lo, this.#hi] = s;
    else [this.#lo, this.#hi] = [Math.max(this.#lo, s[0]), Math.min(this.#hi, s[1])];
  }
  /** Units per second, or Infinity when unknown. */
  perSecond(): number {
    return this.#hi * 1000;
  }
}

/**
 * When room for `need` units comes back, in ms from the answer: 0 when there is room now; from the
 * refill rate when known (continuous refill, as OpenAI documents), else the share of the reset.
 */
export function roomAfterMs(b: RateBudget, need: number, perSecond = Infinity): number | undefined {
  const { limit: l, remaining: r, resetMs: t } = b;
  if (r === undefined || r >= need) return r === undefined ? undefined : 0;
  if (t === undefined) return undefined;
  if (l !== undefined && Number.isFinite(perSecond) && perSecond > 0) return Math.max(0, Math.min(t, t - ((l - need) / perSecond) * 1000));
  return l !== undefined && l > r ? Math.min(t, ((need - r) * t) / (l - r)) : t;
}

export class RateGate implements SendGate {
  readonly #rpm: number | undefined;
  readonly #tpm: number | undefined;
  readonly #workers: () => number;
  readonly #maxTokens: number;
  readonly #holdCapMs: number;
  readonly #random: () => number;
  readonly #log: (message: string) => void;
  /** Dispatch waits until max(holdUntil, nextAt). */
  #holdUntil = -Infinity;
  #nextAt = -Infinity;
  /** The AIMD send rate, requests/s; Infinity until the first refusal. */
  #rate = Infinity;
  /** The send rate before the last cut: the increase's step when no ceiling is known. */
  #refRate = Infinity;
  #lastIncAt = 0;
  #cutBlockedUntil = -Infinity;
  readonly #sends = new Float64Array(RECENT_SENDS);
  #sendCount = 0;
  readonly #reqEstimate = new RefillEstimate();
  readonly #tokEstimate = new RefillEstimate();
  /** Actual tokens over estimated ones, corrected as `usage` comes back. */
  #tokenFactor = 1;
  /** The last request's token estimate, for "remaining tokens below the next request's". */
  #lastEstimate = 0;
  /** A limit was configured or seen: pacing, token estimates and answers' headers are read. */
  #active: boolean;
  /** Answers, and rate-limited refusals among them, over REFUSAL_INTERVAL_MS. */
  readonly #answers = new RecentCounts(REFUSAL_INTERVAL_MS);

  constructor(options: RateGateOptions = {}) {
    this.#rpm = options.requestsPerMinute;
    this.#tpm = options.tokensPerMinute;
    this.#workers = options.workers ?? (() => 1);
    this.#maxTokens = options.maxTokens ?? 0;
    this.#holdCapMs = options.holdCapMs ?? 120_000;
    this.#random = options.random ?? Math.random;
    this.#log = options.log ?? (() => {});
    this.#active = this.#rpm !== undefined || this.#tpm !== undefined;
  }

  delayMs(now: number): number {
    const at = Math.max(this.#holdUntil, this.#nextAt);
    return at > now ? Math.ceil(at - now) : 0;
  }

  onSend(now: number, body: string): void {
    this.#sends[this.#sendCount++ % RECENT_SENDS] = now;
    if (!this.#active) return;
    let spacingMs = 0;
    const reqRate = Math.min(this.#rate, this.requestCeiling());
    if (Number.isFinite(reqRate)) spacingMs = 1000 / reqRate;
    const tokRate = this.tokenCeiling();
    if (Number.isFinite(tokRate)) {
      this.#lastEstimate = this.estimateTokens(body);
      spacingMs = Math.max(spacingMs, (this.#lastEstimate / tokRate) * 1000);
    }
    if (spacingMs > 0) this.#nextAt = Math.max(this.#nextAt, now) + spacingMs;
  }

  onAnswer(now: number, body: string, rateLimited: boolean, outcome: GateOutcome): void {
    this.#answers.add(now, rateLimited);
    const info = outcome.rateLimit;
    if (!rateLimited && info === undefined && !this.#active) return;
    this.#active = true;
    if (info?.requests !== undefined) this.#reqEstimate.add(info.requests);
    if (info?.tokens !== undefined) this.#tokEstimate.add(info.tokens);
    if (outcome.ok) this.#learnUsage(body, outcome);
    if (rateLimited) this.#refused(now, info);
    else if (outcome.ok) this.#increase(now);
    if (info !== undefined && !rateLimited) this.#holdForRoom(now, info);
  }

  /** The worker's share of the sustainable request rate, requests/s; Infinity when unknown. */
  requestCeiling(): number {
    const n = Math.max(1, this.#workers());
    const configured = this.#rpm !== undefined ? this.#rpm / 60 / n : Infinity;
    return Math.min(configured, (SAFETY * this.#reqEstimate.perSecond()) / n);
  }

  /** The worker's share of the sustainable token rate, tokens/s; Infinity when unknown. */
  tokenCeiling(): number {
    const n = Math.max(1, this.#workers());
    const configured = this.#tpm !== undefined ? this.#tpm / 60 / n : Infinity;
    return Math.min(configured, (SAFETY * this.#tokEstimate.perSecond()) / n);
  }

  /** The AIMD send rate in requests/s (Infinity: not paced by refusals). */
  sendRate(): number {
    return this.#rate;
  }

  /** A request's tokens: prompt chars/4 (the body's length stands in for the prompt's) + max_tokens, corrected by usage. */
  estimateTokens(body: string): number {
    return (body.length / 4 + this.#maxTokens) * this.#tokenFactor;
  }

  /** Sends per second over the recent sends. */
  recentSendRate(now: number): number {
    let n = 0;
    let oldest = now;
    for (let i = 0; i < Math.min(this.#sendCount, RECENT_SENDS); i++) {
      const t = this.#sends[i] as number;
      if (now - t > RECENT_MS) continue;
      n++;
      if (t < oldest) oldest = t;
    }
    return (n * 1000) / Math.max(now - oldest, RECENT_FLOOR_MS);
  }

  #refused(now: number, info: RateInfo | undefined): void {
    if (info?.requests === undefined && info?.tokens === undefined) {
      const { all, marked } = this.#answers.counts(now);
      if (marked < REFUSAL_MIN || marked < REFUSAL_RATE * all) return; // a fault: that row waits, the others go on
    }
    const room = Math.max(
      (info?.requests !== undefined ? roomAfterMs(info.requests, 1, this.#reqEstimate.perSecond()) : undefined) ?? 0,
      (info?.tokens !== undefined ? roomAfterMs(info.tokens, this.#lastEstimate, this.#tokEstimate.perSecond()) : undefined) ?? 0,
    );
    const wait = Math.min(info?.retryAfterMs ?? (room > 0 ? room : DEFAULT_HOLD_MS), this.#holdCapMs);
    // Jitter: up to a tenth of the wait and 20 ms, so workers refused together don't return together.
    const until = now + wait + Math.floor(this.#random() * (wait / 10 + 20));
    if (until > this.#holdUntil) this.#holdUntil = until;
    if (now < this.#cutBlockedUntil) return;
    const recent = Math.min(this.recentSendRate(now), this.#rate);
    this.#refRate = recent;
    this.#rate = Math.max(MIN_RATE, CUT * recent);
    this.#lastIncAt = this.#holdUntil;
    this.#cutBlockedUntil = now + Math.max(CUT_INTERVAL_MS, wait);
    this.#log(`rate limited: holding dispatch ${Math.round(until - now)} ms, send rate cut to ${this.#rate.toFixed(2)}/s`);
  }

  #increase(now: number): void {
    if (!Number.isFinite(this.#rate) || now <= this.#lastIncAt) return;
    const ceiling = this.requestCeiling();
    const step = STEP_PER_S * (Number.isFinite(ceiling) ? ceiling : this.#refRate);
    this.#rate += (step * (now - this.#lastIncAt)) / 1000;
    this.#lastIncAt = now;
    if (Number.isFinite(ceiling)) this.#rate = Math.min(this.#rate, ceiling);
    else if (this.#rate >= 2 * this.#refRate) this.#rate = Infinity; // no limit in sight: stop pacing
  }

  /** Holds dispatch when the answer says no room is left, until room for one request comes back. */
  #holdForRoom(now: number, info: RateInfo): void {
    const reqWait = info.requests !== undefined ? roomAfterMs(info.requests, 1, this.#reqEstimate.perSecond()) : undefined;
    const tokNeed = this.#lastEstimate > 0 ? this.#lastEstimate : this.#maxTokens;
    const tokWait = info.tokens !== undefined ? roomAfterMs(info.tokens, tokNeed, this.#tokEstimate.perSecond()) : undefined;
    const wait = Math.min(Math.max(reqWait ?? 0, tokWait ?? 0), this.#holdCapMs);
    if (wait > 0 && now + wait > this.#holdUntil) this.#holdUntil = now + wait + Math.floor(this.#random() * 10);
  }

  /** Corrects the token estimate by the answer's `usage`: an average of actual over estimated. */
  #learnUsage(body: string, outcome: GateOutcome): void {
    if (!Number.isFinite(this.tokenCeiling())) return;
    const used = (outcome.fields?.prompt_tokens ?? 0) + (outcome.fields?.completion_tokens ?? 0);
    if (used <= 0) return;
    const estimated = body.length / 4 + this.#maxTokens;
    const ratio = Math.min(4, Math.max(0.25, used / estimated));
    this.#tokenFactor = 0.8 * this.#tokenFactor + 0.2 * ratio;
  }
}
