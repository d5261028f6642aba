/**
 * Counts over a sliding interval, in a ring of time buckets: how many answers came back and how
 * many of them were of one kind (overload answers and timeouts for the window's congestion rule,
 * adaptive.ts; rate-limit refusals for the rate gate's, rate.ts). Counts only: a worker answers up
 * to 20,000 rows a second, and a list of timestamps would grow with it.
 */
export class RecentCounts {
  readonly #bucketMs: number;
  readonly #all: number[];
  readonly #marked: number[];
  #at = Number.NEGATIVE_INFINITY;

  /**
   * @param intervalMs the interval counted
   * @param buckets its resolution: the interval is `buckets` buckets of intervalMs / buckets
   */
  constructor(intervalMs: number, buckets = 10) {
    this.#bucketMs = intervalMs / buckets;
    this.#all = new Array<number>(buckets).fill(0);
    this.#marked = new Array<number>(buckets).fill(0);
  }

  /** Counts one event at `now` (ms), `marked` when it is of the kind counted apart. */
  add(now: number, marked: boolean): void {
    const i = this.#advance(now);
    this.#all[i] = (this.#all[i] as number) + 1;
    if (marked) this.#marked[i] = (this.#marked[i] as number) + 1;
  }

  /** Events and marked events within the interval up to `now`. */
  counts(now: number): { all: number; marked: number } {
    this.#advance(now);
    return { all: sum(this.#all), marked: sum(this.#marked) };
  }

  /** Clears the buckets the clock has passed; returns the current bucket's index. */
  #advance(now: number): number {
    const n = this.#all.length;
    const b = Math.floor(now / this.#bucketMs);
    if (b > this.#at) {
      for (let k = Math.max(this.#at + 1, b - n + 1); k <= b; k++) {
        const i = ((k % n) + n) % n;
        this.#all[i] = 0;
        this.#marked[i] = 0;
      }
      this.#at = b;
    }
    return ((this.#at % n) + n) % n;
  }
}

function sum(xs: readonly number[]): number {
  let s = 0;
  for (const x of xs) s += x;
  return s;
}
