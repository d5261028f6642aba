/**
 * The prepare phase of a local run (run, estimate and batch alike), before Spark starts: the
 * worker bundle, spark-submit and the s3a:// jars are there; the run directory is made under the
 * run lock; a changed job is refused while earlier runs wait to be resumed (exit 2, before an
 * engine or a JVM starts); a launched engine is started (it returns at once, the model loads while
 * Spark starts).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Job } from '../jobfile/schema.ts';
import { requireSparkSubmit } from '../spark/submit.ts';
import { cloudJars, cloudJarsDir, usesS3a } from '../spark/storage.ts';
import { tableJars, tableJarsDir } from '../spark/tables.ts';
import { freePort } from '../launch/port.ts';
import { startEngine, type LocalEngine } from '../launch/engine.ts';
import { errnoText, RuntimeFailure, SparkinferError } from '../errors.ts';
import { packageRoot, workerBundlePath } from '../install/layout.ts';
import { newRunId } from '../plan/run-block.ts';
import { acquireLock, makeRunDir, pidDir, runsRoot, runsRootIsBesideJob } from './run-setup.ts';
import { checkEarlierRuns } from './resume.ts';
import { withDiskHint } from './disk.ts';

/**
 * The worker bundle and spark-submit exist; the s3a:// jars when the job reads or writes s3a://, the
 * table jars when it writes delta or iceberg. Returns the jars for --jars (undefined: none).
 */
export function requireTools(job: Job): string[] | undefined {
  if (!existsSync(workerBundlePath()))
    throw new RuntimeFailure(
      `worker bundle missing at ${workerBundlePath()}; in a checkout run 'npm run setup', else reinstall sparkinfer`,
    );
  requireSparkSubmit(packageRoot());
  const cloud = cloudJars();
  if (cloud.missing.length > 0 && usesS3a(job)) {
    throw new RuntimeFailure(
      `s3a:// needs hadoop-aws and the AWS SDK jars, and ${cloud.missing.length} of them are missing from ${cloudJarsDir()}; ${SETUP_HINT}`,
    );
  }
  const tables = tableJars(job);
  if (tables.missing.length > 0)
    throw new RuntimeFailure(
      `output.format ${job.output.format} needs its jars, and ${tables.missing.length} of them are missing from ${tableJarsDir()}; ${SETUP_HINT}`,
    );
  const jars = [...(cloud.missing.length === 0 ? cloud.jars : []), ...tables.jars];
  return jars.length > 0 ? jars : undefined;
}

const SETUP_HINT = "run 'npm run setup' in a checkout, 'sparkinfer setup' for an installed package";

export interface OpenRun {
  runId: string;
  root: string;
  runDir: string;
  /** Gives the run lock back. */
  release: () => void;
}

/** A new run id and its directory, under the lock of the output's run root. */
export function openRunDir(job: Job, baseDir: string, log: (line: string) => void): OpenRun {
  const runId = newRunId(job.name);
  const root = runsRoot(job, baseDir);
  const release = acquireLock(root, runId, { log });
  let runDir: string;
  try {
    runDir = makeRunDir(root, runId);
  } catch (err) {
    release();
    throw new RuntimeFailure(withDiskHint(`cannot create the run directory ${join(root, runId)}: ${errnoText(err)}`));
  }
  if (runsRootIsBesideJob(job))
    log(
      `sparkinfer: the output is on ${job.output.path?.split(':')[0]}://, so the run directory (ledger, logs) is local: ${runDir} (set resume.dir to a shared path on a cluster)`,
    );
  return { runId, root, runDir, release };
}

/** Refuses a changed job while earlier runs are unconsumed (unless fresh); logs those it resumes. */
export function checkResumable(run: OpenRun, job: Job, fp: string, fresh: boolean, log: (line: string) => void): void {
  const resumable = checkEarlierRuns({ root: run.root, runId: run.runId, fingerprint: fp, job, fresh });
  if (resumable.length > 0)
    log(
      `sparkinfer: resuming from ${resumable.length} earlier run(s) (${resumable.map((r) => r.id).join(', ')}); finished rows are not inferred again`,
    );
}

/** Starts `engine.launch` when there is one; the endpoint is then its own, else `engine.endpoint`. */
export async function startLaunchedEngine(
  job: Job,
  runDir: string,
  baseDir: string,
  log: (line: string) => void,
): Promise<{ endpoint: string; engine?: LocalEngine }> {
  const launch = job.engine.launch;
  if (launch === undefined) return { endpoint: job.engine.endpoint ?? '' };
  const port = await freePort();
  const endpoint = `http://127.0.0.1:${port}/v1`;
  const logFile = join(runDir, 'logs', 'engine.log');
  const engine = await startEngine({
    kind: launch.kind,
    model: launch.model,
    alias: job.model,
    args: launch.args,
    parallel: launch.parallel,
    ctxPerSlot: launch.ctx_per_slot,
    maxRestarts: launch.max_restarts,
    port,
    embeddings: launch.embeddings ?? job.task === 'embed',
    logFile,
    pidDir: pidDir(runDir),
    baseDir,
    ...(launch.threads !== undefined ? { threads: launch.threads } : {}),
    logger: { info: (l: string) => log(l), warn: (l: string) => log(l) },
  });
  log(`sparkinfer: started ${launch.kind} (${launch.model}) at ${endpoint}; log: ${logFile}`);
  return { endpoint, engine };
}
