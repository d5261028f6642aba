/**
 * The commit phase of a local run, as the CLI sees it: the driver committed the output (or did
 * not), and what it left in the run directory (driver_summary.json, driver_error.json), with the
 * failure budget, decides the run's status, exit code and message. Also how a failure thrown in an
 * earlier phase becomes an exit code and a message.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Job } from '../jobfile/schema.ts';
import type { DriverSummary, Summary } from '../rundir/summary.ts';
import { errnoText, SparkinferError } from '../errors.ts';
import { EXIT, exitCodeFor } from '../exit-codes.ts';
import { budgetExceeded, budgetMessage } from '../rundir/budget.ts';
import { fullDisk, withDiskHint } from './disk.ts';
import type { InferOutcome } from './infer.ts';

export interface Verdict {
  status: Summary['status'];
  exitCode: number;
  message?: string;
  driver?: DriverSummary;
}

/** The run's status from how the infer phase ended and what the driver wrote. */
export function judgeOutcome(outcome: InferOutcome, runDir: string, limits: Job['limits']): Verdict {
  if (outcome.kind === 'abort')
    return { status: 'cancelled', exitCode: EXIT.INTERRUPTED, message: 'interrupted; finished rows are kept in the ledger' };
  if (outcome.kind === 'engine') return { status: 'failed', exitCode: EXIT.RUNTIME, message: outcome.message };
  const errFile = join(runDir, 'driver_error.json');
  const sumFile = join(runDir, 'driver_summary.json');
  const driver = existsSync(sumFile) ? (JSON.parse(readFileSync(sumFile, 'utf8')) as DriverSummary) : undefined;
  const withDriver = driver !== undefined ? { driver } : {};
  if (outcome.code === 0 && driver !== undefined) {
    const rowsIn = driver.rows_in ?? 0;
    const failed = driver.rows_failed ?? 0;
    // The driver applies the same rule (mid-run and at the end); this guards a driver that didn't.
    if (!budgetExceeded(limits, rowsIn, failed)) return { status: 'succeeded', exitCode: EXIT.OK, driver };
    const message = budgetMessage(limits, rowsIn, failed, driver.errors_by_code ?? {}, driver.failed_rows_path ?? null);
    return { status: 'failed', exitCode: EXIT.RUNTIME, message, driver };
  }
  if (existsSync(errFile)) {
    const e = JSON.parse(readFileSync(errFile, 'utf8')) as { exit_code?: number; message?: string };
    const exitCode = e.exit_code === EXIT.UNUSABLE ? EXIT.UNUSABLE : EXIT.RUNTIME;
    return { status: 'failed', exitCode, message: withDiskHint(e.message ?? 'the driver failed'), ...withDriver };
  }
  const message = fullDisk(runDir) ?? `spark-submit exited with ${outcome.code}; see ${join(runDir, 'logs', 'spark.log')}`;
  return { status: 'failed', exitCode: EXIT.RUNTIME, message, ...withDriver };
}

/** A failure thrown once the run directory exists: its exit code and message; anything else is rethrown. */
export function failureVerdict(err: unknown): Verdict {
  if (err instanceof SparkinferError) return { status: 'failed', exitCode: exitCodeFor(err), message: err.message };
  const e = err as NodeJS.ErrnoException;
  // A file of the run could not be written (job.json on a full disk, say): say which, and why.
  if (typeof e.code === 'string' && typeof e.path === 'string')
    return { status: 'failed', exitCode: EXIT.RUNTIME, message: withDiskHint(`cannot write ${e.path}: ${errnoText(err)}`) };
  throw err;
}
