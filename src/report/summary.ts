/**
 * The run summary (docs/architecture.md, "Summary JSON"): built from the driver's summary and the
 * workers' counts, and its human text for stderr. The file formats (`summary.json`,
 * `driver_summary.json`) are in src/rundir/summary.ts.
 */
import type { DriverSummary, Summary } from '../rundir/summary.ts';

export function buildSummary(args: {
  runId: string;
  runDir: string;
  wallMs: number;
  status: Summary['status'];
  exitCode: number;
  driver?: DriverSummary;
  message?: string;
  output: string | null;
  /** The workers' prompt-cache counts (progress.ts readProgress), summed over this run. */
  engineCache?: { known: number; cached: number };
  /** The workers' retries and window cuts by reason (progress.ts readProgress), summed over this run. */
  reasons?: { retries?: Record<string, number> | undefined; cuts?: Record<string, number> | undefined };
}): Summary {
  const d = args.driver ?? {};
  const rowsIn = d.rows_in ?? 0;
  const fromLedger = d.rows_from_ledger ?? 0;
  const completion = d.completion_tokens ?? 0;
  const wallS = Math.round(args.wallMs) / 1000;
  const s: Summary = {
    status: args.status,
    run_id: args.runId,
    rows_in: rowsIn,
    rows_ok: d.rows_ok ?? 0,
    rows_failed: d.rows_failed ?? 0,
    rows_from_ledger: fromLedger,
    rows_inferred: d.rows_inferred ?? Math.max(0, rowsIn - fromLedger),
    prompt_tokens: d.prompt_tokens ?? 0,
    ...promptCache(args.engineCache),
    completion_tokens: completion,
    wall_s: wallS,
    output_tokens_per_s: wallS > 0 ? Math.round((completion / wallS) * 100) / 100 : 0,
    errors_by_code: d.errors_by_code ?? {},
    retries_by_reason: { ...(args.reasons?.retries ?? {}) },
    window_cuts_by_reason: { ...(args.reasons?.cuts ?? {}) },
    failed_rows_path: d.failed_rows_path ?? null,
    output: d.output ?? args.output,
    run_dir: args.runDir,
    exit_code: args.exitCode,
  };
  if (args.message !== undefined) s.message = args.message;
  return s;
}

function promptCache(c: { known: number; cached: number } | undefined): Pick<Summary, 'prompt_tokens_evaluated' | 'prompt_cache_share'> {
  if (c === undefined || c.known <= 0) return { prompt_tokens_evaluated: null, prompt_cache_share: null };
  return { prompt_tokens_evaluated: c.known - c.cached, prompt_cache_share: Math.round((c.cached / c.known) * 1000) / 1000 };
}

/** The human summary for stderr. */
export function formatSummary(s: Summary): string {
  const lines = [
    `sparkinfer: run ${s.run_id} ${s.status}${s.message !== undefined ? `: ${s.message}` : ''}`,
    `  rows: ${s.rows_in} in, ${s.rows_ok} ok, ${s.rows_failed} failed (${s.rows_from_ledger} from ledger, ${s.rows_inferred} inferred)`,
    `  tokens: ${s.prompt_tokens} prompt, ${s.completion_tokens} completion; ${s.output_tokens_per_s} output tok/s over ${s.wall_s}s`,
  ];
  if (s.prompt_tokens_evaluated !== null)
    lines.push(
      `  engine: ${s.prompt_tokens_evaluated} prompt tokens evaluated, ${Math.round((s.prompt_cache_share ?? 0) * 100)}% from its prefix cache`,
    );
  const codes = Object.entries(s.errors_by_code).sort((a, b) => b[1] - a[1]);
  if (codes.length > 0)
    lines.push(
      `  errors: ${codes.map(([c, n]) => `${c} ×${n}`).join(', ')}${s.failed_rows_path !== null ? ` (rows: ${s.failed_rows_path})` : ''}`,
    );
  const slow = formatReasons(s);
  if (slow !== undefined) lines.push(`  ${slow}`);
  if (s.output !== null) lines.push(`  output: ${s.output}`);
  if (s.bottleneck !== undefined && s.bottleneck !== null)
    lines.push(`  bottleneck: ${s.bottleneck}-bound (engine busy ${Math.round((s.engine_busy_fraction ?? 0) * 100)}% of the time)`);
  if (s.report !== undefined) lines.push(`  report: ${s.report}${s.report_png ? ` (chart: ${s.report_png})` : ''}`);
  lines.push(`  run dir: ${s.run_dir}`);
  return lines.join('\n');
}

/** `12 (timeout 5, http_5xx 4, rate_limit 3)`: the total, then each reason, largest first; `0` when none. */
export function formatCounts(counts: Readonly<Record<string, number>>): string {
  const entries = Object.entries(counts)
    .filter(([, n]) => n > 0)
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  const total = entries.reduce((t, [, n]) => t + n, 0);
  return entries.length === 0 ? '0' : `${total} (${entries.map(([k, n]) => `${k} ${n}`).join(', ')})`;
}

/**
 * `retries: 12 (timeout 5, http_5xx 4, rate_limit 3) · window cuts: 3 (queue 2, overload 1)`: the
 * parts that are not zero, or undefined when both are.
 */
export function formatReasons(s: Pick<Summary, 'retries_by_reason' | 'window_cuts_by_reason'>): string | undefined {
  const parts: string[] = [];
  const retries = formatCounts(s.retries_by_reason);
  const cuts = formatCounts(s.window_cuts_by_reason);
  if (retries !== '0') parts.push(`retries: ${retries}`);
  if (cuts !== '0') parts.push(`window cuts: ${cuts}`);
  return parts.length === 0 ? undefined : parts.join(' · ');
}
