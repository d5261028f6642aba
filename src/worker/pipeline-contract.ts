/**
 * The partition pipeline's contract (pipeline.ts runs it): what a row becomes (`Prepared`), what
 * an attempt returns (`Attempt`), the retry decision, the window and dispatch-queue hooks, the
 * injected dependencies (`PipelineDeps`) and the counters it reports (`PipelineCounters`).
 */
import type { ResultLine } from './protocol.ts';
import type { InputRow } from './input.ts';
import type { ErrorCode } from '../errors.ts';
import type { CompletionKind, RetryReason } from '../scheduler/signals.ts';
import type { RateInfo } from '../engine/ratelimit.ts';
import type { SendGate } from '../scheduler/rate.ts';
import type { LatencyHistogram } from '../rundir/histogram.ts';

/** What a row becomes before it is sent: the endpoint path and the exact JSON body. */
export interface Prepared {
  path: string;
  body: string;
  /** The row's prefix key (its prefix columns' values, prefix-order.ts), when the prompt has one. */
  group?: string;
  /** A traced row's `traceparent` (tracing.ts), sent with each of its attempts. */
  traceparent?: string;
}

export interface AttemptOk {
  ok: true;
  latencyMs: number;
  /** Result fields parsed from the reply; `error_code` set when the reply itself is a row error (E_LENGTH …). */
  fields: Partial<ResultLine>;
  /** Prompt tokens the engine took from its prefix cache, when it said (adapters.ts `cachedPromptTokens`). */
  cachedPromptTokens?: number;
  /** The answer's rate-limit headers, when it had any (engine/ratelimit.ts). */
  rateLimit?: RateInfo;
}
export interface AttemptFailed {
  ok: false;
  latencyMs: number;
  /** `raw` is the thrown error, for the retry classifier. */
  error: { code: ErrorCode; message: string; status?: number; raw?: unknown };
  /** The refusal's rate-limit headers, when it had any (engine/ratelimit.ts): a 429/503 with them is a rate limit. */
  rateLimit?: RateInfo;
}
export type Attempt = AttemptOk | AttemptFailed;

export interface Decision {
  retry: boolean;
  delayMs: number;
  /** The engine looks down: requeue without spending the row's budget and wait for /health. */
  outage: boolean;
}

export interface Window {
  limit(): number;
  /**
   * Calls `listener` whenever the limit grows outside a completion (a metrics poll). Without it a
   * grown window would wait for the next answer to be filled: with fixed-length answers those come
   * in bursts one request lifetime apart, so the window would double once per lifetime, not per poll.
   */
  onGrow?(listener: () => void): void;
  onStart?(): void;
  onComplete?(sample: { latencyMs: number; ok: boolean; status?: number; kind: CompletionKind; outputTokens?: number }): void;
}

// --- prefix-aware ordering hook (bench/prefix-order owner): the waiting rows are a DispatchQueue. ---
/** The rows waiting for a window slot. A plain array is the default FIFO; prefix-order.ts groups shared prefixes. */
export interface DispatchQueue<T> {
  readonly length: number;
  push(item: T): void;
  /** The next row to send; undefined also while rows wait, when the queue holds them back (slot-affinity.ts). */
  shift(): T | undefined;
  /** Puts a row back at the front (retries, outages): it goes out next. */
  unshift(item: T): void;
  /** Called once for every row `shift` gave out, when its request ends (before a retry puts it back). */
  settled?(item: T): void;
  /** Rows to keep read ahead of the window so that the queue has rows to reorder. Default: none. */
  readonly readAhead?: number;
}
// --- end of hook ---

export interface PipelineDeps {
  /** Input lines, one at a time or in batches (readLineBatches: a chunk's worth). */
  lines: AsyncIterable<string | readonly string[]>;
  parse(line: string): InputRow;
  /** Renders and builds the body. Throws an error with `code` (E_TEMPLATE …) for a row error. */
  prepare(row: InputRow): Prepared;
  attempt(p: Prepared, signal: AbortSignal): Promise<Attempt>;
  decide(error: AttemptFailed['error'], attemptNo: number): Decision;
  window: Window;
  /** Writes one result (ledger first, then stdout). Returns false when stdout wants a pause. */
  emit(result: ResultLine): boolean;
  /** Resolves when stdout drained (after emit returned false). */
  drained(): Promise<void>;
  /** Waits for the engine to answer /health; resolves false after timeoutMs. */
  waitHealthy(timeoutMs: number, signal: AbortSignal): Promise<boolean>;
  outageTimeoutMs: number;
  includeRequest: boolean;
  model: string;
  now(): number;
  sleep(ms: number, signal: AbortSignal): Promise<void>;
  signal: AbortSignal;
  /**
   * Once aborted (a spend budget, the driver's CANCEL): send nothing more, let the requests in
   * flight finish, then return. Rows read but not sent are left out: a rerun infers them.
   */
  stopDispatch?: AbortSignal;
  onStats?(s: PipelineCounters): void;
  log(message: string): void;
  /** Makes the queue of waiting rows. Default: a FIFO (a plain array). */
  makeQueue?<T extends { prepared: Prepared }>(): DispatchQueue<T>;
  /**
   * Paces sends to a rate limit (scheduler/rate.ts): asked before each send, told of every send and
   * answer. A rate-limited refusal (a 429/503 with rate-limit headers) goes back to the queue without
   * spending the row's retry budget, and the gate holds dispatch until its retry time. Default: none
   * (and then no refusal is a rate limit: a 429 is overload, retried within the budget).
   */
  gate?: SendGate;
}

/** Rate-limited refusals a row may take without spending its retry budget; beyond, they count (a quota that never comes back). */
export const FREE_RATE_LIMITED = 20;
/**
 * Refusals are free only while the quota is alive: some request of this worker succeeded within
 * this long (or the worker started within it). A quota that never comes back (an exhausted monthly
 * budget answered with 429 and rate-limit headers) would otherwise hold a run for hours at the
 * gate's slowest pace before rows fail and the failure budget stops it.
 */
export const FREE_RATE_LIMITED_MS = 600_000;

export interface PipelineCounters {
  rowsIn: number;
  rowsDone: number;
  rowsOk: number;
  rowsFailed: number;
  promptTokens: number;
  completionTokens: number;
  /** Prompt tokens of the answers whose engine said how many it took from its cache, and that many. */
  promptTokensCacheKnown: number;
  promptTokensCached: number;
  requestsSent: number;
  retries: number;
  /** Second copies sent for requests out far longer than the others (hedge.ts): at the tail, or mid-partition for one presumed lost. */
  hedges: number;
  /** Every resend of a failed attempt by reason (signals.ts `retryReason`): all but `outage` are counted in `retries`. */
  retriesByReason: Partial<Record<RetryReason, number>>;
  inflight: number;
  window: number;
  outage: boolean;
  errorsByCode: Partial<Record<ErrorCode, number>>;
  /** Every attempt's latency (rundir/histogram.ts), for the stats file's `request_seconds`. */
  latency: LatencyHistogram;
}
