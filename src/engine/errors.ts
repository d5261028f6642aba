/**
 * Engine errors. Each class has one stable code (docs/errors.md). HTTP status codes map
 * to classes in exactly one place: `errorFromStatus`.
 */
import { SparkinferError } from '../errors.ts';
import { badArgument, describeValue } from '../checks.ts';

/** How much of a response body an error message quotes. */
const EXCERPT_CHARS = 300;

/** One limit (requests or tokens) as a rate limiter's headers state it (parsed by ratelimit.ts). */
export interface RateBudget {
  /** `x-ratelimit-limit-*`: the limit's size. */
  limit?: number;
  /** `x-ratelimit-remaining-*`: what is left of it now. */
  remaining?: number;
  /** `x-ratelimit-reset-*`, in ms: time until the limit is back to its initial state. */
  resetMs?: number;
}

/**
 * What an answer's rate-limit headers said (ratelimit.ts parses them; it is here because
 * HttpError carries it). Present only when at least one of them parsed.
 */
export interface RateInfo {
  /** `retry-after-ms`, else `retry-after`, in ms. */
  retryAfterMs?: number;
  requests?: RateBudget;
  tokens?: RateBudget;
}

/**
 * The engine answered with a non-2xx status. Two classes, one code each: `HttpClientError`
 * (E_HTTP_4XX, a status below 500) and `HttpServerError` (E_HTTP_5XX); `errorFromStatus` picks one.
 */
export abstract class HttpError extends SparkinferError {
  /** The HTTP status code. */
  readonly status: number;
  /** The start of the response body (already redacted by the client). */
  readonly bodyExcerpt: string;
  /** The raw `retry-after` header, when the engine sent one. */
  readonly retryAfter: string | undefined;
  /** The answer's rate-limit headers, parsed (ratelimit.ts), when it had any. */
  readonly rateLimit: RateInfo | undefined;
  constructor(status: number, bodyExcerpt: string, retryAfter?: string, message?: string, rateLimit?: RateInfo) {
    super(message ?? `engine answered HTTP ${status}${bodyExcerpt ? `: ${bodyExcerpt}` : ''}`);
    this.status = status;
    this.bodyExcerpt = bodyExcerpt;
    this.retryAfter = retryAfter;
    this.rateLimit = rateLimit;
  }
}

/** The engine rejected the request: a 4xx (or an unexpected 1xx/3xx). */
export class HttpClientError extends HttpError {
  readonly code = 'E_HTTP_4XX';
}

/** The engine failed: a 5xx. */
export class HttpServerError extends HttpError {
  readonly code = 'E_HTTP_5XX';
}

/** The prompt does not fit the model's context (a 400 that says so). Never retried. */
export class ContextLengthError extends SparkinferError {
  readonly code = 'E_CONTEXT_LENGTH';
  readonly status: number;
  readonly bodyExcerpt: string;
  constructor(status: number, bodyExcerpt: string) {
    super(`prompt exceeds the model's context: ${bodyExcerpt}`);
    this.status = status;
    this.bodyExcerpt = bodyExcerpt;
  }
}

/** No complete answer within the request timeout (headers or body), or the connect timed out. */
export class TimeoutError extends SparkinferError {
  readonly code = 'E_TIMEOUT';
  /** Which wait ran out. */
  readonly phase: 'connect' | 'headers' | 'body' | 'request';
  readonly timeoutMs: number;
  constructor(phase: TimeoutError['phase'], timeoutMs: number, options?: { cause?: unknown }) {
    super(`no ${phase === 'request' ? 'answer' : phase} from the engine within ${timeoutMs}ms`, options);
    this.phase = phase;
    this.timeoutMs = timeoutMs;
  }
}

/**
 * A request the client gave up on by itself: posted after the client was closed, or cancelled
 * without a reason. Not retried; per row it is `E_RUNTIME`, as before it had a class.
 */
export class RequestAbortedError extends SparkinferError {
  readonly code = 'E_RUNTIME';
}

/** No connection, or the connection broke before a response started. */
export class ConnectError extends SparkinferError {
  readonly code = 'E_CONNECT';
  /** The system or undici error code (`ECONNREFUSED`, `ECONNRESET`, `UND_ERR_SOCKET`, ...). */
  readonly errno: string;
  constructor(errno: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.errno = errno;
  }
}

/** A 2xx whose body was cut: the socket closed mid-body, or fewer bytes than its length said. */
export class TruncatedResponseError extends SparkinferError {
  readonly code = 'E_RESPONSE_TRUNCATED';
}

/**
 * An answer the API can't use, though it arrived whole: not HTTP at all (a bad status line or
 * framing), a 2xx that is not JSON or says another content type, or JSON that lacks what the API
 * promises (no `choices`, no `data`). The engine misbehaved: retried within the budget.
 */
export class BadResponseError extends SparkinferError {
  readonly code = 'E_BAD_RESPONSE';
}

/**
 * An answer body over the client's cap (`EngineClient`'s `maxResponseBytes`): it is dropped as
 * soon as the cap is passed, so a runaway engine can't fill the worker's memory. Retried within
 * the budget.
 */
export class ResponseTooLargeError extends SparkinferError {
  readonly code = 'E_RESPONSE_TOO_LARGE';
  readonly limitBytes: number;
  constructor(limitBytes: number, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.limitBytes = limitBytes;
  }
}

/** The engine stayed unreachable past its timeout (startup or `outage_timeout`). Fails the task. */
export class EngineOutageError extends SparkinferError {
  readonly code = 'E_ENGINE_OUTAGE';
  /** The health URL that was polled. */
  readonly url: string;
  /** The last observed state, e.g. `connection refused` or `HTTP 503 (loading)`. */
  readonly lastState: string;
  constructor(url: string, lastState: string, waitedMs: number, options?: { cause?: unknown }) {
    super(`engine at ${url} not healthy after ${Math.round(waitedMs / 1000)}s; last state: ${lastState}`, options);
    this.url = url;
    this.lastState = lastState;
  }
}

/**
 * The engine stayed down past `engine.outage_timeout` while the worker's pipeline waited on it
 * (src/worker/pipeline.ts): the worker exits non-zero so Spark retries the task.
 */
export class OutageTimeout extends SparkinferError {
  readonly code = 'E_ENGINE_OUTAGE';
}

/** Phrases engines use in a 400 for a prompt that is too long. */
const CONTEXT_PATTERNS: readonly RegExp[] = [
  /exceed_context_size_error/, // llama-server error type
  /exceeds the available context size/i, // llama-server message
  /larger than the max context size/i, // llama-server (context shift off)
  /maximum context length/i, // vLLM and OpenAI
  /maximum model length/i, // vLLM: "... is longer than the maximum model length of N"
  /context_length_exceeded/, // OpenAI error code
];

/** Collapses whitespace and cuts to EXCERPT_CHARS so a huge HTML error page stays a one-liner. */
export function excerpt(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > EXCERPT_CHARS ? `${flat.slice(0, EXCERPT_CHARS)}…` : flat;
}

/**
 * Maps a non-2xx response to its error class. The only place that turns statuses into errors.
 * @param status HTTP status (a 2xx is a caller bug and throws RangeError)
 * @param bodyText the response body; it should already be redacted of secrets
 * @param retryAfter the raw `retry-after` header, kept for `classify`
 * @param rateLimit the answer's rate-limit headers, parsed (ratelimit.ts), for the rate gate
 */
export function errorFromStatus(
  status: number,
  bodyText: string,
  retryAfter?: string,
  rateLimit?: RateInfo,
): HttpError | ContextLengthError {
  if (!Number.isInteger(status) || status < 100 || status > 599 || (status >= 200 && status < 300)) {
    throw badArgument(`Expected a non-2xx HTTP status, got ${describeValue(status)}`);
  }
  const body = excerpt(bodyText);
  if ((status === 400 || status === 413) && CONTEXT_PATTERNS.some((p) => p.test(bodyText))) {
    return new ContextLengthError(status, body);
  }
  // 1xx/3xx are not OpenAI answers (undici follows no redirects): a misconfigured endpoint.
  const odd = status < 400 ? `engine answered unexpected HTTP ${status}${body ? `: ${body}` : ''}` : undefined;
  const Class = status >= 500 ? HttpServerError : HttpClientError;
  return new Class(status, body, retryAfter, odd, rateLimit);
}
