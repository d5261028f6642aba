/**
 * What `run` and `batch` print, in one place: log and progress lines on stderr (a progress line
 * is redrawn in place on a terminal), the summary when a run ends, and a failure with `--json`'s
 * failed summary on stdout.
 */
import { buildSummary, formatSummary, type Summary } from '../report/summary.ts';
import { EXIT, exitCodeFor } from '../exit-codes.ts';

export interface StderrSinks {
  tty: boolean;
  log(line: string): void;
  progress(line: string): void;
}

/**
 * The signal a long command (`run`, `batch`) passes down: the first Ctrl-C or SIGTERM says so and
 * aborts it, so Spark and the engines are stopped in order; a second one exits at once (130).
 */
export function interruptSignal(): AbortSignal {
  const ac = new AbortController();
  let interrupts = 0;
  const onSig = (): void => {
    interrupts++;
    if (interrupts > 1) process.exit(EXIT.INTERRUPTED);
    process.stderr.write('\nsparkinfer: interrupted; stopping Spark and the engines (Ctrl-C again to force)\n');
    ac.abort();
  };
  process.on('SIGINT', onSig);
  process.on('SIGTERM', onSig);
  return ac.signal;
}

/** What a long command's runner gets: where its log and progress lines go, and the Ctrl-C signal. */
export interface RunIo {
  log(line: string): void;
  progress(line: string): void;
  tty: boolean;
  signal: AbortSignal;
}

/**
 * Runs `run` or `batch` to its end, the one way: Ctrl-C aborts it (`interruptSignal`), the summary
 * is printed when it ends, and a run that could not start or crashed prints its failure and exits
 * with its code (never 0).
 */
export async function runCommand(json: boolean, start: (io: RunIo) => Promise<{ summary: Summary; exitCode: number }>): Promise<void> {
  const signal = interruptSignal();
  const sinks = stderrSinks();
  try {
    const { summary, exitCode } = await start({ log: sinks.log, progress: sinks.progress, tty: sinks.tty, signal });
    printFinished(summary, sinks, json);
    process.exitCode = exitCode;
  } catch (err) {
    const code = printFailure(err, json);
    process.exit(code === EXIT.OK ? EXIT.RUNTIME : code);
  }
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
