/**
 * `sparkinfer run`: validate → run directory + lock → engine (in the background) → spark-submit the
 * driver → progress → summary. The engine start never delays a spec or input error: the spec is
 * checked before anything starts, and the driver checks the input before it waits for the engine.
 */
import { existsSync, readFileSync, rmSync, statSync, statfsSync, readdirSync, writeFileSync, type Stats } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { engineKindOf, type Job } from '../jobfile/schema.ts';
import type { ResolvedJob } from '../jobfile/resolved.ts';
import { loadLocatedJobFile, type LocatedJob } from '../validate/job.ts';
import { preflight, reportPreflight } from './preflight.ts';
import { fingerprint } from '../jobfile/fingerprint.ts';
import { referencedColumns } from '../prompt/analyze.ts';
import { chatTemplateIdentity, loadChatTemplate, type ChatTemplateSource } from '../prompt/chat-template.ts';
import { resolveModel } from '../launch/paths.ts';
import { acquireLock, makeRunDir, newRunId, pidDir, RESERVE_FILE, resolvePath, runsRoot, runsRootIsBesideJob } from './run-setup.ts';
import { checkEarlierRuns } from './resume.ts';
import { budgetExceeded, budgetMessage } from '../rundir/budget.ts';
import { buildSummary } from '../report/summary.ts';
import type { DriverSummary, Summary } from '../rundir/summary.ts';
import { isLocalMaster, requireSparkSubmit, sparkSubmitBin, startSparkSubmit } from '../spark/submit.ts';
import { archiveToUse, type JvmArchiveMode } from '../spark/jvm-archive.ts';
import { cloudJars, cloudJarsDir, usesS3a } from '../spark/storage.ts';
import { ProgressTicker, sparkTasks } from '../spark/progress.ts';
import { readProgress } from '../rundir/progress.ts';
import { formatVerdict } from '../report/timeline.ts';
import { Timeline } from './timeline.ts';
import { writeRunReport } from '../report/run-report.ts';
import { freePort } from '../launch/port.ts';
import { startEngine, type LocalEngine } from '../launch/engine.ts';
import { errnoText, RuntimeFailure, SparkinferError } from '../errors.ts';
import { EXIT, exitCodeFor } from '../exit-codes.ts';
import { packageRoot, workerBundlePath } from '../install/layout.ts';
import { onEachSecond } from '../rundir/second-timer.ts';

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

/** Input identity for the fingerprint: file paths with sizes and mtimes, or the table/query text. */
export function inputIdentity(job: Job, baseDir: string): string {
  const inp = job.input;
  if (inp.path === undefined) return `${inp.format}:${inp.table ?? ''}:${inp.query ?? ''}`;
  const p = resolvePath(inp.path, baseDir);
  if (/^[a-z][a-z0-9+.-]*:/i.test(p) && !p.startsWith('file:')) return `${inp.format}:${p}`;
  const local = p.replace(/^file:(\/\/)?/, '');
  const parts: string[] = [];
  const walk = (f: string): void => {
    let st: Stats;
    try {
      st = statSync(f);
    } catch {
      parts.push(`${f}:missing`);
      return;
    }
    if (st.isDirectory())
      for (const n of readdirSync(f).sort()) {
        if (!n.startsWith('.') && !n.startsWith('_')) walk(join(f, n));
      }
    else parts.push(`${f}:${st.size}:${Math.round(st.mtimeMs)}`);
  };
  walk(local);
  return `${inp.format}:${parts.join('|')}`;
}

export interface RunResult {
  summary: Summary;
  exitCode: number;
}

/** Resolves the job (validation, columns, fingerprint) without starting anything. */
export function resolveJob(
  jobPath: string,
  set: string[] = [],
): { job: Job; baseDir: string; columns: string[]; chatTemplate: ChatTemplateSource | undefined; located: LocatedJob } {
  const located = loadLocatedJobFile(jobPath, { set });
  const { job } = located;
  const columns = referencedColumns(job.prompt);
  const baseDir = dirname(resolve(jobPath));
  return { job, baseDir, columns, chatTemplate: chatTemplateOf(job, baseDir), located };
}

/** `prompt.chat_template` read now (exit 2 when unusable) and shipped in job.json, so executors need neither model nor file. */
export function chatTemplateOf(job: Job, baseDir: string): ChatTemplateSource | undefined {
  const spec = job.prompt.chat_template;
  if (spec === undefined) return undefined;
  const launch = job.engine.launch;
  const gguf = launch?.kind === 'llama-server' ? resolveModel(launch.model, { baseDir }) : undefined;
  return loadChatTemplate(spec, { baseDir, ggufModel: gguf });
}

export async function runJob(o: RunOptions): Promise<RunResult> {
  const started = Date.now();
  const { job, baseDir, columns, chatTemplate, located } = resolveJob(o.jobPath, o.set ?? []);
  // A missing input or column fails here, in well under a second, instead of after Spark starts.
  reportPreflight(preflight(located, baseDir), o.jobPath, o.log, false);
  if (!existsSync(workerBundlePath()))
    throw new RuntimeFailure(
      `worker bundle missing at ${workerBundlePath()}; in a checkout run 'npm run setup', else reinstall sparkinfer`,
    );
  requireSparkSubmit(packageRoot());
  const cloud = cloudJars();
  if (cloud.missing.length > 0 && usesS3a(job)) {
    throw new RuntimeFailure(
      `s3a:// needs hadoop-aws and the AWS SDK jars, and ${cloud.missing.length} of them are missing from ${cloudJarsDir()}; run 'npm run setup' in a checkout, 'sparkinfer setup' for an installed package`,
    );
  }
  const runId = newRunId(job.name);
  const root = runsRoot(job, baseDir);
  const release = acquireLock(root, runId, { log: o.log });
  let runDir: string;
  try {
    runDir = makeRunDir(root, runId);
  } catch (err) {
    release();
    throw new RuntimeFailure(withDiskHint(`cannot create the run directory ${join(root, runId)}: ${errnoText(err)}`));
  }
  if (runsRootIsBesideJob(job))
    o.log(
      `sparkinfer: the output is on ${job.output.path?.split(':')[0]}://, so the run directory (ledger, logs) is local: ${runDir} (set resume.dir to a shared path on a cluster)`,
    );
  const output = job.output.path !== undefined ? resolvePath(job.output.path, baseDir) : (job.output.table ?? null);
  let engine: LocalEngine | undefined;
  let spark: ReturnType<typeof startSparkSubmit> | undefined;
  let stopTimer: (() => void) | undefined;
  let status: Summary['status'] = 'failed';
  let exitCode: number = EXIT.RUNTIME;
  let message: string | undefined;
  let driver: DriverSummary | undefined;
  let timeline: Timeline | undefined;
  try {
    const input = { ...job.input, ...(job.input.path !== undefined ? { path: resolvePath(job.input.path, baseDir) } : {}) };
    const outputSpec = { ...job.output, ...(job.output.path !== undefined ? { path: resolvePath(job.output.path, baseDir) } : {}) };
    // The chat template's text decides the prompts as much as the job file does: edit it, and old results are stale.
    const fp = fingerprint(job, inputIdentity(job, baseDir) + chatTemplateIdentity(chatTemplate));
    // A changed job is refused (exit 2) before an engine or a JVM starts; the driver checks again.
    const resumable = checkEarlierRuns({
      root,
      runId,
      fingerprint: fp,
      job: { ...job, input, output: outputSpec },
      fresh: o.fresh ?? false,
    });
    if (resumable.length > 0)
      o.log(
        `sparkinfer: resuming from ${resumable.length} earlier run(s) (${resumable.map((r) => r.id).join(', ')}); finished rows are not inferred again`,
      );
    let endpoint = job.engine.endpoint ?? '';
    const launch = job.engine.launch;
    if (launch !== undefined) {
      const port = await freePort();
      endpoint = `http://127.0.0.1:${port}/v1`;
      engine = await startEngine({
        kind: launch.kind,
        model: launch.model,
        alias: job.model,
        args: launch.args,
        parallel: launch.parallel,
        ctxPerSlot: launch.ctx_per_slot,
        maxRestarts: launch.max_restarts,
        port,
        embeddings: launch.embeddings ?? job.task === 'embed',
        logFile: join(runDir, 'logs', 'engine.log'),
        pidDir: pidDir(runDir),
        baseDir,
        ...(launch.threads !== undefined ? { threads: launch.threads } : {}),
        logger: { info: (l: string) => o.log(l), warn: (l: string) => o.log(l) },
      });
      o.log(`sparkinfer: started ${launch.kind} (${launch.model}) at ${endpoint}; log: ${join(runDir, 'logs', 'engine.log')}`);
    }
    const resolved: ResolvedJob = {
      ...job,
      input,
      output: outputSpec,
      run: {
        id: runId,
        dir: runDir,
        root,
        columns,
        endpoint,
        engine_kind: engineKindOf(job),
        fresh: o.fresh ?? false,
        retry_errors: o.retryErrors ?? false,
        fingerprint: fp,
        started_at: started,
        ...(o.limit !== undefined ? { limit: o.limit } : {}),
        ...(chatTemplate !== undefined ? { chat_template: chatTemplate } : {}),
        ...(o.estimate !== undefined ? { estimate: o.estimate } : {}),
      },
    };
    const jobJson = join(runDir, 'job.json');
    writeFileSync(jobJson, JSON.stringify(resolved, null, 2));
    const uiPort = isLocalMaster(job.spark.master) ? await freePort() : undefined;
    // The driver stops the whole run when this process dies (python/sparkinfer/watch.py).
    process.env.SPARKINFER_CLI_PID = String(process.pid);
    const jvmArchive = o.jvmArchive ?? archiveToUse(sparkSubmitBin(packageRoot()));
    spark = startSparkSubmit(
      resolved,
      { root: packageRoot(), jobJson, workerBundle: workerBundlePath() },
      join(runDir, 'logs', 'spark.log'),
      {
        nodePath: process.execPath,
        pidDir: pidDir(runDir),
        ...(uiPort !== undefined ? { uiPort } : {}),
        ...(jvmArchive !== undefined ? { jvmArchive } : {}),
        ...(cloud.missing.length === 0 ? { jars: cloud.jars } : {}),
      },
    );
    o.log(`sparkinfer: run ${runId} started; spark log: ${join(runDir, 'logs', 'spark.log')}`);
    const sp = spark;
    const engineGaveUp = new Promise<string>((res) =>
      engine?.on('giveup', () => res('the local engine crashed more often than engine.launch.max_restarts allows')),
    );
    const aborted = new Promise<string>((res) => o.signal?.addEventListener('abort', () => res('cancelled'), { once: true }));
    const ticker = new ProgressTicker({
      runDir,
      tty: o.tty,
      startedMs: started,
      ...(uiPort !== undefined ? { fetchTasks: () => sparkTasks(uiPort) } : {}),
    });
    const apiKeyEnv = job.engine.api_key_env;
    const tl = new Timeline({
      runDir,
      engineKind: engineKindOf(job),
      startedMs: started,
      engineRoot: endpoint.replace(/\/v1\/?$/, ''),
      apiKey: apiKeyEnv !== undefined ? process.env[apiKeyEnv] : undefined,
    });
    timeline = tl;
    let sampling = false;
    // Half-way between the workers' writes (on the second): every stats file then describes the same instant.
    stopTimer = onEachSecond(() => {
      if (!sampling) {
        sampling = true;
        void tl.sample(Date.now()).finally(() => {
          sampling = false;
        });
      }
      // The progress line says where the time goes so far (the report's verdict).
      void ticker.tick(Date.now()).then((line) => {
        if (line !== undefined) {
          const v = formatVerdict(tl.verdict());
          o.progress(v !== '' ? `${line} ${v}` : line);
        }
      });
    }, 500);
    const outcome = await Promise.race([
      sp.exited.then((c) => ({ kind: 'exit' as const, code: c })),
      engineGaveUp.then((m) => ({ kind: 'engine' as const, m })),
      aborted.then(() => ({ kind: 'abort' as const })),
    ]);
    if (outcome.kind !== 'exit') {
      sp.signal('SIGTERM');
      const grace = setTimeout(() => sp.signal('SIGKILL'), 5000);
      await sp.exited;
      clearTimeout(grace);
      if (outcome.kind === 'abort') {
        status = 'cancelled';
        exitCode = EXIT.INTERRUPTED;
        message = 'interrupted; finished rows are kept in the ledger';
      } else {
        message = outcome.m;
        exitCode = EXIT.RUNTIME;
      }
    } else {
      const errFile = join(runDir, 'driver_error.json');
      const sumFile = join(runDir, 'driver_summary.json');
      if (existsSync(sumFile)) driver = JSON.parse(readFileSync(sumFile, 'utf8')) as DriverSummary;
      if (outcome.code === 0 && driver !== undefined) {
        status = 'succeeded';
        exitCode = EXIT.OK;
        const rowsIn = driver.rows_in ?? 0;
        const failed = driver.rows_failed ?? 0;
        // The driver applies the same rule (mid-run and at the end); this guards a driver that didn't.
        if (budgetExceeded(job.limits, rowsIn, failed)) {
          status = 'failed';
          exitCode = EXIT.RUNTIME;
          message = budgetMessage(job.limits, rowsIn, failed, driver.errors_by_code ?? {}, driver.failed_rows_path ?? null);
        }
      } else if (existsSync(errFile)) {
        const e = JSON.parse(readFileSync(errFile, 'utf8')) as { exit_code?: number; message?: string };
        exitCode = e.exit_code === EXIT.UNUSABLE ? EXIT.UNUSABLE : EXIT.RUNTIME;
        message = withDiskHint(e.message ?? 'the driver failed');
      } else {
        exitCode = EXIT.RUNTIME;
        message = fullDisk(runDir) ?? `spark-submit exited with ${outcome.code}; see ${join(runDir, 'logs', 'spark.log')}`;
      }
    }
  } catch (err) {
    if (err instanceof SparkinferError) {
      exitCode = exitCodeFor(err);
      message = err.message;
    } else if (typeof (err as NodeJS.ErrnoException).code === 'string' && typeof (err as NodeJS.ErrnoException).path === 'string') {
      // A file of the run could not be written (job.json on a full disk, say): say which, and why.
      exitCode = EXIT.RUNTIME;
      message = withDiskHint(`cannot write ${(err as NodeJS.ErrnoException).path}: ${errnoText(err)}`);
    } else throw err;
  } finally {
    stopTimer?.();
    if (spark !== undefined && spark.child.exitCode === null) spark.signal('SIGKILL');
    await engine?.stop();
    release();
  }
  const counts = readProgress(runDir);
  const summary = buildSummary({
    runId,
    runDir,
    wallMs: Date.now() - started,
    status,
    exitCode,
    output,
    engineCache: { known: counts.promptTokensCacheKnown ?? 0, cached: counts.promptTokensCached ?? 0 },
    reasons: { retries: counts.retriesByReason, cuts: counts.windowCuts },
    ...(driver !== undefined ? { driver } : {}),
    ...(message !== undefined ? { message } : {}),
  });
  if (timeline !== undefined) {
    const v = timeline.verdict();
    summary.engine_busy_fraction = v.engine_busy_fraction;
    summary.bottleneck = v.bottleneck;
    try {
      const r = await writeRunReport(runDir, summary, timeline.samples, v, o.log);
      summary.report = r.html;
      summary.report_png = r.png;
    } catch (err) {
      o.log(`sparkinfer: cannot write the report: ${(err as Error).message}`);
    }
  }
  // On a full disk the reserve makes room for the summary (run-setup.ts RESERVE_FILE).
  rmSync(join(runDir, RESERVE_FILE), { force: true });
  try {
    writeFileSync(join(runDir, 'summary.json'), JSON.stringify(summary, null, 2));
  } catch (err) {
    o.log(`sparkinfer: cannot write ${join(runDir, 'summary.json')}: ${(err as Error).message}`);
  }
  return { summary, exitCode };
}

const DISK_ERRNO = /\((ENOSPC|EDQUOT|EIO|EROFS)\)/;

/** A disk failure's message gets what to do next: the ledger kept every finished row. */
export function withDiskHint(message: string): string {
  if (!DISK_ERRNO.test(message)) return message;
  return `${message}; free space (or fix the disk) and run the same command again: it resumes, and finished rows are not inferred again`;
}

/** When the driver could not even say why (its error file did not fit), a full run directory is the likely cause. */
function fullDisk(runDir: string): string | undefined {
  try {
    const st = statfsSync(runDir);
    if (st.bavail > 0 && st.ffree > 0) return undefined;
  } catch {
    return undefined;
  }
  return withDiskHint(`the filesystem of the run directory ${runDir} is full: no space left on device (ENOSPC)`);
}
