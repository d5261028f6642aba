/**
 * The driver JVM's class-data archive (Java's AppCDS, JDK 13+ "dynamic archive"): the classes a
 * sparkinfer job loads (Spark core, Catalyst, Parquet, Jetty, Netty…), parsed and verified once
 * and then memory-mapped by every later driver JVM instead of being loaded from ~250 jars again.
 *
 * Why: a one-row job spends most of its ~20 s in the JVM loading classes. Measured here (2 vCPUs,
 * Java 17, Spark 4.0.1), a minimal read-JSON/write-Parquet job took 14–16 s and 24 CPU-s without
 * the archive and 9–10 s and 16 CPU-s with it (docs/architecture.md, "The JVM class-data archive").
 *
 * How:
 * - `sparkinfer jvm-archive` (and `npm run setup`) runs a small real job once with
 *   `-XX:ArchiveClassesAtExit=FILE`; the JVM writes FILE when it exits (~175 MB, ~45 s here).
 * - Every later `sparkinfer run` adds `-XX:SharedArchiveFile=FILE` to the driver's
 *   `spark.driver.extraJavaOptions` (after the job's own value) when FILE exists.
 * - The JVM checks the archive against its own build and class path. One made by another Java or
 *   another Spark install is refused with one warning line in spark.log, and the job runs as without
 *   it. The file name is keyed by the spark-submit and java files (paths and times), so a second
 *   install, a reinstall or another Java gets its own archive instead of refusing the first one's.
 *
 * Only the driver JVM uses it: in local mode that is the whole of Spark; on a standalone cluster
 * the executors start their own JVMs on other machines; on Kubernetes the driver runs in a pod.
 * `SPARKINFER_JVM_ARCHIVE=off` turns it off.
 */
import { createHash } from 'node:crypto';
import { existsSync, realpathSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { cacheDir, findOnPath } from '../launch/paths.ts';

type Env = Readonly<Record<string, string | undefined>>;

/** A file's real path and modification time: a reinstall at the same path is another install. */
function identity(path: string | undefined): string {
  if (path === undefined) return '';
  try {
    const real = realpathSync(path);
    return `${real}@${Math.round(statSync(real).mtimeMs)}`;
  } catch {
    return path;
  }
}

/**
 * `<cache>/jvm/spark-driver-<key>.jsa`, the key a hash of the spark-submit and java that will run
 * the driver: their real paths and modification times, and `JAVA_HOME` (which spark-submit prefers
 * over `PATH`). The JVM refuses an archive whose jars changed since it was written; keying by the
 * files' times gives a re-created venv at the same path its own archive instead of a refused one.
 */
export function jvmArchivePath(sparkSubmit: string, env: Env = process.env): string {
  const submit = sparkSubmit.includes('/') ? sparkSubmit : (findOnPath(sparkSubmit, env) ?? sparkSubmit);
  const javaHome = env.JAVA_HOME ?? '';
  const java = javaHome !== '' ? join(javaHome, 'bin', 'java') : findOnPath('java', env);
  const key = createHash('sha256')
    .update([identity(submit), javaHome, identity(java)].join('\0'))
    .digest('hex')
    .slice(0, 16);
  return join(cacheDir(env), 'jvm', `spark-driver-${key}.jsa`);
}

/** What the driver JVM does with the archive in one run. */
export type JvmArchiveMode = { use: string } | { create: string };

/**
 * The archive to use for a run, or undefined: off by `SPARKINFER_JVM_ARCHIVE=off`, not built yet,
 * or at a path that spark's option parsing would split (whitespace or quotes in the cache path).
 */
export function archiveToUse(sparkSubmit: string, env: Env = process.env): { use: string } | undefined {
  if ((env.SPARKINFER_JVM_ARCHIVE ?? '').toLowerCase() === 'off') return undefined;
  const path = jvmArchivePath(sparkSubmit, env);
  return existsSync(path) && safeInOptions(path) ? { use: path } : undefined;
}

/** Spark splits `extraJavaOptions` on whitespace and honours quotes: keep such paths out. */
export function safeInOptions(path: string): boolean {
  return !/[\s"'\\]/.test(path);
}

/** The JVM flag for a mode. */
export function javaFlag(mode: JvmArchiveMode): string {
  return 'use' in mode ? `-XX:SharedArchiveFile=${mode.use}` : `-XX:ArchiveClassesAtExit=${mode.create}`;
}

/** The job's own `spark.driver.extraJavaOptions`, if any, then ours: the JVM takes the last of a repeated flag. */
export function mergeJavaOptions(own: string | undefined, flag: string): string {
  return own !== undefined && own.trim() !== '' ? `${own.trim()} ${flag}` : flag;
}
