/**
 * Dispatch order for an engine with one prompt cache per slot (llama-server), with
 * `engine.prefix_order: auto` (docs/prefix-plan.md). llama-server gives a request the idle slot
 * whose cached prompt shares the longest prefix with it, and keeps that prompt in the slot. So a
 * group of rows that share a prefix (`Prepared.group`) is cheapest when its rows go out one at a
 * time: each one lands on the slot its predecessor just freed and re-uses the cached prefix. Sending
 * a whole group at once (draining it, prefix-order.ts) spreads it over every idle slot, and every
 * slot prefills it again: bench g measured 12,730 evaluated prompt tokens against 5,221 that way.
 *
 * The rules, in order:
 *   1. rows put back (retries, an outage) go out first, as with the FIFO;
 *   2. with the slot count S known (`slots`, from /slots), at most S requests are out: a request
 *      that waits in the engine's queue would take whichever slot frees first and evict its prefix;
 *   3. the group whose request just ended goes next (its slot is the free one, holding its prefix);
 *   4. else the oldest group not started yet (a new prefix for a free slot);
 *   5. else a group already out takes one more slot, which costs one more prefill of its prefix: only
 *      a group with at least ROWS_PER_EXTRA_SLOT rows waiting per slot it holds, the fewest out
 *      first. Failing that, rows wait for a request to end (never with nothing out).
 * Prefix-free rows (every row its own group) go out in arrival order. A few large groups (few-shot
 * variants) spread over the slots; a group's last few rows stay on the slots it has.
 */
import type { DispatchQueue, Prepared } from './pipeline.ts';
import { checkInt } from '../checks.ts';

/**
 * Rows a group must have waiting per slot it holds to take one more slot (and prefill its prefix
 * there). Bench g (quick, 2026-12-05) with 4: groups of 8 rows took extra slots as soon as another
 * group finished, and the engines evaluated 1.39× the minimum of prompt tokens.
 */
export const ROWS_PER_EXTRA_SLOT = 8;

export interface SlotAffinityOptions {
  /** The engine's slot count, when known (llama-server's /slots); unknown: no cap on requests out. */
  slots?: () => number | undefined;
  /** Rows the pipeline keeps read ahead so that several groups are waiting. Default 256. */
  lookahead?: number;
  /** Characters of the body that key a row without a `group`. Default 384 (as prefix-order.ts). */
  prefixChars?: number;
}

interface Group<T> {
  key: string;
  rows: T[];
  head: number;
  /** Requests of this group that are out (given by `shift`, not yet `settled`). */
  inflight: number;
  /** In `#ready` (at most once). */
  ready: boolean;
}

export class SlotAffinityQueue<T extends { prepared: Prepared }> implements DispatchQueue<T> {
  readonly readAhead: number;
  readonly #prefixChars: number;
  readonly #slots: () => number | undefined;
  readonly #front: T[] = [];
  /** Groups with rows waiting or requests out, in order of arrival. */
  readonly #groups = new Map<string, Group<T>>();
  /** Groups not started yet, oldest first (an array with a moving head; stale entries skipped). */
  #fresh: Array<Group<T>> = [];
  #freshHead = 0;
  /** Groups whose request just ended and that have rows waiting: their slot is the free one. */
  readonly #ready: Array<Group<T>> = [];
  #inflight = 0;
  #size = 0;

  constructor(options: SlotAffinityOptions = {}) {
    this.readAhead = checkInt('lookahead', options.lookahead ?? 256, 1);
    this.#prefixChars = checkInt('prefixChars', options.prefixChars ?? 384, 1);
    this.#slots = options.slots ?? (() => undefined);
  }

  get length(): number {
    return this.#size + this.#front.length;
  }

  /** Requests given out and not yet settled. */
  get inflight(): number {
    return this.#inflight;
  }

  #key(item: T): string {
    return item.prepared.group ?? item.prepared.body.slice(0, this.#prefixChars);
  }

  #group(key: string): Group<T> {
    let g = this.#groups.get(key);
    if (g === undefined) {
      g = { key, rows: [], head: 0, inflight: 0, ready: false };
      this.#groups.set(key, g);
      this.#fresh.push(g);
    }
    return g;
  }

  push(item: T): void {
    this.#group(this.#key(item)).rows.push(item);
    this.#size++;
  }

  unshift(item: T): void {
    this.#front.push(item);
  }

  shift(): T | undefined {
    const back = this.#front.pop();
    if (back !== undefined) {
      this.#out(this.#group(this.#key(back)));
      return back;
    }
    if (this.#size === 0) return undefined;
    const slots = this.#slots();
    if (slots !== undefined && this.#inflight >= slots) return undefined;
    const g = this.#nextReady() ?? this.#nextFresh() ?? this.#spread();
    if (g === undefined) return undefined;
    const item = g.rows[g.head] as T;
    g.head++;
    if (g.head > 1024 && g.head * 2 > g.rows.length) {
      g.rows = g.rows.slice(g.head);
      g.head = 0;
    }
    this.#size--;
    this.#out(g);
    return item;
  }

  settled(item: T): void {
    const g = this.#groups.get(this.#key(item));
    if (g === undefined || g.inflight === 0) return;
    g.inflight--;
    this.#inflight--;
    if (g.head < g.rows.length) {
      if (!g.ready) {
        g.ready = true;
        this.#ready.push(g);
      }
    } else if (g.inflight === 0) this.#groups.delete(g.key);
  }

  #out(g: Group<T>): void {
    g.inflight++;
    this.#inflight++;
  }

  #waiting(g: Group<T>): boolean {
    return g.head < g.rows.length && this.#groups.get(g.key) === g;
  }

  #nextReady(): Group<T> | undefined {
    for (let g = this.#ready.pop(); g !== undefined; g = this.#ready.pop()) {
      g.ready = false;
      if (this.#waiting(g)) return g;
    }
    return undefined;
  }

  #nextFresh(): Group<T> | undefined {
    let found: Group<T> | undefined;
    while (found === undefined && this.#freshHead < this.#fresh.length) {
      const g = this.#fresh[this.#freshHead++] as Group<T>;
      if (g.inflight === 0 && this.#waiting(g)) found = g;
    }
    if (this.#freshHead > 1024 && this.#freshHead * 2 > this.#fresh.length) {
      this.#fresh = this.#fresh.slice(this.#freshHead);
      this.#freshHead = 0;
    }
    return found;
  }

  /**
   * A group already out that may take one more slot: enough rows waiting per slot it holds, the
   * fewest out first (the oldest when they tie). With nothing out, any waiting group.
   */
  #spread(): Group<T> | undefined {
    let best: Group<T> | undefined;
    let any: Group<T> | undefined;
    for (const g of this.#groups.values()) {
      const waiting = g.rows.length - g.head;
      if (waiting === 0) continue;
      any ??= g;
      if (waiting >= ROWS_PER_EXTRA_SLOT * g.inflight && (best === undefined || g.inflight < best.inflight)) best = g;
    }
    return best ?? (this.#inflight === 0 ? any : undefined);
  }
}
