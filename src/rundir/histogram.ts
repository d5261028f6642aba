/**
 * The request-latency histogram a worker keeps in its stats file (`request_seconds`, stats.ts),
 * summed by the CLI over the workers and served as an OpenMetrics histogram
 * (report/openmetrics.ts). Fixed bucket bounds, so that sums over workers and runs line up, and
 * wide enough for a 135M model on a CPU (tenths of a second) and a long answer from a busy GPU
 * engine (minutes).
 */

/** Upper bounds of the buckets, in seconds (each bucket counts latencies <= its bound; then +Inf). */
export const LATENCY_BOUNDS_S: readonly number[] = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300];

export interface LatencyHistogram {
  /** Per-bucket counts, NOT cumulative: `counts[i]` for bound i, the last one above every bound (+Inf). */
  counts: number[];
  /** Sum of the observed latencies, in seconds. */
  sum: number;
}

export function newHistogram(): LatencyHistogram {
  return { counts: new Array<number>(LATENCY_BOUNDS_S.length + 1).fill(0), sum: 0 };
}

/** Counts one latency, in ms (a negative or non-finite one is ignored). */
export function observe(h: LatencyHistogram, latencyMs: number): void {
  if (!Number.isFinite(latencyMs) || latencyMs < 0) return;
  const s = latencyMs / 1000;
  let i = LATENCY_BOUNDS_S.findIndex((b) => s <= b);
  if (i < 0) i = LATENCY_BOUNDS_S.length;
  h.counts[i] = (h.counts[i] ?? 0) + 1;
  h.sum += s;
}

/** Adds `from` into `into` (a stats file of an older worker has none: undefined). */
export function addHistogram(into: LatencyHistogram, from: LatencyHistogram | undefined): void {
  if (from === undefined || from === null || !Array.isArray(from.counts) || from.counts.length !== into.counts.length) return;
  for (let i = 0; i < into.counts.length; i++) {
    const n = from.counts[i];
    if (typeof n === 'number' && Number.isFinite(n) && n > 0) into.counts[i] = (into.counts[i] ?? 0) + n;
  }
  if (typeof from.sum === 'number' && Number.isFinite(from.sum)) into.sum += from.sum;
}
