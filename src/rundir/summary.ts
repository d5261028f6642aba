/**
 * The summaries' file formats: `<run>/summary.json`, which the CLI writes and, with --json, prints
 * as the last stdout line, on failure too (docs/architecture.md, "Summary JSON"); and
 * `<run>/driver_summary.json`, which the driver writes (python/sparkinfer/driver.py).
 * Invariants: rows_in = rows_ok + rows_failed = rows_from_ledger + rows_inferred.
 */
export interface Summary {
  status: 'succeeded' | 'failed' | 'cancelled';
  run_id: string;
  rows_in: number;
  rows_ok: number;
  rows_failed: number;
  rows_from_ledger: number;
  rows_inferred: number;
  prompt_tokens: number;
  /**
   * Prompt tokens the engine evaluated (not served from its prefix cache), and the cached share of
   * the prompt tokens, over this run's answers whose engine tells (llama-server, vLLM with
   * `--enable-prompt-tokens-details`); null when none told.
   */
  prompt_tokens_evaluated: number | null;
  prompt_cache_share: number | null;
  completion_tokens: number;
  wall_s: number;
  output_tokens_per_s: number;
  errors_by_code: Record<string, number>;
  /**
   * Why the run was slow, summed over every worker's stats file: resends of failed attempts by
   * reason (scheduler/signals.ts `retryReason`: faults, overload, rate limits, outages) and the
   * adaptive windows' cuts by reason (congestion: `queue`, `kv`, `overload`, ...). {} when none.
   */
  retries_by_reason: Record<string, number>;
  window_cuts_by_reason: Record<string, number>;
  failed_rows_path: string | null;
  output: string | null;
  run_dir: string;
  exit_code: number;
  message?: string;
  /** Share of the sampled inference time the engine's queue was not dry (report/timeline.ts); null when not sampled. */
  engine_busy_fraction?: number | null;
  /** `engine`, `orchestrator` or `spark`: where the time went; null when not sampled. */
  bottleneck?: string | null;
  /** `<run dir>/report.html` and `report.png` (null when no PNG could be drawn). */
  report?: string;
  report_png?: string | null;
}

/** What the driver reports in `<run>/driver_summary.json`. */
export interface DriverSummary {
  status?: string;
  rows_in?: number;
  rows_ok?: number;
  rows_failed?: number;
  rows_from_ledger?: number;
  rows_inferred?: number;
  prompt_tokens?: number;
  completion_tokens?: number;
  errors_by_code?: Record<string, number>;
  failed_rows_path?: string | null;
  output?: string | null;
  infer_s?: number;
}
