/**
 * What `validate` and `run` can know about a job before anything starts, beyond the schema: the
 * input path exists, the columns the job reads are in the input (check-columns.ts), and the
 * sampling keys suit the engine kind (check-sampling.ts). Errors are lines in the loader's form
 * (`job.yaml:4:12 prompt.user: …`, exit 2); warnings are printed and the command goes on; notes say
 * what could not be checked (validate prints them, run does not).
 */
import { SpecError } from '../errors.ts';
import type { LocatedJob } from '../jobfile/load.ts';
import { checkInputColumns } from './check-columns.ts';
import { checkSamplingKeys } from './check-sampling.ts';
import type { Findings } from './findings.ts';

export type { Findings };

/** Runs every pre-run check; reads only the job file's input files (their first bytes, or footers). */
export function preflight(located: LocatedJob, baseDir: string, o: { input?: boolean } = {}): Findings {
  const f: Findings = { errors: [], warnings: [], notes: [] };
  // infer() takes a DataFrame in place of the job's input: it checks the columns itself.
  if (o.input !== false) checkInputColumns(located, baseDir, f);
  checkSamplingKeys(located, f);
  return f;
}

/**
 * Prints the warnings (and notes, with `notes`), then throws a SpecError with every error line.
 * @param print one line to stderr
 */
export function reportPreflight(f: Findings, jobPath: string, print: (line: string) => void, notes: boolean): void {
  for (const w of byPosition(f.warnings)) print(w);
  if (notes) for (const n of f.notes) print(`${jobPath}: ${n}`);
  if (f.errors.length > 0) throw new SpecError(byPosition(f.errors).join('\n'));
}

/** Lines in file order, as the loader sorts its own; `--set` lines keep their order, last. */
function byPosition(lines: readonly string[]): string[] {
  const key = (l: string): number => {
    const m = /^.*?:(\d+):(\d+) /.exec(l);
    return m === null || l.startsWith('--set ') ? Number.MAX_SAFE_INTEGER : Number(m[1]) * 1e6 + Number(m[2]);
  };
  return [...lines].sort((a, b) => key(a) - key(b));
}
