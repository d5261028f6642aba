/**
 * `sparkinfer run`: the phases of a local run, each in its own file: resolve (resolve.ts: the job
 * validated, nothing started) → prepare (prepare.ts: tools, run directory + lock, earlier runs,
 * the engine in the background) → infer (infer.ts: job.json, spark-submit, progress) → commit
 * (commit.ts: what the driver wrote decides the status) → report (report.ts: summary, run report).
 * `sparkinfer estimate` (estimate.ts) and `sparkinfer batch` (batch.ts) are this run with their own
 * resolve and commit steps around it. The engine start never delays a spec or input error: the
 * job is checked before anything starts, and the driver checks the input before it waits for the engine.
 */
import { engineKindOf } from '../jobfile/schema.ts';
import type { JvmArchiveMode } from '../spark/jvm-archive.ts';
import type { Summary } from '../rundir/summary.ts';
import type { Timeline } from './timeline.ts';
import type { LocalEngine } from '../launch/engine.ts';
import { planFingerprint, resolvedJob } from '../plan/run-block.ts';
import { preflight, reportPreflight } from './preflight.ts';
import { inputIdentity, resolveJob, withLocalPaths } from './resolve.ts';
import { checkResumable, openRunDir, requireTools, startLaunchedEngine } from './prepare.ts';
import { inferPhase } from './infer.ts';
import { failureVerdict, judgeOutcome, type Verdict } from './commit.ts';
import { reportRun } from './report.ts';
import { startRunMetrics, type RunMetrics } from './metrics.ts';
import { startRunTrace, type RunTrace } from './traces.ts';

export interface RunOptions {
  jobPath: string;
  set?: string[];
  limit?: number;
  fresh?: boolean;
  retryErrors?: boolean;
  /** Writes progress and logs. */
  log: (line: string) => void;
  /** Redraws a progress line (TTY) or prints it. */
  progress: (line: string) => void;
  tty: boolean;
  signal?: AbortSignal;
  /**
   * The driver JVM's class-data archive. Default: map the one `sparkinfer jvm-archive` built, when
   * there is one. `{ create }` is that command's training run.
   */
  jvmArchive?: JvmArchiveMode;
  /** `sparkinfer estimate` (estimate.ts): the driver counts prompts and infers this sample instead of the job. */
  estimate?: { sample: number; seed: number };
}

export interface RunResult {
  summary: Summary;
  exitCode: number;
  /** What is left once the summary is out: the metrics endpoint's `linger` (metrics.ts). */
  after?: () => Promise<void>;
}

export async function runJob(o: RunOptions): Promise<RunResult> {
  const started = Date.now();
  const { job, baseDir, chatTemplate, located } = resolveJob(o.jobPath, o.set ?? []);
  // A missing input or column fails here, in well under a second, instead of after Spark starts.
  reportPreflight(preflight(located, baseDir), o.jobPath, o.log, false);
  const jars = requireTools(job);
  const run = openRunDir(job, baseDir, o.log);
  const local = withLocalPaths(job, baseDir);
  let engine: LocalEngine | undefined;
  let timeline: Timeline | undefined;
  let metrics: RunMetrics | undefined;
  let trace: RunTrace | undefined;
  let verdict: Verdict;
  try {
    metrics = await startRunMetrics({ job, runId: run.runId, runDir: run.runDir, timeline: () => timeline, log: o.log });
    trace = await startRunTrace(job, run.runId, o.log);
    const fp = planFingerprint(job, inputIdentity(job, baseDir), chatTemplate);
    checkResumable(run, local, fp, o.fresh ?? false, o.log);
    const launched = await startLaunchedEngine(job, run.runDir, baseDir, o.log);
    engine = launched.engine;
    const resolved = resolvedJob(local, {
      id: run.runId,
      dir: run.runDir,
      root: run.root,
      endpoint: launched.endpoint,
      engineKind: engineKindOf(job),
      fingerprint: fp,
      chatTemplate,
      fresh: o.fresh,
      retryErrors: o.retryErrors,
      limit: o.limit,
      startedAt: started,
      estimate: o.estimate,
      traces: trace?.block,
    });
    const outcome = await inferPhase({
      resolved,
      engine,
      jars,
      jvmArchive: o.jvmArchive,
      startedMs: started,
      tty: o.tty,
      log: o.log,
      progress: o.progress,
      signal: o.signal,
      onTimeline: (tl) => {
        timeline = tl;
      },
    });
    verdict = judgeOutcome(outcome, run.runDir, job.limits);
  } catch (err) {
    verdict = failureVerdict(err);
  } finally {
    await engine?.stop();
    run.release();
  }
  const output = local.output.path ?? local.output.table ?? null;
  try {
    const summary = await reportRun({ runId: run.runId, runDir: run.runDir, startedMs: started, output, verdict, timeline, log: o.log });
    metrics?.markFinished();
    await trace?.end({ summary, exitCode: verdict.exitCode, error: verdict.message });
    return { summary, exitCode: verdict.exitCode, ...(metrics !== undefined ? { after: () => metrics.lingerThenClose() } : {}) };
  } catch (err) {
    await metrics?.close();
    await trace?.end({ exitCode: verdict.exitCode, error: (err as Error).message });
    throw err;
  }
}
