/**
 * The infer phase of a local run: job.json written into the run directory, the driver
 * spark-submitted, progress drawn once a second (the workers' stats, Spark's tasks and the
 * timeline's verdict so far) until spark-submit exits, the launched engine gives up or the run is
 * interrupted. Spark never outlives this phase.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ResolvedJob } from '../jobfile/resolved.ts';
import { isLocalMaster, sparkSubmitBin, startSparkSubmit, type SparkProcess } from '../spark/submit.ts';
import { archiveToUse, type JvmArchiveMode } from '../spark/jvm-archive.ts';
import { ProgressTicker, sparkTasks } from '../spark/progress.ts';
import { formatVerdict } from '../report/timeline.ts';
import { Timeline } from './timeline.ts';
import { onEachSecond } from '../rundir/second-timer.ts';
import { freePort } from '../launch/port.ts';
import type { LocalEngine } from '../launch/engine.ts';
import { packageRoot, workerBundlePath } from '../install/layout.ts';
import { pidDir } from './run-setup.ts';

/** How the inference ended: spark-submit exited (with its code), the engine gave up, or the run was interrupted. */
export type InferOutcome = { kind: 'exit'; code: number } | { kind: 'engine'; message: string } | { kind: 'abort' };

export interface InferOptions {
  resolved: ResolvedJob;
  engine: LocalEngine | undefined;
  /** The s3a:// jars when all are present, and the table format's jars (prepare.ts requireTools). */
  jars: string[] | undefined;
  jvmArchive: JvmArchiveMode | undefined;
  startedMs: number;
  tty: boolean;
  log: (line: string) => void;
  progress: (line: string) => void;
  signal: AbortSignal | undefined;
  /** Gets the run's timeline once Spark runs: the report is drawn from it, even when this phase throws. */
  onTimeline: (timeline: Timeline) => void;
}

export async function inferPhase(o: InferOptions): Promise<InferOutcome> {
  const { resolved } = o;
  const runDir = resolved.run.dir;
  const jobJson = join(runDir, 'job.json');
  writeFileSync(jobJson, JSON.stringify(resolved, null, 2));
  const uiPort = isLocalMaster(resolved.spark.master) ? await freePort() : undefined;
  // The driver stops the whole run when this process dies (python/sparkinfer/watch.py).
  process.env.SPARKINFER_CLI_PID = String(process.pid);
  const jvmArchive = o.jvmArchive ?? archiveToUse(sparkSubmitBin(packageRoot()));
  const spark = startSparkSubmit(
    resolved,
    { root: packageRoot(), jobJson, workerBundle: workerBundlePath() },
    join(runDir, 'logs', 'spark.log'),
    {
      nodePath: process.execPath,
      pidDir: pidDir(runDir),
      ...(uiPort !== undefined ? { uiPort } : {}),
      ...(jvmArchive !== undefined ? { jvmArchive } : {}),
      ...(o.jars !== undefined ? { jars: o.jars } : {}),
    },
  );
  let stopDrawing: (() => void) | undefined;
  try {
    o.log(`sparkinfer: run ${resolved.run.id} started; spark log: ${join(runDir, 'logs', 'spark.log')}`);
    stopDrawing = drawProgress(o, uiPort);
    const outcome = await firstEnd(spark, o.engine, o.signal);
    if (outcome.kind !== 'exit') await stopSpark(spark);
    return outcome;
  } finally {
    stopDrawing?.();
    if (spark.child.exitCode === null) spark.signal('SIGKILL');
  }
}

/** Once a second: the timeline samples, and the progress line says where the time goes so far (the report's verdict). */
function drawProgress(o: InferOptions, uiPort: number | undefined): () => void {
  const { run, engine } = o.resolved;
  const ticker = new ProgressTicker({
    runDir: run.dir,
    tty: o.tty,
    startedMs: o.startedMs,
    ...(uiPort !== undefined ? { fetchTasks: () => sparkTasks(uiPort) } : {}),
  });
  const tl = new Timeline({
    runDir: run.dir,
    engineKind: run.engine_kind,
    startedMs: o.startedMs,
    engineRoot: run.endpoint.replace(/\/v1\/?$/, ''),
    apiKey: engine.api_key_env !== undefined ? process.env[engine.api_key_env] : undefined,
  });
  o.onTimeline(tl);
  let sampling = false;
  // Half-way between the workers' writes (on the second): every stats file then describes the same instant.
  return onEachSecond(() => {
    if (!sampling) {
      sampling = true;
      void tl.sample(Date.now()).finally(() => {
        sampling = false;
      });
    }
    void ticker.tick(Date.now()).then((line) => {
      if (line !== undefined) {
        const v = formatVerdict(tl.verdict());
        o.progress(v !== '' ? `${line} ${v}` : line);
      }
    });
  }, 500);
}

/** Whichever comes first: spark-submit's exit, the launched engine giving up, the signal. */
function firstEnd(spark: SparkProcess, engine: LocalEngine | undefined, signal: AbortSignal | undefined): Promise<InferOutcome> {
  const engineGaveUp = new Promise<string>((res) =>
    engine?.on('giveup', () => res('the local engine crashed more often than engine.launch.max_restarts allows')),
  );
  const aborted = new Promise<string>((res) => signal?.addEventListener('abort', () => res('cancelled'), { once: true }));
  return Promise.race([
    spark.exited.then((c) => ({ kind: 'exit' as const, code: c })),
    engineGaveUp.then((m) => ({ kind: 'engine' as const, message: m })),
    aborted.then(() => ({ kind: 'abort' as const })),
  ]);
}

/** SIGTERM, then SIGKILL after 5 s; returns once spark-submit is gone. */
async function stopSpark(spark: SparkProcess): Promise<void> {
  spark.signal('SIGTERM');
  const grace = setTimeout(() => spark.signal('SIGKILL'), 5000);
  await spark.exited;
  clearTimeout(grace);
}
