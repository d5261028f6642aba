/**
 * What a window hears: each request's outcome (`CompletionSample`, classified by
 * `completionKind`) and the engine's own load (`EngineLoadSample`), and the interface the worker's
 * dispatch loop drives (`AdaptiveWindowLike`). The windows are in window.ts (fixed) and
 * adaptive.ts (`concurrency: auto`). `retryReason` names why a failed attempt was sent again, for
 * the run's summary.
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

/**
 * Why a failed attempt was sent again, for the run's summary (`retries_by_reason`): a closed set, so
 * that a user sees whether a slow run was faults, congestion or rate limits.
 * - `outage`: requeued while the engine was down (it spends no retry budget);
 * - `rate_limit`, `overload`, `timeout`: the completion kinds of the same names;
 * - `http_5xx`, `http_4xx` (408/409 and the like): other statuses worth another try;
 * - `connection`: the connection broke (reset) before an answer started;
 * - `truncated`: a 2xx whose body was cut; `bad_response`: an unusable or oversized answer;
 * - `other`: anything else a retry policy chose to retry.
 */
export type RetryReason =
  | 'outage'
  | 'rate_limit'
  | 'overload'
  | 'timeout'
  | 'http_5xx'
  | 'http_4xx'
  | 'connection'
  | 'truncated'
  | 'bad_response'
  | 'other';

/** The one rule from a failed attempt (its completion kind, error code, and whether it was an outage) to its retry reason. */
export function retryReason(o: { kind: CompletionKind; code?: string | undefined; outage?: boolean | undefined }): RetryReason {
  if (o.outage === true) return 'outage';
  if (o.kind === 'ratelimit') return 'rate_limit';
  if (o.kind === 'overload' || o.kind === 'timeout') return o.kind;
  switch (o.code) {
    case 'E_HTTP_5XX':
      return 'http_5xx';
    case 'E_HTTP_4XX':
      return 'http_4xx';
    case 'E_CONNECT':
      return 'connection';
    case 'E_RESPONSE_TRUNCATED':
      return 'truncated';
    case 'E_BAD_RESPONSE':
    case 'E_RESPONSE_TOO_LARGE':
      return 'bad_response';
    default:
      return 'other';
  }
}
