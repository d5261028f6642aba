/**
 * What `run` and `batch` print, in one place: log and progress lines on stderr (a progress line
 * is redrawn in place on a terminal), the summary when a run ends, and a failure with `--json`'s
 * failed summary on stdout.
 */
import { buildSummary, formatSummary, type Summary } from '../report/summary.ts';
import { exitCodeFor } from '../exit-codes.ts';

export interface StderrSinks {
  tty: boolean;
  log(line: string): void;
  progress(line: string): void;
}

export function stderrSinks(): StderrSinks {
  const tty = process.stderr.isTTY === true;
  return {
    tty,
    log: (l) => process.stderr.write(`${tty ? '\r\x1b[K' : ''}${l}\n`),
    progress: (l) => process.stderr.write(tty ? `\r\x1b[K${l}` : `${l}\n`),
  };
}

/** A run that ended (ok or not): the summary on stderr, and as JSON on stdout with `--json`. */
export function printFinished(summary: Summary, sinks: StderrSinks, json: boolean): void {
  if (sinks.tty) process.stderr.write('\r\x1b[K');
  process.stderr.write(`${formatSummary(summary)}\n`);
  if (json) process.stdout.write(`${JSON.stringify(summary)}\n`);
}

/** A run that could not start or crashed: the message on stderr, a failed summary with `--json`. Returns the exit code. */
export function printFailure(err: unknown, json: boolean): number {
  const code = exitCodeFor(err);
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(`sparkinfer: ${message}\n`);
  if (json)
    process.stdout.write(
      `${JSON.stringify(buildSummary({ runId: '', runDir: '', wallMs: 0, status: 'failed', exitCode: code, output: null, message }))}\n`,
    );
  return code;
}
