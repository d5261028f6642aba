/**
 * The stats file's format: `<run>/stats/<worker id>.json`, one per task attempt, rewritten
 * atomically about once a second by the worker (src/worker/stats.ts). Summed by the CLI for the
 * progress line, the run report and the summary (src/rundir/progress.ts), and on Kubernetes by the
 * driver (python/sparkinfer/watch.py).
 */
import type { LatencyHistogram } from './histogram.ts';

export interface WorkerStats {
  worker: string;
  pid: number;
  started_at: number;
  updated_at: number;
  rows_in: number;
  rows_done: number;
  rows_ok: number;
  rows_failed: number;
  prompt_tokens: number;
  completion_tokens: number;
  /**
   * Prompt tokens of the answers whose engine said how many of them it served from its prefix
   * cache, and how many that was: the engine evaluated known − cached of them.
   */
  prompt_tokens_cache_known: number;
  prompt_tokens_cached: number;
  requests_sent: number;
  retries: number;
  /** Resends of failed attempts by reason (scheduler/signals.ts `retryReason`); all but `outage` are in `retries`. */
  retries_by_reason: Record<string, number>;
  /** Second copies of requests that hung at the end of the partition (worker/hedge.ts). */
  hedges: number;
  /** The adaptive window's cuts by reason (adaptive.ts `snapshot().cuts`); {} for a fixed window. */
  window_cuts: Record<string, number>;
  /**
   * The most requests the workers sharing this engine may have out together (slots plus queue;
   * scheduler/share.ts), once known: told by llama-server's /slots, learned from vLLM's metrics
   * (scheduler/capacity.ts). Null without a bound (a fixed window, an engine that tells neither).
   */
  engine_bound: number | null;
  /** Every attempt's latency, from send to the last byte of the answer or the failure (histogram.ts). */
  request_seconds: LatencyHistogram;
  inflight: number;
  window: number;
  errors_by_code: Record<string, number>;
  outage: boolean;
  done: boolean;
  /** The worker's peak resident memory so far (VmHWM), in KiB; set on each write. */
  max_rss_kb: number;
}
