/**
 * The failure budget (docs/architecture.md, "Reliability model"), one rule for the driver's watcher
 * (python/sparkinfer/watch.py, mid-run, over the rows finished so far) and for the end of the run
 * (over every row): once at least `min_rows_for_budget` rows have finished, more than
 * `max_failed_fraction` of them may not have failed. And the spend budgets, below.
 *
 * In src/rundir/ because these are rules over the counts a run's files hold (the stats files, the
 * driver's summary), applied by the worker (spend, src/worker/main.ts), the CLI (src/job/run.ts)
 * and the driver alike, which read the same files.
 */
import type { Job } from '../jobfile/schema.ts';

export function budgetExceeded(limits: Job['limits'], finished: number, failed: number): boolean {
  return finished > 0 && finished >= limits.min_rows_for_budget && failed / finished > limits.max_failed_fraction;
}

/** `E_HTTP_4XX ×40, E_TIMEOUT ×2`: the most frequent codes first. */
export function topCodes(errorsByCode: Record<string, number>, n = 3): string {
  const items = Object.entries(errorsByCode).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  return (
    items
      .slice(0, n)
      .map(([c, k]) => `${c} ×${k}`)
      .join(', ') + (items.length > n ? ', …' : '')
  );
}

export function budgetMessage(
  limits: Job['limits'],
  finished: number,
  failed: number,
  errorsByCode: Record<string, number>,
  failedRowsPath: string | null,
): string {
  const where = failedRowsPath !== null ? `; failed rows: ${failedRowsPath}` : '';
  return `${failed} of ${finished} rows failed, more than limits.max_failed_fraction (${limits.max_failed_fraction}); top errors: ${topCodes(errorsByCode)}${where}`;
}

/**
 * The spend budgets of one run (`limits.max_completion_tokens`, `max_prompt_tokens`, `max_wall`),
 * the same rule as python/sparkinfer/watch.py `spend_reached`: the first one that is reached, or
 * undefined. Each counts this run only, so the same command continues where a stopped run ended.
 */
export interface SpendReached {
  key: 'max_completion_tokens' | 'max_prompt_tokens' | 'max_wall';
  limit: number;
  used: number;
}

export function spendReached(
  limits: Job['limits'],
  spent: { promptTokens: number; completionTokens: number; wallMs?: number },
): SpendReached | undefined {
  if (limits.max_completion_tokens !== undefined && spent.completionTokens >= limits.max_completion_tokens)
    return { key: 'max_completion_tokens', limit: limits.max_completion_tokens, used: spent.completionTokens };
  if (limits.max_prompt_tokens !== undefined && spent.promptTokens >= limits.max_prompt_tokens)
    return { key: 'max_prompt_tokens', limit: limits.max_prompt_tokens, used: spent.promptTokens };
  if (limits.max_wall !== undefined && spent.wallMs !== undefined && spent.wallMs >= limits.max_wall)
    return { key: 'max_wall', limit: limits.max_wall, used: spent.wallMs };
  return undefined;
}
