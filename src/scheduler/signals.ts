/**
 * What a window hears: each request's outcome (`CompletionSample`, classified by
 * `completionKind`) and the engine's own load (`EngineLoadSample`), and the interface the worker's
 * dispatch loop drives (`AdaptiveWindowLike`). The windows are in window.ts (fixed) and
 * adaptive.ts (`concurrency: auto`).
 */

/**
 * - `ok`: an answer;
 * - `overload`: the engine said it is full (429/503 without rate-limit headers);
 * - `ratelimit`: a rate limiter in front of the engine refused (a 429 that carries `retry-after-ms`
 *   or `x-ratelimit-*` headers): the rate gate's business, never the window's (it says how fast,
 *   not how many at once);
 * - `timeout`: no answer within the request timeout (or 408/504);
 * - `error`: anything else (a 500, a reset, a truncated body).
 */
export type CompletionKind = 'ok' | 'overload' | 'ratelimit' | 'timeout' | 'error';

export interface CompletionSample {
  /** From send to the last body byte, in ms. */
  latencyMs: number;
  ok: boolean;
  /** HTTP status of a failed attempt, when there was one. */
  status?: number | undefined;
  /** What happened; derived from `ok`/`status` when absent (429/503: overload, 408/504: timeout). */
  kind?: CompletionKind | undefined;
  /** Completion tokens of a successful answer; makes the latency signal length-independent. */
  outputTokens?: number | undefined;
}

export interface EngineLoadSample {
  /** Requests queued in the engine (vLLM `num_requests_waiting`, llama-server `requests_deferred`). */
  waiting?: number | undefined;
  /** Requests being decoded (vLLM `num_requests_running`, llama-server `requests_processing`). */
  running?: number | undefined;
  /** KV-cache usage, a fraction 0..1. */
  kvUsage?: number | undefined;
  /** Preemptions since engine start: a counter (vLLM `num_preemptions_total`). */
  preempted?: number | undefined;
}

/** What the worker's dispatch loop needs; `onEngineLoad` is absent when metrics are useless. */
export interface AdaptiveWindowLike {
  limit(): number;
  /** Registers a listener for growth outside a completion (see the worker pipeline's Window). */
  onGrow?(listener: () => void): void;
  onStart?(): void;
  onComplete?(sample: CompletionSample): void;
  onEngineLoad?(load: EngineLoadSample): void;
  /** The engine's batch capacity and how much of it is busy, when the engine tells (llama-server's /slots). */
  onEngineCapacity?(slots: number, busy: number): void;
  /** Housekeeping once a second (the worker's timer, the simulator's poll): a shared window re-divides the engine. */
  tick?(): void;
}

export interface WindowLogger {
  debug?(message: string): void;
  info?(message: string): void;
}

/**
 * The one rule for what an attempt's outcome says about the engine's load: a refusal with rate-limit
 * headers is a rate limit; other 429/503 are overload;
 * a client-side timeout (`E_TIMEOUT`) or a 408/504 is a timeout; every other failure is an error.
 */
export function completionKind(o: {
  ok: boolean;
  status?: number | undefined;
  code?: string | undefined;
  /** The refusal carried a rate limiter's headers (engine/ratelimit.ts). */
  rateLimited?: boolean | undefined;
}): CompletionKind {
  if (o.ok) return 'ok';
  if (o.rateLimited === true) return 'ratelimit';
  if (o.status === 429 || o.status === 503) return 'overload';
  if (o.code === 'E_TIMEOUT' || o.status === 408 || o.status === 504) return 'timeout';
  return 'error';
}
