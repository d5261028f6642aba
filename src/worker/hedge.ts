/**
 * Hedging: a request that hangs (a dropped connection, a proxy that never answers, a preempted
 * node) holds its row, and a place in the window, until `engine.request_timeout`. A request out far
 * longer than the partition's own answers take gets a second copy; the first answer finishes the
 * row and the other is abandoned (docs/scheduler.md, "Hedging"). A hedge is not a retry: it spends
 * no retry budget.
 * - At the tail (nothing left to send) every such request is hedged, in room the window has anyway.
 * - Mid-partition the window is full, so the hung copy is presumed lost: it gives its place to the
 *   hedge. At most one presumed-lost request per worker at a time, and hedges stay within a small
 *   share of the requests sent, so a long-tailed latency can't turn hedging into extra load.
 *
 * This file decides WHEN and WHAT to hedge; the pipeline (pipeline.ts) sends and settles.
 */

/** Successful answers' latencies kept for the threshold (a ring). */
const SAMPLES = 64;
/** Answers needed before anything is hedged: below that, "far longer" means nothing. */
const MIN_SAMPLES = 8;
/** A request is hedged once out this many times the p95 latency of the partition's answers. */
const P95_FACTOR = 2;
/**
 * Mid-partition, never before this long, in ms: short answers have a noisy p95, and a hedge there
 * takes a place in a full window.
 */
const MIN_AGE_MS = 2000;
/**
 * At the tail, never before this long, in ms. There a hedge takes room the window has anyway, while
 * the whole task waits on the hung request: the chaos soak's tasks (2,500 rows, ~8 s) each waited
 * about 2.5 s at the 2 s floor for the three or so requests hung at their end.
 */
export const TAIL_MIN_AGE_MS = 250;
/** How often the pipeline looks for overdue requests, in ms (a scan of the rows out: cheap). */
export const HEDGE_CHECK_MS = 100;
/** Hedges per send: a hedge that fails while the first copy is still out may be followed by one more. */
export const MAX_HEDGES_PER_SEND = 2;
/** Mid-partition: presumed-lost requests (hedged, their place given to the hedge) out at once per worker. */
export const MAX_PRESUMED_LOST = 1;
/**
 * Mid-partition hedges stay within this share of the requests sent (and 1 is always allowed): about
 * the extra load "The Tail at Scale" (Dean and Barroso, CACM 2013) budgets for hedged requests.
 */
export const HEDGE_BUDGET = 0.05;

export interface HedgeCandidate {
  /** When its attempt out was sent (the oldest, while two are). */
  sentAt: number;
  /** Attempts of this row out now. */
  out: number;
  /** A hedge of this send is out (a failed hedge allows another, up to MAX_HEDGES_PER_SEND). */
  hedged: boolean;
}

export class TailHedger {
  readonly #latencies: number[] = [];
  #next = 0;

  /** A successful answer's latency, in ms. */
  answered(latencyMs: number): void {
    if (!Number.isFinite(latencyMs) || latencyMs < 0) return;
    if (this.#latencies.length < SAMPLES) this.#latencies.push(latencyMs);
    else this.#latencies[this.#next] = latencyMs;
    this.#next = (this.#next + 1) % SAMPLES;
  }

  /**
   * How long a request must have been out to be hedged; undefined until enough answers came back.
   * @param atTail the partition's rows are all sent (the lower floor, TAIL_MIN_AGE_MS)
   */
  threshold(atTail = false): number | undefined {
    if (this.#latencies.length < MIN_SAMPLES) return undefined;
    const sorted = [...this.#latencies].sort((a, b) => a - b);
    const p95 = sorted[Math.min(sorted.length - 1, Math.floor(0.95 * sorted.length))] as number;
    return Math.max(atTail ? TAIL_MIN_AGE_MS : MIN_AGE_MS, P95_FACTOR * p95);
  }

  /**
   * The requests to hedge now, oldest first, at most `room` of them.
   * @param items the rows with attempts out
   * @param room how many more requests the window allows
   * @param atTail the partition's rows are all sent: the tail's lower floor applies
   */
  pick<T extends HedgeCandidate>(items: Iterable<T>, now: number, room: number, atTail = false): T[] {
    const limit = this.threshold(atTail);
    if (limit === undefined || room <= 0) return [];
    const due = [...items].filter((i) => !i.hedged && i.out === 1 && now - i.sentAt > limit);
    return due.sort((a, b) => a.sentAt - b.sentAt).slice(0, room);
  }

  /**
   * Mid-partition: the request to hedge now, presumed lost, or undefined. Only when no other
   * presumed-lost request is out (MAX_PRESUMED_LOST) and the hedges so far are within HEDGE_BUDGET.
   * @param load presumed-lost requests out now, hedges sent so far, requests sent so far
   */
  pickStuck<T extends HedgeCandidate>(
    items: Iterable<T>,
    now: number,
    load: { presumedLost: number; hedges: number; sent: number },
  ): T | undefined {
    if (load.presumedLost >= MAX_PRESUMED_LOST || load.hedges + 1 > Math.max(1, HEDGE_BUDGET * load.sent)) return undefined;
    return this.pick(items, now, 1)[0];
  }
}
