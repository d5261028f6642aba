/**
 * Setting up a run: where its directory goes and the run lock (the run id is made in
 * src/plan/run-block.ts; the files inside a run directory, and their formats, are src/rundir/).
 *
 * The default root is `<output.path>.sparkinfer`, BESIDE the output rather than inside it: Spark's
 * `mode: overwrite` deletes the output directory before writing, which would take the ledger of an
 * earlier run with it. Workers append to the ledger with plain file writes, so the root is always a
 * local path (or a shared mount): tables and outputs on a URI store (s3a://, hdfs://) default to
 * `sparkinfer-runs/<table or output>` beside the job file, and a URI `resume.dir` is refused by the
 * schema (src/jobfile/uri.ts, runDirProblem).
 */
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import type { Job } from '../jobfile/schema.ts';
import { InputError } from '../errors.ts';
import { uriScheme } from '../jobfile/uri.ts';
import { stopLeftovers } from '../launch/procs.ts';
import { processAlive } from '../process-alive.ts';

export function runsRoot(job: Job, baseDir: string): string {
  if (job.resume.dir !== undefined) return localPath(resolvePath(job.resume.dir, baseDir));
  const out = job.output.path !== undefined ? resolvePath(job.output.path, baseDir) : undefined;
  if (out !== undefined && (uriScheme(out) ?? 'file') === 'file') return `${localPath(out).replace(/\/+$/, '')}.sparkinfer`;
  // `s3a://bucket/data/out` → `s3a_bucket_data_out`; a table keeps its name (`db.t`).
  const name =
    out !== undefined
      ? out.replace(/\/+$/, '').replace(/[^A-Za-z0-9_.-]+/g, '_')
      : (job.output.table ?? job.name).replace(/[^A-Za-z0-9_.-]/g, '_');
  return resolve(baseDir, 'sparkinfer-runs', name);
}

/** Whether the run directory's place was chosen for a URI output (the CLI says where it went). */
export function runsRootIsBesideJob(job: Job): boolean {
  return job.resume.dir === undefined && job.output.path !== undefined && (uriScheme(job.output.path) ?? 'file') !== 'file';
}

/** `file:/a/b` and `file:///a/b` → `/a/b`; a plain path as it is. */
function localPath(p: string): string {
  return uriScheme(p) === 'file' ? p.replace(/^file:(\/\/)?/i, '') : p;
}

/** Local paths are resolved against the job file's folder; URIs (s3a://, hdfs://, file:) are kept. */
export function resolvePath(p: string, baseDir: string): string {
  if (/^[a-z][a-z0-9+.-]*:/i.test(p)) return p;
  return isAbsolute(p) ? p : resolve(baseDir, p);
}

/**
 * Space held in every run directory for the last words of a run on a full disk: the driver
 * removes it to write driver_summary.json or driver_error.json (python/sparkinfer/driver.py
 * RESERVE_FILE), the CLI to write summary.json. Real bytes, so that a filesystem that allocates on write counts them.
 */
export const RESERVE_FILE = '.reserve';
const RESERVE_BYTES = 64 * 1024;

export function makeRunDir(root: string, runId: string): string {
  const dir = join(root, runId);
  for (const sub of ['logs', 'stats', 'ledger']) mkdirSync(join(dir, sub), { recursive: true });
  writeFileSync(join(dir, RESERVE_FILE), Buffer.alloc(RESERVE_BYTES, 0x20));
  return dir;
}

interface LockHolder {
  pid?: number;
  run_id?: string;
}

export interface LockOptions {
  /** Told what a killed holder left running and this run stopped (one line each). */
  log?: (line: string) => void;
}

/** Where a run records the process groups it starts (launch/procs.ts). */
export function pidDir(runDir: string): string {
  return join(runDir, 'pids');
}

/**
 * One run per output at a time: `<root>/LOCK` is created with O_EXCL and holds the owner's pid and
 * run id. A lock whose pid is gone (a killed run) is taken over, after stopping what that run
 * recorded in its `pids/` folder and is provably still its own (an engine, spark-submit's group):
 * the layers in launch/cleanup.ts normally leave nothing, and this is the last one.
 */
export function acquireLock(root: string, runId: string, opts: LockOptions = {}): () => void {
  mkdirSync(root, { recursive: true });
  const path = join(root, 'LOCK');
  for (let i = 0; i < 2; i++) {
    try {
      const fd = openSync(path, 'wx');
      writeSync(fd, JSON.stringify({ pid: process.pid, run_id: runId, at: new Date().toISOString() }));
      closeSync(fd);
      return () => rmSync(path, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      let holder: LockHolder = {};
      try {
        holder = JSON.parse(readFileSync(path, 'utf8')) as LockHolder;
      } catch {
        // A torn lock file: its writer died while writing it.
      }
      if (typeof holder.pid === 'number' && processAlive(holder.pid)) {
        throw new InputError(`another run (${holder.run_id ?? '?'}, pid ${holder.pid}) is using this output; lock: ${path}`);
      }
      if (typeof holder.run_id === 'string' && /^[A-Za-z0-9_.-]+$/.test(holder.run_id)) {
        let stopped: string[];
        try {
          stopped = stopLeftovers(pidDir(join(root, holder.run_id)));
        } catch (e) {
          throw new InputError(`the killed run ${holder.run_id} left processes behind: ${(e as Error).message}; lock: ${path}`);
        }
        for (const what of stopped) opts.log?.(`sparkinfer: stopped ${what}, left running by the killed run ${holder.run_id}`);
      }
      rmSync(path, { force: true });
    }
  }
  throw new InputError(`could not take the run lock ${path}`);
}
