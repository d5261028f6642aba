/**
 * How a worker stops early without losing a finished row: on the driver's CANCEL (cancel.ts) or
 * when a spend budget (limits.max_*_tokens, counted with the other workers' stats) is reached, it
 * sends nothing more, lets the requests in flight finish into the ledger, then exits
 * WORKER_EXIT.CANCELLED: a partition cut short must never count as done.
 */
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import type { ResolvedJob } from '../jobfile/resolved.ts';
import { spendReached } from '../rundir/budget.ts';
import { otherWorkersTokens } from './stats.ts';
import { watchCancel } from './cancel.ts';
import { WORKER_EXIT } from './exit.ts';

export interface Stopping {
  /** Aborted once the worker must send nothing more. */
  signal: AbortSignal;
  /** Counts one result's tokens; stops dispatch when a spend budget is reached. */
  checkSpend(r: { prompt_tokens: number | null; completion_tokens: number | null }): void;
  /** Reads the other workers' token counts again (with the stats, once a second). */
  refreshOthers(): void;
  /** After the pipeline returned stopped: waits (bounded) for the driver's CANCEL, then exits cancelled. */
  awaitCancelThenExit(): Promise<never>;
  /** Stops watching for the driver's CANCEL. */
  close(): void;
}

export interface StoppingOptions {
  job: ResolvedJob;
  id: string;
  counting: boolean;
  log: (m: string) => void;
  /** Requests in flight now, for the log line. */
  inflight: () => number;
  /** Flushes the results written so far and closes the ledger. */
  closeLedger: () => void;
}

export function watchStops(o: StoppingOptions): Stopping {
  const { job, log } = o;
  const runDir = job.run.dir;
  const stop = new AbortController();
  let cancelReason: string | undefined;
  const exitCancelled = (): never => {
    try {
      o.closeLedger();
    } catch (err) {
      log(`closing the ledger failed: ${(err as Error).message}`);
    }
    process.stderr.write(`sparkinfer-worker: cancelled by the driver: ${(cancelReason ?? 'a budget was reached').slice(0, 300)}\n`);
    process.exit(WORKER_EXIT.CANCELLED);
  };
  const close = watchCancel(
    runDir,
    (reason) => {
      if (cancelReason !== undefined) return;
      log(`cancelled by the driver: ${reason}; letting ${String(o.inflight())} request(s) in flight finish`);
      cancelReason = reason;
      stop.abort();
      // Requests end within request_timeout; past that, stop anyway (the ledger has what finished).
      setTimeout(exitCancelled, job.engine.request_timeout + 5000).unref();
    },
    1000,
    true,
  );
  // This worker stops dispatching within its own window; the driver's watcher then cancels the run.
  const spendBudget = !o.counting && (job.limits.max_completion_tokens !== undefined || job.limits.max_prompt_tokens !== undefined);
  let others = { promptTokens: 0, completionTokens: 0 };
  const own = { promptTokens: 0, completionTokens: 0 };
  return {
    signal: stop.signal,
    checkSpend: (r) => {
      own.promptTokens += r.prompt_tokens ?? 0;
      own.completionTokens += r.completion_tokens ?? 0;
      if (!spendBudget || stop.signal.aborted) return;
      const hit = spendReached(job.limits, {
        promptTokens: own.promptTokens + others.promptTokens,
        completionTokens: own.completionTokens + others.completionTokens,
      });
      if (hit === undefined) return;
      log(`limits.${hit.key} (${hit.limit}) reached (${hit.used}): sending nothing more, letting the requests in flight finish`);
      stop.abort();
    },
    refreshOthers: () => {
      if (spendBudget) others = otherWorkersTokens(join(runDir, 'stats'), o.id);
    },
    awaitCancelThenExit: async () => {
      // The driver sees the stats and writes CANCEL within a few seconds; bounded all the same.
      for (let i = 0; i < 600 && cancelReason === undefined; i++) await delay(100);
      return exitCancelled();
    },
    close,
  };
}
