/**
 * Clocks for the engine simulator. Everything in `src/sim` reads time and schedules work through a
 * `SimClock`, so the same model runs in virtual time (unit tests: fast and deterministic) or in
 * real time behind an HTTP front end (benchmarks).
 */
import { checkAbove } from '../checks.ts';

export interface SimTimer {
  cancel(): void;
}

export interface SimClock {
  /** Simulated milliseconds since the clock started. */
  now(): number;
  /** Runs `fn` at simulated time `at` (ms; a time in the past means "as soon as possible"). */
  at(at: number, fn: () => void): SimTimer;
}

interface Event {
  at: number;
  seq: number;
  fn: () => void;
  cancelled: boolean;
}

/**
 * A discrete-event clock: time jumps from event to event. Events at the same time run in the
 * order they were scheduled, so a run is reproducible.
 */
export class VirtualClock implements SimClock {
  #now = 0;
  #seq = 0;
  readonly #heap: Event[] = [];

  now(): number {
    return this.#now;
  }

  at(at: number, fn: () => void): SimTimer {
    const ev: Event = { at: Math.max(at, this.#now), seq: this.#seq++, fn, cancelled: false };
    this.#push(ev);
    return {
      cancel: () => {
        ev.cancelled = true;
      },
    };
  }

  /** Schedules `fn` after `delayMs` of simulated time. */
  after(delayMs: number, fn: () => void): SimTimer {
    return this.at(this.#now + delayMs, fn);
  }

  /** Runs every event up to and including time `until`, then sets the clock to `until`. */
  runUntil(until: number): void {
    for (;;) {
      const top = this.#heap[0];
      if (top === undefined || top.at > until) break;
      this.#pop();
      if (top.cancelled) continue;
      this.#now = top.at;
      top.fn();
    }
    this.#now = Math.max(this.#now, until);
  }

  /** Pending (not cancelled) events; for tests. */
  get pending(): number {
    return this.#heap.filter((e) => !e.cancelled).length;
  }

  #less(a: Event, b: Event): boolean {
    return a.at < b.at || (a.at === b.at && a.seq < b.seq);
  }

  #push(ev: Event): void {
    const h = this.#heap;
    h.push(ev);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const parent = h[p] as Event;
      if (!this.#less(ev, parent)) break;
      h[i] = parent;
      i = p;
    }
    h[i] = ev;
  }

  #pop(): void {
    const h = this.#heap;
    const last = h.pop() as Event;
    if (h.length === 0) return;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= h.length) break;
      const r = l + 1;
      const c = r < h.length && this.#less(h[r] as Event, h[l] as Event) ? r : l;
      if (!this.#less(h[c] as Event, last)) break;
      h[i] = h[c] as Event;
      i = c;
    }
    h[i] = last;
  }
}

/**
 * A clock on the wall: simulated time = real elapsed time / `timeScale`. With `timeScale: 0.1`
 * the simulated engine runs ten times faster than the model says. Timers firing late (event-loop
 * lag, the ~1 ms timer granularity) are caught up, because the simulator schedules absolute times.
 */
export class RealClock implements SimClock {
  readonly #timeScale: number;
  readonly #start = performance.now();
  readonly #timers = new Set<NodeJS.Timeout>();

  /** @param timeScale real ms per simulated ms. Default 1. */
  constructor(timeScale = 1) {
    this.#timeScale = checkAbove('timeScale', timeScale, 0);
  }

  now(): number {
    return (performance.now() - this.#start) / this.#timeScale;
  }

  at(at: number, fn: () => void): SimTimer {
    const delay = Math.max(0, (at - this.now()) * this.#timeScale);
    const t = setTimeout(() => {
      this.#timers.delete(t);
      fn();
    }, delay);
    this.#timers.add(t);
    return {
      cancel: () => {
        clearTimeout(t);
        this.#timers.delete(t);
      },
    };
  }

  /** Cancels every pending timer (server shutdown). */
  stop(): void {
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
  }
}

/** A small seeded PRNG (mulberry32): uniform floats in [0, 1). */
export function seededRandom(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
