/**
 * Finding what a test's run started, wherever it sits in the process tree: the test gives the CLI
 * an environment variable with a value of its own, every process the run starts inherits it (the
 * engine, spark-submit's JVM, the Python driver, Spark's workers, the reaper), and this reads it
 * back from `/proc/<pid>/environ`. Zombies have no environment and are not listed.
 */
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { basename } from 'node:path';

export const TAG_ENV = 'SPARKINFER_TEST_TAG';

/** A fresh tag: pass `{ [TAG_ENV]: tag }` in the CLI's environment. */
export function newTag(): string {
  return randomBytes(6).toString('hex');
}

export interface TaggedProcess {
  pid: number;
  /** The program: the file name of argv[0] (`comm` is no use for Node, which names its thread MainThread). */
  comm: string;
}

/** Live processes whose environment holds `TAG_ENV=tag`. */
export function taggedProcesses(tag: string): TaggedProcess[] {
  const needle = Buffer.from(`\0${TAG_ENV}=${tag}\0`);
  const first = Buffer.from(`${TAG_ENV}=${tag}\0`);
  const out: TaggedProcess[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const env = readFileSync(`/proc/${name}/environ`);
      if (env.indexOf(needle) === -1 && !env.subarray(0, first.length).equals(first)) continue;
      const argv0 = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0')[0] ?? '';
      out.push({ pid: Number(name), comm: basename(argv0) || readFileSync(`/proc/${name}/comm`, 'utf8').trim() });
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return out;
}
