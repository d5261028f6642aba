/**
 * The worker's resolve and prepare phases: job.json read, the worker's id and log file, then
 * everything the pipeline is given: the engine client, the dispatch queue (engine.prefix_order),
 * the window shared with the other workers of this host, the engine-load poller, the ledger and
 * stats files, the request builder (or count mode's), the retry policy and the rate gate.
 * Count mode (count.ts) keeps its own window, off the share board, and writes no ledger.
 */
import { appendFileSync, mkdirSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { ResolvedJob } from '../jobfile/resolved.ts';
import { BadArgumentError } from '../errors.ts';
import { EngineClient } from '../engine/client.ts';
import { retryPolicy, type RetryPolicy } from '../engine/retry.ts';
import { makeWindow } from '../scheduler/window.ts';
import { RateGate } from '../scheduler/rate.ts';
import type { AdaptiveWindowLike } from '../scheduler/signals.ts';
import { LedgerWriter } from './ledger.ts';
import { newStats, StatsFile } from './stats.ts';
import type { WorkerStats } from '../rundir/stats.ts';
import { makeRequestBuilder, type RequestBuilder } from './request.ts';
import { shareEngine, type WorkerShare } from './engine-share.ts';
import { startLoadPolling, type LoadPolling } from './load.ts';
import { dispatchQueueFor, prefixPlanSkipped } from './prefix-order.ts';
import { armFaultKill } from './fault.ts';
import { COUNT_MODE, countWindow, makeCountBuilder } from './count.ts';
import type { PipelineDeps } from './pipeline-contract.ts';
import type { BatchLedger } from './output.ts';

type Log = (m: string) => void;

/** The resolve phase: the job the CLI resolved, this worker's id, its log. */
export interface WorkerBasics {
  job: ResolvedJob;
  counting: boolean;
  id: string;
  runDir: string;
  log: Log;
}

function workerId(): string {
  return `${hostname().replace(/[^A-Za-z0-9_.-]/g, '_')}-${process.pid}-${Date.now().toString(36)}`;
}

/** `argv`: `[jobPath = job.json, mode]`, mode `count` or none. Throws on another mode. */
export function resolveWorker(argv: readonly string[]): WorkerBasics {
  const jobPath = argv[0] ?? 'job.json';
  const mode = argv[1];
  if (mode !== undefined && mode !== COUNT_MODE) {
    throw new BadArgumentError(`unknown worker mode ${JSON.stringify(mode)} (expected ${COUNT_MODE})`);
  }
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
  return { job, counting: mode === COUNT_MODE, id, runDir, log };
}

/** The engine side: client, queue, shared window and load poller. */
export interface EngineSide {
  endpoint: string;
  client: EngineClient;
  share: WorkerShare;
  window: AdaptiveWindowLike;
  polling: LoadPolling;
  makeQueue: PipelineDeps['makeQueue'];
}

export function prepareEngineSide(w: WorkerBasics, signal: AbortSignal): EngineSide {
  const { job, counting, id, log } = w;
  // On Kubernetes the sidecar's address is wired through the environment.
  const endpoint = process.env.SPARKINFER_ENDPOINT ?? job.run.endpoint;
  const keyEnv = job.engine.api_key_env;
  const maxWindow = job.engine.concurrency === 'auto' ? job.engine.concurrency_max : job.engine.concurrency;
  const client = new EngineClient({
    endpoint,
    apiKey: keyEnv !== undefined ? process.env[keyEnv] : undefined,
    connections: Math.max(1, maxWindow),
    requestTimeoutMs: job.engine.request_timeout,
    logger: { info: log, warn: log, debug: () => {} },
  });
  // engine.prefix_order: auto: the dispatch queue follows the engine's kind of prefix cache (prefix-order.ts).
  let engineSlots: number | undefined;
  // When the driver skipped the plan (prefix-free data), the FIFO: exactly what `off` does.
  const planSkipped = job.engine.prefix_order === 'auto' && prefixPlanSkipped(w.runDir);
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
        engineKind: job.run.engine_kind,
        runDir: w.runDir,
        noQueue: makeQueue !== undefined && job.run.engine_kind === 'llama-server',
        log,
      });
  const onSlots =
    makeQueue !== undefined
      ? (n: number) => {
          engineSlots = n;
        }
      : undefined;
  const polling = startLoadPolling(client, share.window, signal, log, job.run.engine_kind, onSlots);
  return { endpoint, client, share, window: share.window, polling, makeQueue };
}

/** The result side: ledger, stats, builder, retry policy, rate gate, the test-only fault hook. */
export interface ResultSide {
  ledger: BatchLedger & { close(): void };
  statsFile: StatsFile;
  stats: WorkerStats;
  builder: RequestBuilder;
  policy: RetryPolicy;
  gate: RateGate;
  faultKill: ((rowsEmitted: number) => void) | undefined;
}

export function prepareResultSide(w: WorkerBasics, share: WorkerShare): ResultSide {
  const { job, counting, id, runDir, log } = w;
  // Count mode's lines are counts, not results: they never reach the ledger.
  const ledger = counting
    ? { appendLines: (): void => {}, close: (): void => {} }
    : new LedgerWriter(join(runDir, 'ledger', `${id}.jsonl`));
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
  return {
    ledger,
    statsFile: new StatsFile(join(runDir, 'stats'), id),
    stats: newStats(id, Date.now()),
    builder: counting ? makeCountBuilder(job, log) : makeRequestBuilder(job, log),
    policy,
    gate,
    // Test-only fault hook (fault.ts): undefined unless SPARKINFER_FAULT_KILL_AFTER_ROWS is set.
    faultKill: armFaultKill(runDir, id),
  };
}
