/**
 * Cancellation by the driver. Spark's `cancelJobGroup` interrupts a TRANSFORM task's thread, but the
 * thread sits in a blocking read of the worker's stdout, so the worker would go on inferring its
 * whole partition (paid for, then thrown away). The driver therefore also writes `<run>/CANCEL`
 * (python/sparkinfer/watch.py, when the failure budget is spent); every worker checks for it about
 * once a second, sends nothing more, lets its requests in flight finish into the ledger and exits
(src/worker/main.ts).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export const CANCEL_FILE = 'CANCEL';

/**
 * Calls `onCancel(reason)` once when `<runDir>/CANCEL` appears. Returns a function that stops watching.
 * @param intervalMs how often to look, in ms (default 1000)
 * @param now also look once right away (a task Spark started again after the run was cancelled sends nothing)
 */
export function watchCancel(runDir: string, onCancel: (reason: string) => void, intervalMs = 1000, now = false): () => void {
  const path = join(runDir, CANCEL_FILE);
  const look = (): void => {
    if (!existsSync(path)) return;
    clearInterval(timer);
    let reason = 'cancelled by the driver';
    try {
      reason = (JSON.parse(readFileSync(path, 'utf8')) as { reason?: string }).reason ?? reason;
    } catch {
      /* being written: the default reason will do */
    }
    onCancel(reason);
  };
  const timer = setInterval(look, intervalMs);
  timer.unref();
  if (now) look();
  return () => clearInterval(timer);
}
