/**
 * One request's lifetime inside EngineClient: the handler both transports call back (undici's
 * dispatcher for `get`, the HTTP/1.1 pool for `post`), the response it makes, and the mapping from
 * transport failures (socket codes, undici's, llhttp-style `HPE_…`) to the engine error classes.
 */
import { util as undiciUtil, type Dispatcher } from 'undici';
import { SparkinferError } from '../errors.ts';
import {
  BadResponseError,
  ConnectError,
  RequestAbortedError,
  ResponseTooLargeError,
  TimeoutError,
  TruncatedResponseError,
} from './errors.ts';
import { Http1Request, headersOf, type Http1Headers } from './http1/request.ts';
import { mayCarryRateInfo, rateInfoOf, type RateInfo } from './ratelimit.ts';

export interface EngineResponse {
  status: number;
  /** Lower-case names; repeated headers as arrays. On `post`'s own pool, a getter that parses on first read. */
  headers: Record<string, string | string[] | undefined>;
  /** The whole body as UTF-8. */
  text: string;
  /** The parsed body: always set for a `post` (a 2xx); for `get`, undefined unless it parsed. */
  json: unknown;
  /** From sending the request to the last body byte, in ms. */
  latencyMs: number;
  /** The answer's rate-limit headers (ratelimit.ts), set by `EngineClient.post` when it had any. */
  rateLimit?: RateInfo | undefined;
}

/**
 * A system error code of Node's (`ECONNRESET`, `EPIPE`, `ENOTFOUND`, `EAI_AGAIN`): `E`, then capitals
 * or digits, in words joined by `_`. Never one of our own codes (`E_TIMEOUT`: nothing between the E
 * and the first `_`).
 */
const SYSTEM_CODE = /^E[A-Z0-9]+(?:_[A-Z0-9]+)*$/;

/** Whether `code` is one of Node's system error codes (not sparkinfer's `E_…`). */
export function isSystemErrorCode(code: string): boolean {
  return SYSTEM_CODE.test(code);
}

/**
 * Turns an undici or socket error into an engine error; anything unknown passes through, and so does
 * an error of our own (a SparkinferError already has its class and code).
 */
export function mapTransportError(
  err: unknown,
  at: { phase: 'headers' | 'body'; url: string; timeoutMs: number; redact: (text: string) => string },
): unknown {
  const { phase, url, timeoutMs } = at;
  if (err instanceof TruncatedResponseError) return err;
  // The body cap, raised by the pool's connection or by `Exchange.onData`: said again with the URL.
  if (err instanceof ResponseTooLargeError)
    return new ResponseTooLargeError(err.limitBytes, `engine response from ${url} is too large: ${at.redact(err.message)}`, { cause: err });
  if (err instanceof SparkinferError) return err;
  const code = errorCode(err);
  if (code === undefined) return err;
  const detail = at.redact(err instanceof Error ? err.message : String(err));
  if (code === 'UND_ERR_HEADERS_TIMEOUT') return new TimeoutError('headers', timeoutMs, { cause: err });
  if (code === 'UND_ERR_BODY_TIMEOUT') return new TimeoutError('body', timeoutMs, { cause: err });
  if (code === 'UND_ERR_DESTROYED' || code === 'UND_ERR_CLOSED') return err; // our own shutdown
  // Bytes that are not HTTP/1.x: a wrong port, a TLS or binary server, a broken proxy.
  if (code.startsWith('HPE_')) return new BadResponseError(`engine at ${url} did not answer HTTP: ${detail} (${code})`, { cause: err });
  if (phase === 'body') {
    return new TruncatedResponseError(`engine response from ${url} was cut mid-body: ${detail} (${code})`, { cause: err });
  }
  if (code === 'UND_ERR_CONNECT_TIMEOUT')
    return new ConnectError(code, `cannot connect to engine at ${url}: connect timed out (${code})`, { cause: err });
  if (isSystemErrorCode(code) || code.startsWith('UND_ERR_')) {
    const what = code === 'ECONNREFUSED' ? 'connection refused' : detail;
    return new ConnectError(code, `cannot reach engine at ${url}: ${what} (${code})`, { cause: err });
  }
  return err;
}

/**
 * One request, as an undici dispatch handler (collects the status, headers and body chunks, with
 * no Readable stream) or as an http1/request.ts request (gets the decoded text); settles the promise
 * `#send` waits on.
 */
export class Exchange extends Http1Request implements Dispatcher.DispatchHandler {
  readonly deadline: number;
  readonly timeoutMs: number;
  resolve: () => void = noop;
  reject: (err: unknown) => void = noop;
  phase: 'headers' | 'body' = 'headers';
  status = 0;
  headers: Http1Headers = {};
  chunks: Buffer[] = [];
  bytes = 0;
  /** From http1/conn.ts: the raw header lines, the content-type, and the body. */
  fields = '';
  contentType: string | undefined = undefined;
  text: string | undefined = undefined;
  /** Why it was cancelled (the caller's abort reason, or a TimeoutError from the sweep). */
  reason: unknown = undefined;
  #abort: ((err?: Error) => void) | undefined;
  #done = false;

  readonly maxBytes: number;

  constructor(started: number, timeoutMs: number, maxBytes: number) {
    super();
    this.deadline = started + timeoutMs;
    this.timeoutMs = timeoutMs;
    this.maxBytes = maxBytes;
  }

  cancel(reason: unknown): void {
    if (this.#done || this.reason !== undefined) return;
    this.reason = reason ?? new RequestAbortedError('the request was cancelled');
    // The pool (http1/pool.ts) fails it at once, queued or on a socket. In undici's pool, before onConnect it
    // waits for a connection, and is aborted as soon as it gets one.
    if (this.pool !== undefined) this.abort(this.reason);
    else this.#abort?.(this.reason as Error);
  }

  onConnect(abort: (err?: Error) => void): void {
    this.#abort = abort;
    if (this.reason !== undefined) abort(this.reason as Error);
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[]): boolean {
    if (statusCode < 200) return true;
    this.status = statusCode;
    this.headers = undiciUtil.parseHeaders(rawHeaders) as Record<string, string | string[] | undefined>;
    this.phase = 'body';
    return true;
  }

  onData(chunk: Buffer): boolean {
    this.bytes += chunk.length;
    if (this.bytes > this.maxBytes) {
      this.chunks = [];
      this.#abort?.(new ResponseTooLargeError(this.maxBytes, `an answer body over the cap of ${this.maxBytes} bytes`));
      return false;
    }
    this.chunks.push(chunk);
    return true;
  }

  onComplete(): void {
    if (this.#done) return;
    this.#done = true;
    this.resolve();
  }

  onError(err: Error): void {
    if (this.#done) return;
    this.#done = true;
    this.reject(err);
  }

  onHead(status: number, fields: string, contentType: string | undefined): void {
    this.status = status;
    this.fields = fields;
    this.contentType = contentType;
    this.phase = 'body';
  }

  onEnd(text: string, bytes: number): void {
    this.text = text;
    this.bytes = bytes;
    this.onComplete();
  }

  onFail(err: unknown): void {
    this.onError(err as Error);
  }
}

/** A response from the HTTP/1.1 pool (http1/). Its headers are parsed on first read: a generation never reads them. */
export class Answer implements EngineResponse {
  readonly status: number;
  readonly text: string;
  json: unknown = undefined;
  readonly latencyMs: number;
  /** Read during framing (http1/conn.ts), so the hot path needs no header parse. */
  readonly contentType: string | undefined;
  readonly #fields: string;
  #headers: Http1Headers | undefined;

  constructor(status: number, fields: string, contentType: string | undefined, text: string, latencyMs: number) {
    this.status = status;
    this.#fields = fields;
    this.contentType = contentType;
    this.text = text;
    this.latencyMs = latencyMs;
  }

  get headers(): Http1Headers {
    return (this.#headers ??= headersOf(this.#fields));
  }

  /** The rate-limit headers (ratelimit.ts); a scan of the raw header block first, so an answer without any parses nothing. */
  rateInfo(now: number): RateInfo | undefined {
    return mayCarryRateInfo(this.#fields) ? rateInfoOf(this.headers, now) : undefined;
  }
}

function noop(): void {}

/** The error's code, looking inside AggregateError (happy-eyeballs connects report one per address). */
function errorCode(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string') return code;
  const inner = (err as { errors?: unknown }).errors;
  return Array.isArray(inner) && inner.length > 0 ? errorCode(inner[0]) : undefined;
}

/** undici's flat header list as pairs. */
export function pairs(flat: readonly string[]): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (let i = 0; i + 1 < flat.length; i += 2) out.push([flat[i] as string, flat[i + 1] as string]);
  return out;
}

export function headerValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}
