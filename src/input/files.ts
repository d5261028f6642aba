/**
 * Which local files a file input reads, as Spark would list them, without Spark: a file, a directory
 * of part files (names starting with `_` or `.` are skipped, `k=v` subdirectories are partition
 * columns), or a glob (`*`, `?`, `[…]`, `{a,b}`) that counts as existing when it matches. Used by
 * the pre-run checks (src/job/preflight.ts) to say that a path is missing and to read columns.
 */
import { globSync, readdirSync, statSync, type Stats } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { closest } from '../jobfile/did-you-mean.ts';
import { uriScheme } from '../jobfile/uri.ts';

/** More files than this and we stop listing: the check is skipped rather than slow. */
const MAX_FILES = 10_000;

export type Listing =
  /** The path names nothing; `message` says so (with a near name when there is one). */
  | { kind: 'missing'; message: string }
  /** We cannot tell without Spark; `reason` says why. */
  | { kind: 'unchecked'; reason: string }
  /**
   * The data files in Spark's order of listing (sorted), and the partition columns their
   * directories name. `exact` is false where Spark's partition discovery could differ (globs).
   */
  | { kind: 'files'; files: string[]; partitions: string[]; exact: boolean };

/** The local path of a job's (already resolved) input path, or undefined for a store URI (s3a://, hdfs://). */
export function localPathOf(p: string): string | undefined {
  const scheme = uriScheme(p);
  if (scheme === undefined) return p;
  if (scheme !== 'file') return undefined;
  return p.replace(/^file:(\/\/(?=\/))?/, '');
}

const isGlob = (p: string): boolean => /[*?[\]{}\\]/.test(p);
const isData = (name: string): boolean => !name.startsWith('_') && !name.startsWith('.');

function statOf(p: string): Stats | undefined {
  try {
    return statSync(p);
  } catch {
    return undefined;
  }
}

/** "does not exist", with the sibling a typo most likely meant. */
function missing(p: string): Listing {
  let near: string | undefined;
  try {
    near = closest(basename(p), readdirSync(dirname(p)));
  } catch {
    // the folder is missing too
  }
  return { kind: 'missing', message: `${p} does not exist${near === undefined ? '' : ` (did you mean ${JSON.stringify(near)}?)`}` };
}

interface Walk {
  files: string[];
  partitions: Set<string>;
  problem?: string;
}

/** Lists a directory's data files; `k=v` subdirectories add `k` (unless `recursive`, Spark's recursiveFileLookup). */
function walkDir(dir: string, recursive: boolean, w: Walk): void {
  for (const name of readdirSync(dir).sort()) {
    if (w.problem !== undefined) return;
    if (!isData(name)) continue;
    const full = join(dir, name);
    const st = statOf(full);
    if (st === undefined) continue;
    if (st.isDirectory()) {
      const m = /^([^=]+)=/.exec(name);
      if (!recursive && m === null) {
        w.problem = `${full} is a folder that is not a partition (name=value)`;
        return;
      }
      if (!recursive && m !== null) w.partitions.add(m[1] as string);
      walkDir(full, recursive, w);
    } else if (st.isFile()) {
      w.files.push(full);
      if (w.files.length > MAX_FILES) w.problem = `more than ${MAX_FILES} files`;
    }
  }
}

/**
 * The data files of a local input path. @param recursive Spark's `recursiveFileLookup` option:
 * every file below, no partition columns.
 */
export function listInput(path: string, recursive = false): Listing {
  const roots = isGlob(path) ? globSync(path).sort() : [path];
  if (roots.length === 0) return { kind: 'missing', message: `${path} matches no file` };
  const w: Walk = { files: [], partitions: new Set() };
  for (const root of roots) {
    const st = statOf(root);
    if (st === undefined) return isGlob(path) ? { kind: 'unchecked', reason: `${root} cannot be read` } : missing(root);
    if (st.isDirectory()) walkDir(root, recursive, w);
    else if (isData(basename(root)) || root === path) w.files.push(root);
    if (w.problem !== undefined) return { kind: 'unchecked', reason: w.problem };
  }
  if (w.files.length === 0) return { kind: 'unchecked', reason: `${path} holds no data files` };
  // A glob's partition folders depend on Spark's base path: known columns, but maybe not all.
  return { kind: 'files', files: w.files, partitions: [...w.partitions], exact: !isGlob(path) || w.partitions.size === 0 };
}
