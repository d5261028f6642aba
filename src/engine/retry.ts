/**
 * The retry decision, as a pure function of the failure, the attempt number and the policy.
 * The worker's scheduler owns the retry loop; nothing in the client retries behind its back
 * (but for http1/conn.ts's one resend of a request whose reused keep-alive socket died before answering).
 */
import {
  BadResponseError,
  ConnectError,
  ContextLengthError,
  EngineOutageError,
  HttpError,
  ResponseTooLargeError,
  TimeoutError,
  TruncatedResponseError,
} from './errors.ts';
import { badArgument, checkInt, checkNumber } from '../checks.ts';
import { backoffMs, unitRandom } from '../backoff.ts';

export interface RetryPolicy {
  /** First backoff step, in ms. Default 250. */
  baseMs: number;
  /** Largest backoff step before jitter, in ms. Default 30_000. */
  capMs: number;
  /** Retries per request after the first attempt (the job's `engine.retries`). Default 4. */
  maxRetries: number;
  /**
   * Largest `retry-after` honoured, in ms. Default 120_000. The engine knows its own load better
   * than our backoff does, so a `retry-after` may exceed `capMs`; but a buggy or hostile header
   * (`retry-after: 86400`) must not park a batch job, so longer waits are cut to this.
   */
  retryAfterCapMs: number;
}

export const DEFAULT_RETRY_POLICY: Readonly<RetryPolicy> = Object.freeze({
  baseMs: 250,
  capMs: 30_000,
  maxRetries: 4,
  retryAfterCapMs: 120_000,
});

/** Builds a policy from partial options, validating every field up front. */
export function retryPolicy(options: Partial<RetryPolicy> = {}): RetryPolicy {
  const p = { ...DEFAULT_RETRY_POLICY, ...options };
  for (const k of ['baseMs', 'capMs', 'maxRetries', 'retryAfterCapMs'] as const) {
    if (k === 'maxRetries') checkInt(k, p[k], 0);
    else checkNumber(k, p[k], 0);
  }
  if (p.capMs < p.baseMs) throw badArgument(`Expected \`capMs\` >= \`baseMs\` (${p.baseMs}), got \`${p.capMs}\``);
  return p;
}

export interface RetryDecision {
  /** Send the request again. */
  retry: boolean;
  /** Wait this long first, in ms (0 when not retrying). */
  delayMs: number;
  /**
   * The engine looks down (connection refused, host unreachable). The caller should requeue the
   * row without counting this attempt, pause dispatch and wait on /health (worker/pipeline.ts); `retry` is
   * then true whatever the attempt number, because `outage_timeout` bounds the wait instead.
   */
  outage: boolean;
}

/** System error codes that mean nothing is listening: the engine is down, not slow. */
const OUTAGE_ERRNOS: ReadonlySet<string> = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);

/** True when the failure means the engine is down (refused, unreachable), not merely failing. */
export function isOutage(error: unknown): boolean {
  return error instanceof ConnectError && OUTAGE_ERRNOS.has(error.errno);
}

/** Statuses worth another try: request timeout, conflict, rate limit, and server errors. */
export function isRetryableStatus(status: number): boolean {
  // 501 (not implemented) and 505 (version not supported) answer the same way every time.
  if (status === 501 || status === 505) return false;
  return status === 408 || status === 409 || status === 429 || (status >= 500 && status <= 599);
}

/**
 * Parses a `retry-after` header: delta-seconds (`120`, leniently `1.5`) or an HTTP date.
 * @returns the wait in ms (0 for a date in the past), or undefined when absent or invalid
 */
export function parseRetryAfter(header: string | undefined | null, now: number): number | undefined {
  if (header === undefined || header === null) return undefined;
  const h = header.trim();
  if (h === '') return undefined;
  if (/^\d+(\.\d+)?$/.test(h)) return Math.round(Number(h) * 1000);
  // An HTTP date always names a weekday or month, so bare garbage never parses as a date here.
  if (!/[A-Za-z]{3}/.test(h)) return undefined;
  const at = Date.parse(h);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}

/**
 * Decides whether to retry a failed attempt, and when.
 * - outage (connect refused/unreachable): retry, outage=true, not limited by `maxRetries`;
 * - other connect errors, timeouts, truncated, unusable or oversized answers, 408/409/429/5xx:
 *   retry within the budget;
 * - the row's own 4xx (400, 404, 413, 422, ...) and context-length errors: no retry;
 * - anything else (an abort, a bug): no retry.
 * A valid `retry-after` replaces the backoff: min(retry-after, retryAfterCapMs) plus up to
 * `baseMs` of jitter, so rows rejected together don't come back together.
 * @param outcome what the attempt threw (or the error built by `errorFromStatus`)
 * @param attempt the 1-based number of the attempt that just failed
 * @param random returns a number in [0, 1); inject it for tests
 * @param now the clock in epoch ms, only read for an HTTP-date `retry-after` (default Date.now())
 */
export function classify(
  outcome: unknown,
  attempt: number,
  policy: RetryPolicy,
  random: () => number,
  now: number = Date.now(),
): RetryDecision {
  checkInt('attempt', attempt, 1);
  const no: RetryDecision = { retry: false, delayMs: 0, outage: false };
  if (isOutage(outcome)) {
    return { retry: true, delayMs: backoffMs(attempt, policy, random), outage: true };
  }
  let retryable = false;
  let retryAfter: string | undefined;
  if (outcome instanceof ContextLengthError || outcome instanceof EngineOutageError) {
    retryable = false;
  } else if (outcome instanceof HttpError) {
    retryable = isRetryableStatus(outcome.status);
    retryAfter = outcome.retryAfter;
  } else if (
    outcome instanceof ConnectError ||
    outcome instanceof TimeoutError ||
    outcome instanceof TruncatedResponseError ||
    outcome instanceof BadResponseError ||
    outcome instanceof ResponseTooLargeError
  ) {
    retryable = true;
  }
  if (!retryable || attempt > policy.maxRetries) return no;
  const after = parseRetryAfter(retryAfter, now);
  const delayMs =
    after === undefined
      ? backoffMs(attempt, policy, random)
      : Math.min(after, policy.retryAfterCapMs) + Math.floor(unitRandom(random) * policy.baseMs);
  return { retry: true, delayMs, outage: false };
}
