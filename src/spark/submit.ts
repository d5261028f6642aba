/**
 * spark-submit command building and launch. Commands are argv arrays: nothing from the job file or
 * the data is ever parsed by a shell.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync } from 'node:fs';
import { join } from 'node:path';
import type { ResolvedJob } from '../jobfile/resolved.ts';
import { javaFlag, mergeJavaOptions, type JvmArchiveMode } from './jvm-archive.ts';
import { storageConf } from './storage.ts';
import { tableConf } from './tables.ts';
import { driverScript, venvDir } from '../install/layout.ts';
import { findOnPath } from '../launch/paths.ts';
import { RuntimeFailure } from '../errors.ts';
import { killGroup, track, untrack, withParentDeathSignal } from '../launch/cleanup.ts';

export interface SubmitPaths {
  /** Package folder (holds python/ and dist/; its venv: install/layout.ts venvDir). */
  root: string;
  jobJson: string;
  workerBundle: string;
}

/** `$SPARKINFER_SPARK_SUBMIT`, else the venv's spark-submit (layout.ts venvDir), else `spark-submit` on PATH. */
export function sparkSubmitBin(root: string): string {
  const fromEnv = process.env.SPARKINFER_SPARK_SUBMIT;
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  const venv = join(venvDir(root), 'bin', 'spark-submit');
  return existsSync(venv) ? venv : 'spark-submit';
}

/** sparkSubmitBin, checked before a run starts anything: a RuntimeFailure that says to run setup when there is none. */
export function requireSparkSubmit(root: string): string {
  const bin = sparkSubmitBin(root);
  if (bin.includes('/') ? existsSync(bin) : findOnPath(bin) !== undefined) return bin;
  throw new RuntimeFailure(
    bin.includes('/')
      ? `spark-submit not found: ${bin} does not exist`
      : `spark-submit not found: there is no venv at ${venvDir(root)} and no spark-submit on PATH; run \`sparkinfer setup\` (in a checkout: \`npm run setup\`)`,
  );
}

/** The venv's python (layout.ts venvDir), else `python3` on PATH. */
export function pythonBin(root: string): string {
  const venv = join(venvDir(root), 'bin', 'python');
  return existsSync(venv) ? venv : 'python3';
}

export function isLocalMaster(master: string): boolean {
  return master === 'local' || master.startsWith('local[');
}

export interface SubmitExtra {
  uiPort?: number;
  nodePath: string;
  /** The driver JVM's class-data archive (jvm-archive.ts): mapped, or written at exit. */
  jvmArchive?: JvmArchiveMode;
  /** Jars for Spark's class path (storage.ts: s3a and the S3A committers; tables.ts: delta, iceberg), passed with --jars. */
  jars?: string[];
  /** Where spark-submit's pid file goes (`<run dir>/pids`), for a rerun after a crash. */
  pidDir?: string;
}

/** Builds the spark-submit argv (without the binary). */
export function buildSubmitArgs(job: ResolvedJob, paths: SubmitPaths, extra: SubmitExtra): string[] {
  const conf: Record<string, string> = {
    'spark.ui.showConsoleProgress': 'false',
    // Inference must run once per row: never speculate a task that talks to the engine.
    'spark.speculation': 'false',
    'spark.sql.adaptive.enabled': 'true',
    // Keys such as *_API_KEY / *_TOKEN are masked in the UI, the event log and the REST API.
    'spark.redaction.regex': '(?i)secret|password|token|access[.]key|api_key|apikey|_key$',
  };
  if (extra.uiPort !== undefined) conf['spark.ui.port'] = String(extra.uiPort);
  if (!isLocalMaster(job.spark.master)) {
    conf['spark.executorEnv.SPARKINFER_NODE'] = extra.nodePath;
    const keyEnv = job.engine.api_key_env;
    const key = keyEnv !== undefined ? process.env[keyEnv] : undefined;
    // A standalone cluster's executors don't inherit our environment; the key travels as an
    // executorEnv entry, which spark.redaction.regex above masks.
    if (keyEnv !== undefined && key !== undefined) conf[`spark.executorEnv.${keyEnv}`] = key;
  }
  Object.assign(conf, storageConf(job), tableConf(job));
  for (const [k, v] of Object.entries(job.spark.conf)) conf[k] = String(v);
  if (extra.jvmArchive !== undefined) {
    const key = 'spark.driver.extraJavaOptions';
    conf[key] = mergeJavaOptions(conf[key], javaFlag(extra.jvmArchive));
  }
  // --jars replaces a `spark.jars` conf: the job's own jars travel in the same list, first.
  const jars = [...(conf['spark.jars'] ?? '').split(',').filter((j) => j.trim() !== ''), ...(extra.jars ?? [])];
  delete conf['spark.jars'];
  const args = ['--master', job.spark.master, '--name', `sparkinfer:${job.name}:${job.run.id}`];
  for (const [k, v] of Object.entries(conf)) args.push('--conf', `${k}=${v}`);
  if (jars.length > 0) args.push('--jars', jars.join(','));
  args.push('--files', `${paths.jobJson},${paths.workerBundle}`);
  args.push(driverScript(paths.root), '--job', paths.jobJson);
  return args;
}

export interface SparkProcess {
  child: ChildProcess;
  exited: Promise<number>;
  /** Signals the whole process group: the JVM, the Python driver and the local workers. */
  signal(sig: NodeJS.Signals): void;
}

/**
 * Starts spark-submit in its own process group, its output going to `logFile`. The group is
 * tracked (launch/cleanup.ts) until it exits, so it does not outlive this process.
 */
export function startSparkSubmit(job: ResolvedJob, paths: SubmitPaths, logFile: string, extra: SubmitExtra): SparkProcess {
  const fd = openSync(logFile, 'a');
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    SPARKINFER_NODE: extra.nodePath,
    PYSPARK_PYTHON: process.env.PYSPARK_PYTHON ?? pythonBin(paths.root),
    PYSPARK_DRIVER_PYTHON: process.env.PYSPARK_DRIVER_PYTHON ?? pythonBin(paths.root),
    PYTHONUNBUFFERED: '1',
    // Epoch ms of the CLI's start and of this spawn: the driver puts them first in driver_summary.json's `timings`.
    SPARKINFER_T_CLI_START: String(Math.round(performance.timeOrigin)),
    SPARKINFER_T_SUBMIT: String(Date.now()),
  };
  // The driver notes in its log whether the JVM mapped the archive (python/sparkinfer/driver.py).
  if (extra.jvmArchive !== undefined && 'use' in extra.jvmArchive) env.SPARKINFER_JVM_ARCHIVE_FILE = extra.jvmArchive.use;
  else delete env.SPARKINFER_JVM_ARCHIVE_FILE;
  const bin = sparkSubmitBin(paths.root);
  const [file, args] = withParentDeathSignal(bin, buildSubmitArgs(job, paths, extra));
  const child = spawn(file, args, { stdio: ['ignore', fd, fd], detached: true, env });
  closeSync(fd); // the child has its own copy
  const pid = child.pid;
  if (pid !== undefined) track(pid, { role: 'spark', command: bin, ...(extra.pidDir !== undefined ? { pidDir: extra.pidDir } : {}) });
  const exited = new Promise<number>((resolveExit) => {
    child.on('exit', (code, sig) => {
      // The JVM is gone; the Python driver and local workers it left in its group go too.
      if (pid !== undefined) {
        killGroup(pid, 'SIGKILL');
        untrack(pid);
      }
      resolveExit(code ?? (sig !== null ? 128 + 9 : 1));
    });
    child.on('error', () => resolveExit(127));
  });
  const signal = (sig: NodeJS.Signals): void => {
    if (pid !== undefined) killGroup(pid, sig);
  };
  return { child, exited, signal };
}

/** Kills spark-submit's whole process group (JVM, Python driver, workers). */
