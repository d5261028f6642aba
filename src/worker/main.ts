/**
 * The partition worker: one process per Spark task attempt, started by the driver's
 * `SELECT TRANSFORM … USING '"${SPARKINFER_NODE:-node}" sparkinfer-worker.mjs job.json'`.
 * stdin → result lines on stdout; its log goes to `<run>/logs/worker-<id>.log`. stderr only ever
 * holds a short fatal reason (Spark keeps 2 KB of it).
 *
 * Exit codes (`WORKER_EXIT`): 0 when every row got a result line; 3 when the engine outage
 * outlasted outage_timeout; 4 on a protocol or IO failure; 5 when the ledger can't be written (a
 * full disk, an I/O error: the reason names the file); 6 when the driver cancelled the run
 * (cancel.ts). Row failures never make it exit non-zero. Its own log
 * and stats files are best effort: a full disk stops the worker through the ledger, not them.
 *
 * `sparkinfer-worker.mjs job.json count` is count mode (count.ts, `sparkinfer estimate`): the same
 * rows and bodies, counted by the engine's tokenizer instead of sent; no ledger, no stats file.
 */
import { appendFileSync, mkdirSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import type { ResolvedJob } from '../jobfile/resolved.ts';
import { EngineClient } from '../engine/client.ts';
import { classify, retryPolicy } from '../engine/retry.ts';
import { waitForHealth } from '../engine/health.ts';
import { OutageTimeout } from '../engine/errors.ts';
import { LedgerWriteError, LedgerWriter } from './ledger.ts';
import { ResultWriter } from './output.ts';
import { newStats, otherWorkersTokens, StatsFile, windowCuts } from './stats.ts';
import { spendReached } from '../rundir/budget.ts';
import { ProtocolError, parseInputLine, readLineBatches } from './input.ts';
import { runPipeline, type PipelineCounters } from './pipeline.ts';
import { makeRequestBuilder } from './request.ts';
import { makeWindow } from '../scheduler/window.ts';
import { shareEngine } from './engine-share.ts';
import { RateGate } from '../scheduler/rate.ts';
import { startLoadPolling } from './load.ts';
import { dispatchQueueFor, prefixPlanSkipped } from './prefix-order.ts';
import { armFaultKill } from './fault.ts';
import { watchCancel } from './cancel.ts';
import { COUNT_MODE, countWindow, makeCountBuilder } from './count.ts';

/** The worker's exit codes, one table (the header says when each happens). */
export const WORKER_EXIT = { OK: 0, OUTAGE: 3, PROTOCOL: 4, LEDGER: 5, CANCELLED: 6 } as const;

function workerId(): string {
  return `${hostname().replace(/[^A-Za-z0-9_.-]/g, '_')}-${process.pid}-${Date.now().toString(36)}`;
}

async function main(): Promise<number> {
  const jobPath = process.argv[2] ?? 'job.json';
  const mode = process.argv[3];
  if (mode !== undefined && mode !== COUNT_MODE)
    throw new ProtocolError(`unknown worker mode ${JSON.stringify(mode)} (expected ${COUNT_MODE})`);
  const counting = mode === COUNT_MODE;
  const job = JSON.parse(readFileSync(jobPath, 'utf8')) as ResolvedJob;
  const id = workerId();
  const runDir = job.run.dir;
  mkdirSync(join(runDir, 'logs'), { recursive: true });
  const logFile = join(runDir, 'logs', `worker-${id}.log`);
  const log = (m: string): void => {
    try {
      appendFileSync(logFile, `${new Date().toISOString()} ${m}\n`);
    } catch {
      // a full disk: the ledger's own write reports it
    }
  };
  // On Kubernetes the sidecar's address is wired through the environment.
  const endpoint = process.env.SPARKINFER_ENDPOINT ?? job.run.endpoint;
  const keyEnv = job.engine.api_key_env;
  const apiKey = keyEnv !== undefined ? process.env[keyEnv] : undefined;
  const maxWindow = job.engine.concurrency === 'auto' ? job.engine.concurrency_max : job.engine.concurrency;
  const client = new EngineClient({
    endpoint,
    apiKey,
    connections: Math.max(1, maxWindow),
    requestTimeoutMs: job.engine.request_timeout,
    logger: { info: log, warn: log, debug: () => {} },
  });
  const ac = new AbortController();
  // engine.prefix_order: auto: the dispatch queue follows the engine's kind of prefix cache (prefix-order.ts).
  let engineSlots: number | undefined;
  // When the driver skipped the plan (prefix-free data), the FIFO: exactly what `off` does.
  const planSkipped = job.engine.prefix_order === 'auto' && prefixPlanSkipped(runDir);
  if (planSkipped) log('prefix plan skipped by the driver (plan.json): arrival order');
  const makeQueue =
    job.engine.prefix_order === 'auto' && !planSkipped && !counting
      ? dispatchQueueFor(job.run.engine_kind, { slots: () => engineSlots })
      : undefined;
  // The workers of this host that use this engine divide it (engine-share.ts, docs/scheduler.md).
  // Count mode sends only tokenize calls: it keeps its own window and stays off the board.
  const share = counting
    ? { window: countWindow(), members: () => 1, leave: () => {} }
    : shareEngine(makeWindow(job.engine), {
        adaptive: job.engine.concurrency === 'auto',
        endpoint,
        id,
        noQueue: makeQueue !== undefined && job.run.engine_kind === 'llama-server',
        log,
      });
  const window = share.window;
  // Also on process.exit (a cancel, a ledger failure): a claim left behind would hold its share
  // until the next worker's liveness check drops it.
  process.on('exit', () => share.leave());
  // Spark stops a task's TRANSFORM command with SIGTERM: leave the board, then die of the signal as before.
  process.once('SIGTERM', () => {
    share.leave();
    process.kill(process.pid, 'SIGTERM');
  });
  const polling = startLoadPolling(
    client,
    window,
    ac.signal,
    log,
    job.run.engine_kind,
    makeQueue !== undefined
      ? (n) => {
          engineSlots = n;
        }
      : undefined,
  );
  // Count mode's lines are counts, not results: they never reach the ledger.
  const ledger = counting
    ? { appendLines: (): void => {}, close: (): void => {} }
    : new LedgerWriter(join(runDir, 'ledger', `${id}.jsonl`));
  const statsFile = new StatsFile(join(runDir, 'stats'), id);
  const stats = newStats(id, Date.now());
  const builder = counting ? makeCountBuilder(job, log) : makeRequestBuilder(job, log);
  const policy = retryPolicy({ maxRetries: job.engine.retries });
  // Rate limits (docs/scheduler.md, "Rate limits"): the configured one and those the host's headers state.
  // `workers` is how many workers of this host share the endpoint: the members of its share board.
  const gate = new RateGate({
    requestsPerMinute: job.engine.rate_limit?.requests_per_minute,
    tokensPerMinute: job.engine.rate_limit?.tokens_per_minute,
    workers: () => share.members(),
    maxTokens: typeof job.sampling.max_tokens === 'number' ? job.sampling.max_tokens : 0,
    holdCapMs: policy.retryAfterCapMs,
    log,
  });
  // Test-only fault hook (fault.ts): undefined unless SPARKINFER_FAULT_KILL_AFTER_ROWS is set.
  const faultKill = armFaultKill(runDir, id);
  // The first request waits for the engine's slot count (one local GET), so that the share is
  // known before anything is sent; an engine that does not answer within 5 s is shared by its signals.
  await Promise.race([polling.capacity, delay(5000, undefined, { ref: false })]);
  log(
    `worker ${id} started: endpoint ${endpoint}, ${counting ? 'counting prompt tokens (nothing generated)' : `concurrency ${String(job.engine.concurrency)}`}, task ${job.task}`,
  );
  const writeStats = (c: PipelineCounters, done = false): void => {
    if (counting) return; // progress and budgets count results; a count is none
    Object.assign(stats, {
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
      inflight: c.inflight,
      window: c.window,
      errors_by_code: c.errorsByCode,
      outage: c.outage,
      done,
    });
    try {
      statsFile.write(stats);
    } catch {
      // progress only; a full disk is reported by the ledger
    }
  };
  const out = process.stdout;
  // Ledger first, then stdout, one batch per event-loop turn (output.ts); line by line under the
  // fault hook, which must die right after its N-th line.
  const results = new ResultWriter(ledger, out, {
    batched: faultKill === undefined,
    afterLine: faultKill,
    onFatal: (err) => {
      // Nothing more may reach stdout; Spark keeps this line (2 KB of stderr) for the driver's message.
      log(`worker failed: ${(err as Error).message}`);
      process.stderr.write(`sparkinfer-worker: ${(err as Error).message.slice(0, 500)}\n`);
      process.exit(WORKER_EXIT.LEDGER);
    },
  });
  // Stopping (a budget, the driver's CANCEL): send nothing more, let the requests in flight finish
  // into the ledger, then exit WORKER_EXIT.CANCELLED (a partition cut short must never count as done).
  const stop = new AbortController();
  let cancelReason: string | undefined;
  const exitCancelled = (): never => {
    try {
      results.flush();
      ledger.close();
    } catch (err) {
      log(`closing the ledger failed: ${(err as Error).message}`);
    }
    process.stderr.write(`sparkinfer-worker: cancelled by the driver: ${(cancelReason ?? 'a budget was reached').slice(0, 300)}\n`);
    process.exit(WORKER_EXIT.CANCELLED);
  };
  const stopCancelWatch = watchCancel(
    runDir,
    (reason) => {
      if (cancelReason !== undefined) return;
      log(`cancelled by the driver: ${reason}; letting ${String(stats.inflight)} request(s) in flight finish`);
      cancelReason = reason;
      stop.abort();
      // Requests end within request_timeout; past that, stop anyway (the ledger has what finished).
      setTimeout(exitCancelled, job.engine.request_timeout + 5000).unref();
    },
    1000,
    true,
  );
  // The spend budgets (limits.max_*_tokens) counted here too, with the other workers' stats: this
  // worker stops dispatching within its own window; the driver's watcher then cancels the run.
  // Checked at every result; the others' share is read with the stats, once a second.
  const spendBudget = !counting && (job.limits.max_completion_tokens !== undefined || job.limits.max_prompt_tokens !== undefined);
  let others = { promptTokens: 0, completionTokens: 0 };
  const own = { promptTokens: 0, completionTokens: 0 };
  const checkSpend = (r: { prompt_tokens: number | null; completion_tokens: number | null }): void => {
    own.promptTokens += r.prompt_tokens ?? 0;
    own.completionTokens += r.completion_tokens ?? 0;
    if (!spendBudget || stop.signal.aborted) return;
    const hit = spendReached(job.limits, {
      promptTokens: own.promptTokens + others.promptTokens,
      completionTokens: own.completionTokens + others.completionTokens,
    });
    if (hit === undefined) return;
    log(`limits.${hit.key} (${hit.limit}) reached (${hit.used}): sending nothing more, letting the requests in flight finish`);
    stop.abort();
  };
  try {
    const counters = await runPipeline({
      lines: readLineBatches(process.stdin),
      parse: parseInputLine,
      prepare: (row) => builder.prepare(row),
      attempt: (p, signal) => builder.attempt(client, p, signal),
      decide: (e, n) => classify(e.raw ?? e, n, policy, Math.random),
      window,
      emit: (r) => {
        checkSpend(r);
        return results.emit(JSON.stringify(r));
      },
      drained: () => results.drained(),
      waitHealthy: async (timeoutMs, signal) => {
        try {
          await waitForHealth({ client, timeoutMs, signal, logger: { info: log, warn: log } });
          return true;
        } catch (err) {
          if (signal.aborted) throw err;
          log(`health wait failed: ${(err as Error).message}`);
          return false;
        }
      },
      outageTimeoutMs: job.engine.outage_timeout,
      includeRequest: job.output.include_request,
      model: job.model,
      now: Date.now,
      sleep: (ms, signal) => delay(ms, undefined, { signal }),
      signal: ac.signal,
      onStats: (c) => {
        writeStats(c);
        if (spendBudget) others = otherWorkersTokens(join(runDir, 'stats'), id);
      },
      stopDispatch: stop.signal,
      log,
      gate,
      // engine.prefix_order: auto orders rows that share a prompt prefix by engine kind; off keeps the FIFO.
      ...(makeQueue !== undefined ? { makeQueue } : {}),
    });
    if (stop.signal.aborted) {
      writeStats(counters, true);
      log(`worker stopped: ${counters.rowsDone} rows in the ledger; waiting for the driver to cancel the run`);
      // The driver sees these stats and writes CANCEL within a few seconds; bounded all the same.
      for (let i = 0; i < 600 && cancelReason === undefined; i++) await delay(100);
      exitCancelled();
    }
    results.flush();
    ledger.close();
    writeStats(counters, true);
    log(
      `worker done: ${counters.rowsDone} rows (${counters.rowsFailed} failed), ${counters.requestsSent} requests, ${counters.retries} retries, ${counters.hedges} hedges`,
    );
    await new Promise<void>((res) => out.write('', () => res()));
    return WORKER_EXIT.OK;
  } catch (err) {
    try {
      results.flush();
      ledger.close();
    } catch (closeErr) {
      log(`closing the ledger failed too: ${(closeErr as Error).message}`);
    }
    const msg = (err as Error).message;
    log(`worker failed: ${(err as Error).stack ?? msg}`);
    process.stderr.write(`sparkinfer-worker: ${msg.slice(0, 500)}\n`);
    return err instanceof OutageTimeout ? WORKER_EXIT.OUTAGE : err instanceof LedgerWriteError ? WORKER_EXIT.LEDGER : WORKER_EXIT.PROTOCOL;
  } finally {
    stopCancelWatch();
    polling.stop();
    share.leave();
    ac.abort();
    await client.close();
  }
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
