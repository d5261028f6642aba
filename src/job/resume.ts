/**
 * The CLI's early look at earlier runs (docs/architecture.md, "Reliability model", 4). The driver
 * (python/sparkinfer/resume.py) makes the same checks and does the resume itself; doing them here
 * too makes a changed job an exit 2 in milliseconds, before an engine or a JVM starts.
 *
 * A run directory under the runs root is *resumable* when it has ledger lines, a `job.json` and no
 * `CONSUMED` marker. A resumable run with another fingerprint means the job changed: refused unless
 * `--fresh`, which marks such runs consumed (ignored from then on).
 */
import { existsSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { canonicalJson } from '../jobfile/fingerprint.ts';
import { InputError } from '../errors.ts';
import { CONSUMED } from '../rundir/ledger.ts';

/** The job sections the fingerprint covers (src/jobfile/fingerprint.ts), for saying what changed. */
const FINGERPRINTED = ['task', 'input', 'prompt', 'model', 'sampling', 'response'] as const;

export interface EarlierRun {
  id: string;
  dir: string;
  fingerprint: string;
  /** The earlier run's job.json. */
  job: Record<string, unknown>;
  /** Ledger files with content. */
  ledgerFiles: string[];
}

function ledgerFiles(runDir: string): string[] {
  const d = join(runDir, 'ledger');
  let names: string[];
  try {
    names = readdirSync(d).sort();
  } catch {
    return [];
  }
  const withContent = (p: string): boolean => {
    try {
      const st = statSync(p);
      return st.isFile() && st.size > 0;
    } catch {
      return false;
    }
  };
  return names
    .filter((n) => n.endsWith('.jsonl'))
    .map((n) => join(d, n))
    .filter(withContent);
}

/** Unconsumed earlier runs of this output that finished at least one row, oldest first. */
export function earlierRuns(root: string, currentId: string): EarlierRun[] {
  let names: string[];
  try {
    names = readdirSync(root).sort();
  } catch {
    return [];
  }
  const out: EarlierRun[] = [];
  for (const id of names) {
    const dir = join(root, id);
    if (id === currentId || existsSync(join(dir, CONSUMED))) continue;
    const files = ledgerFiles(dir);
    if (files.length === 0) continue;
    let job: Record<string, unknown>;
    try {
      job = JSON.parse(readFileSync(join(dir, 'job.json'), 'utf8')) as Record<string, unknown>;
    } catch {
      continue;
    }
    const run = (job.run ?? {}) as { fingerprint?: unknown };
    out.push({ id, dir, fingerprint: typeof run.fingerprint === 'string' ? run.fingerprint : '', job, ledgerFiles: files });
  }
  return out;
}

/** Which fingerprinted sections differ (`prompt, sampling`), or the input data when none does. */
export function describeChange(earlier: Record<string, unknown>, current: Record<string, unknown>): string {
  const changed = FINGERPRINTED.filter((s) => canonicalJson(earlier[s] ?? null) !== canonicalJson(current[s] ?? null));
  return changed.length > 0 ? changed.join(', ') : 'the input data (file sizes or modification times)';
}

/** Marks a run consumed: its ledger is never read again. */
export function markConsumed(runDir: string, by: string, reason: 'fresh' | 'resumed' | 'completed'): void {
  const path = join(runDir, CONSUMED);
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, `${JSON.stringify({ by, reason, at: new Date().toISOString() })}\n`);
  renameSync(tmp, path);
}

export interface ResumeCheck {
  root: string;
  runId: string;
  fingerprint: string;
  /** The job as it will be written to job.json (paths resolved), to compare sections. */
  job: Record<string, unknown>;
  fresh: boolean;
}

/**
 * Returns the runs the driver will resume from. Throws an InputError (exit 2) when one of them
 * belongs to a changed job. With `fresh`, marks every earlier unconsumed run consumed and returns [].
 */
export function checkEarlierRuns(c: ResumeCheck): EarlierRun[] {
  const runs = earlierRuns(c.root, c.runId);
  if (c.fresh) {
    for (const r of runs) markConsumed(r.dir, c.runId, 'fresh');
    return [];
  }
  for (const r of runs) {
    if (r.fingerprint !== c.fingerprint) {
      throw new InputError(
        `the job changed since run ${r.id} (changed: ${describeChange(r.job, c.job)}); rerun with --fresh to start over, or restore the job to resume it`,
      );
    }
  }
  return runs;
}
