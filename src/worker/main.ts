/**
 * The partition worker: one process per Spark task attempt, started by the driver's
 * `SELECT TRANSFORM … USING '"${SPARKINFER_NODE:-node}" sparkinfer-worker.mjs job.json'`.
 * stdin → result lines on stdout; its log goes to `<run>/logs/worker-<id>.log`. stderr only ever
 * holds a short fatal reason (Spark keeps 2 KB of it).
 *
 * Its phases: resolve and prepare (setup.ts), infer (pipeline.ts, stopping early in
 * stopping.ts), commit (ledger closed, last stats) and report (the log line and the exit code).
 *
 * Exit codes (`WORKER_EXIT`, exit.ts): 0 when every row got a result line; 3 when the engine outage
 * outlasted outage_timeout; 4 on a protocol or IO failure; 5 when the ledger can't be written (a
 * full disk, an I/O error: the reason names the file); 6 when the driver cancelled the run
 * (cancel.ts). Row failures never make it exit non-zero. Its own log
 * and stats files are best effort: a full disk stops the worker through the ledger, not them.
 *
 * `sparkinfer-worker.mjs job.json count` is count mode (count.ts, `sparkinfer estimate`): the same
 * rows and bodies, counted by the engine's tokenizer instead of sent; no ledger, no stats file.
 */
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { classify } from '../engine/retry.ts';
import { LedgerWriter, LedgerWriteError } from './ledger.ts';
import { ResultWriter } from './output.ts';
import { windowCuts, engineBound } from './stats.ts';
import { parseInputLine, readLineBatches } from './input.ts';
import { OutageTimeout } from '../engine/errors.ts';
import { runPipeline } from './pipeline.ts';
import type { PipelineCounters, PipelineDeps } from './pipeline-contract.ts';
import { prepareEngineSide, prepareResultSide, resolveWorker, type EngineSide, type ResultSide, type WorkerBasics } from './setup.ts';
import { watchStops, type Stopping } from './stopping.ts';
import { WORKER_EXIT } from './exit.ts';
import { startWorkerTrace } from './tracing.ts';
import { healthWaiter, StageEngines } from './stage-engines.ts';
import { readStageLedgers, STAGE_LEDGER_DIR } from './stage-ledger.ts';
import { runStagedPipeline } from './stages.ts';
import type { ResultLine } from './protocol.ts';

export { WORKER_EXIT };

type StatsWriter = (c: PipelineCounters, done?: boolean) => void;

/** The pipeline's counters into this worker's stats file (progress and budgets); count mode writes none. */
function statsWriter(w: WorkerBasics, r: ResultSide, window: object): StatsWriter {
  return (c, done = false) => {
    if (w.counting) return; // progress and budgets count results; a count is none
    Object.assign(r.stats, {
      updated_at: Date.now(),
      rows_in: c.rowsIn,
      rows_done: c.rowsDone,
      rows_ok: c.rowsOk,
      rows_failed: c.rowsFailed,
      prompt_tokens: c.promptTokens,
      completion_tokens: c.completionTokens,
      requests_sent: c.requestsSent,
      prompt_tokens_cache_known: c.promptTokensCacheKnown,
      prompt_tokens_cached: c.promptTokensCached,
      retries: c.retries,
      retries_by_reason: c.retriesByReason,
      hedges: c.hedges,
      window_cuts: windowCuts(window),
      engine_bound: engineBound(window),
      request_seconds: c.latency,
      inflight: c.inflight,
      window: c.window,
      errors_by_code: c.errorsByCode,
      outage: c.outage,
      done,
    });
    try {
      r.statsFile.write(r.stats);
    } catch {
      // progress only; a full disk is reported by the ledger
    }
  };
}

/**
 * Ledger first, then stdout, one batch per event-loop turn (output.ts); line by line under the
 * fault hook, which must die right after its N-th line.
 */
function resultWriter(w: WorkerBasics, r: ResultSide): ResultWriter {
  return new ResultWriter(r.ledger, process.stdout, {
    batched: r.faultKill === undefined,
    afterLine: r.faultKill,
    onFatal: (err) => {
      // Nothing more may reach stdout; Spark keeps this line (2 KB of stderr) for the driver's message.
      w.log(`worker failed: ${(err as Error).message}`);
      process.stderr.write(`sparkinfer-worker: ${(err as Error).message.slice(0, 500)}\n`);
      process.exit(WORKER_EXIT.LEDGER);
    },
  });
}

interface Parts {
  w: WorkerBasics;
  eng: EngineSide;
  res: ResultSide;
  results: ResultWriter;
  stops: Stopping;
  writeStats: StatsWriter;
}

/** What the pipeline is given: rows from stdin, the builder, the retry decision, the window, results to the writer. */
function pipelineDeps({ w, eng, res, results, stops, writeStats }: Parts, signal: AbortSignal): PipelineDeps {
  const { job, log } = w;
  const client = eng.client;
  return {
    lines: readLineBatches(process.stdin),
    parse: parseInputLine,
    prepare: (row) => res.builder.prepare(row),
    attempt: (p, s) => res.builder.attempt(client, p, s),
    decide: (e, n) => classify(e.raw ?? e, n, res.policy, Math.random),
    window: eng.window,
    emit: (r) => {
      stops.checkSpend(r);
      return results.emit(JSON.stringify(r));
    },
    drained: () => results.drained(),
    waitHealthy: healthWaiter(client, log),
    outageTimeoutMs: job.engine.outage_timeout,
    includeRequest: job.output.include_request,
    model: job.model,
    now: Date.now,
    sleep: (ms, s) => delay(ms, undefined, { signal: s }),
    signal,
    onStats: (c) => {
      writeStats(c);
      stops.refreshOthers();
    },
    stopDispatch: stops.signal,
    log,
    gate: res.gate,
    // engine.prefix_order: auto orders rows that share a prompt prefix by engine kind; off keeps the FIFO.
    ...(eng.makeQueue !== undefined ? { makeQueue: eng.makeQueue } : {}),
  };
}

/** The commit and report phases after the pipeline returned: the ledger closed, the last stats, the log line. */
async function finish(p: Parts, counters: PipelineCounters): Promise<number> {
  if (p.stops.signal.aborted) {
    p.writeStats(counters, true);
    p.w.log(`worker stopped: ${counters.rowsDone} rows in the ledger; waiting for the driver to cancel the run`);
    await p.stops.awaitCancelThenExit();
  }
  p.results.flush();
  p.res.ledger.close();
  p.writeStats(counters, true);
  p.w.log(
    `worker done: ${counters.rowsDone} rows (${counters.rowsFailed} failed), ${counters.requestsSent} requests, ${counters.retries} retries, ${counters.hedges} hedges`,
  );
  await new Promise<void>((res) => process.stdout.write('', () => res()));
  return WORKER_EXIT.OK;
}

/** A failed pipeline: what finished is kept in the ledger; the exit code says why (outage, ledger, protocol). */
function failed(p: Parts, err: unknown): number {
  try {
    p.results.flush();
    p.res.ledger.close();
  } catch (closeErr) {
    p.w.log(`closing the ledger failed too: ${(closeErr as Error).message}`);
  }
  const msg = (err as Error).message;
  p.w.log(`worker failed: ${(err as Error).stack ?? msg}`);
  process.stderr.write(`sparkinfer-worker: ${msg.slice(0, 500)}\n`);
  return err instanceof OutageTimeout ? WORKER_EXIT.OUTAGE : err instanceof LedgerWriteError ? WORKER_EXIT.LEDGER : WORKER_EXIT.PROTOCOL;
}

/** The partition: one pipeline, or a staged job's stages in order (stages.ts, docs/stages.md). */
async function infer(p: Parts, deps: PipelineDeps): Promise<PipelineCounters> {
  const { job, id, runDir, log } = p.w;
  if (job.stages === undefined || p.w.counting) return runPipeline(deps);
  const ledger = new LedgerWriter(join(runDir, STAGE_LEDGER_DIR, `${id}.jsonl`));
  const engines = new StageEngines(job, { client: p.eng.client, window: p.eng.window, waitHealthy: deps.waitHealthy }, log);
  try {
    const done = readStageLedgers(job.run);
    // Spend budgets count each stage's answer as it comes; the row's final line then only goes to the writer.
    const base = { ...deps, emit: (r: ResultLine) => p.results.emit(JSON.stringify(r)) };
    const spend = (r: ResultLine): void => p.stops.checkSpend(r);
    return await runStagedPipeline({ base, job, engines, done, spend, record: (line) => ledger.append(line) });
  } finally {
    ledger.close();
    await engines.close();
  }
}

async function main(): Promise<number> {
  const w = resolveWorker(process.argv.slice(2));
  const ac = new AbortController();
  const eng = prepareEngineSide(w, ac.signal);
  // Also on process.exit (a cancel, a ledger failure): a claim left behind would hold its share
  // until the next worker's liveness check drops it.
  process.on('exit', () => eng.share.leave());
  // Spark stops a task's TRANSFORM command with SIGTERM: leave the board, then die of the signal as before.
  process.once('SIGTERM', () => {
    eng.share.leave();
    process.kill(process.pid, 'SIGTERM');
  });
  const res = prepareResultSide(w, eng.share);
  // The first request waits for the engine's slot count (one local GET), so that the share is
  // known before anything is sent; an engine that does not answer within 5 s is shared by its signals.
  await Promise.race([eng.polling.capacity, delay(5000, undefined, { ref: false })]);
  const what = w.counting ? 'counting prompt tokens (nothing generated)' : `concurrency ${String(w.job.engine.concurrency)}`;
  w.log(`worker ${w.id} started: endpoint ${eng.endpoint}, ${what}, task ${w.job.task}`);
  const results = resultWriter(w, res);
  const closeLedger = (): void => {
    results.flush();
    res.ledger.close();
  };
  const stops = watchStops({ job: w.job, id: w.id, counting: w.counting, log: w.log, inflight: () => res.stats.inflight, closeLedger });
  const parts: Parts = { w, eng, res, results, stops, writeStats: statsWriter(w, res, eng.window) };
  // A traced run (run.traces): the task span and the sampled rows' spans (tracing.ts); else nothing is wrapped.
  const trace = await startWorkerTrace(w);
  const deps = pipelineDeps(parts, ac.signal);
  const ended: { counters?: PipelineCounters; exitCode: number; error?: string } = { exitCode: WORKER_EXIT.PROTOCOL };
  try {
    ended.counters = await infer(parts, trace === undefined ? deps : trace.wrap(deps));
    ended.exitCode = await finish(parts, ended.counters);
  } catch (err) {
    ended.error = (err as Error).message;
    ended.exitCode = failed(parts, err);
  } finally {
    stops.close();
    eng.polling.stop();
    eng.share.leave();
    ac.abort();
    await eng.client.close();
    await trace?.end(ended);
  }
  return ended.exitCode;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`sparkinfer-worker: ${String((err as Error)?.message ?? err).slice(0, 500)}\n`);
    process.exitCode = WORKER_EXIT.PROTOCOL;
  },
);
