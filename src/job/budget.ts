/**
 * The failure budget (docs/architecture.md, "Reliability model"), one rule for the driver's watcher
 * (python/sparkinfer/watch.py, mid-run, over the rows finished so far) and for the end of the run
 * (over every row): once at least `min_rows_for_budget` rows have finished, more than
 * `max_failed_fraction` of them may not have failed.
 */
import type { Job } from '../spec/schema.ts';

export function budgetExceeded(limits: Job['limits'], finished: number, failed: number): boolean {
  return finished > 0 && finished >= limits.min_rows_for_budget && failed / finished > limits.max_failed_fraction;
}

/** `E_HTTP_4XX ×40, E_TIMEOUT ×2`: the most frequent codes first. */
export function topCodes(errorsByCode: Record<string, number>, n = 3): string {
  const items = Object.entries(errorsByCode).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  return items.slice(0, n).map(([c, k]) => `${c} ×${k}`).join(', ') + (items.length > n ? ', …' : '');
}

export function budgetMessage(limits: Job['limits'], finished: number, failed: number, errorsByCode: Record<string, number>, failedRowsPath: string | null): string {
  const where = failedRowsPath !== null ? `; failed rows: ${failedRowsPath}` : '';
  return `${failed} of ${finished} rows failed, more than limits.max_failed_fraction (${limits.max_failed_fraction}); top errors: ${topCodes(errorsByCode)}${where}`;
}
