/**
 * What `run`, `batch` and `estimate` print, in one place: log and progress lines on stderr (a
 * progress line is redrawn in place on a terminal), the summary when a run ends, an estimate's
 * projection, and a failure with `--json`'s failed summary on stdout.
 */
import { buildSummary, formatSummary } from '../report/summary.ts';
import type { Summary } from '../rundir/summary.ts';
import { EXIT, exitCodeFor } from '../exit-codes.ts';
import type { Projection, Range } from '../job/projection.ts';

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
export async function runCommand(
  json: boolean,
  start: (io: RunIo) => Promise<{ summary: Summary; exitCode: number; after?: () => Promise<void> }>,
): Promise<void> {
  const signal = interruptSignal();
  const sinks = stderrSinks();
  try {
    const { summary, exitCode, after } = await start({ log: sinks.log, progress: sinks.progress, tty: sinks.tty, signal });
    printFinished(summary, sinks, json);
    process.exitCode = exitCode;
    await after?.(); // the metrics endpoint's linger, once the summary is out
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

/** `52 s`, `3 min 20 s`, `2 h 05 min`. */
export function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return '?';
  const t = Math.round(s);
  if (t < 60) return `${t} s`;
  if (t < 3600) return `${Math.floor(t / 60)} min ${String(t % 60).padStart(2, '0')} s`;
  return `${Math.floor(t / 3600)} h ${String(Math.floor((t % 3600) / 60)).padStart(2, '0')} min`;
}

const span = (r: Range, f: (x: number) => string): string => (r.low === r.high ? f(r.mid) : `${f(r.mid)} (${f(r.low)}–${f(r.high)})`);
const int = (x: number): string => String(Math.round(x));

/** `sparkinfer estimate`'s human projection (stderr; `--json` prints the Projection itself). */
export function formatProjection(p: Projection, estimateFile: string): string {
  const c = p.completion;
  const lines = [
    `sparkinfer estimate: ${p.rows} rows; ${p.rows_done} have a result now (${c.sampled} sampled, kept in the ledger), ${p.rows_left} left for \`sparkinfer run\``,
    `  prompt tokens      ${p.prompt_tokens} (every row, counted by the engine's tokenizer)`,
  ];
  const codes = Object.entries(p.count_errors_by_code);
  if (p.rows_not_counted > 0)
    lines.push(`                     ${p.rows_not_counted} rows could not be counted: ${codes.map(([k, n]) => `${k} ×${n}`).join(', ')}`);
  const dist =
    c.mean === null
      ? 'no sampled row came back ok'
      : `mean ${c.mean}, p50 ${c.p50}, p95 ${c.p95}, ${c.hit_max_tokens} hit max_tokens (${c.max_tokens})${c.failed > 0 ? `, ${c.failed} failed` : ''}`;
  if (p.task !== 'embed') lines.push(`  completion tokens  ${span(p.completion_tokens, int)}: ${c.sampled} sampled rows, ${dist}`);
  if (p.throughput.rows_per_s !== null)
    lines.push(
      `  throughput         ${p.throughput.rows_per_s} rows/s${p.task !== 'embed' ? `, ${p.throughput.output_tokens_per_s} completion tokens/s` : ''} (the sample)`,
    );
  lines.push(
    `  wall time          ${span(p.wall_s, formatSeconds)} for the next run: start-up ${formatSeconds(p.startup_s)} + inference ${formatSeconds(p.infer_s.mid)} + wrap-up ${formatSeconds(p.tail_s)}`,
  );
  if (p.cost !== null) lines.push(`  cost               ${span(p.cost, (x) => x.toFixed(2))} for the next run: ${p.cost.basis}`);
  lines.push(`  estimate: ${estimateFile}`);
  return lines.join('\n');
}
