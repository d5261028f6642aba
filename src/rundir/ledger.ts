/**
 * The ledger's file format, for its readers: `<run>/ledger/<worker id>.jsonl`, one finished result
 * per line (the worker's result line, src/worker/output.ts), appended by src/worker/ledger.ts
 * before the result reaches stdout. A killed writer can leave a torn last line; readers skip it.
 * Read by the run report (src/report/run-report.ts) and the tests; the Python driver reads the
 * same files (python/sparkinfer/resume.py).
 */
import { RuntimeFailure } from '../errors.ts';

/**
 * The marker file of a run directory whose output was committed (or that `--fresh` set aside): its
 * ledgers are never read again, by the CLI (src/job/resume.ts), the worker's stage ledgers
 * (src/worker/stage-ledger.ts) or the driver (python/sparkinfer/resume.py).
 */
export const CONSUMED = 'CONSUMED';

/**
 * Parses ledger text, skipping a torn (unterminated or unparseable) last line.
 * @throws RuntimeFailure for an unparseable line before the last: the run's own record is damaged.
 */
export function parseLedgerText(text: string): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = [];
  const lines = text.split('\n');
  lines.forEach((line, i) => {
    if (line === '') return;
    try {
      out.push(JSON.parse(line) as Record<string, unknown>);
    } catch (err) {
      if (i !== lines.length - 1) throw new RuntimeFailure(`ledger line ${i + 1} is corrupt: ${(err as Error).message}`, { cause: err });
    }
  });
  return out;
}
