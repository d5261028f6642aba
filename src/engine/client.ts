/**
 * The OpenAI-compatible engine client: one HTTP attempt per call. Generation (`post`) goes over
 * our own keep-alive HTTP/1.1 pool (http1/pool.ts: undici's generality cost the worker half its CPU);
 * control calls (`get`) and any injected `dispatcher` go through undici. It never retries (the
 * scheduler does, through `classify`; the one exception is http1/conn.ts's resend after a stale
 * keep-alive socket) and turns every transport failure into one of the engine error classes. The
 * API key never appears in an error message or a log line. One request's lifetime (timeouts, the
 * two transports' callbacks, error mapping) is in exchange.ts.
 */

import { Pool, type Dispatcher } from 'undici';
import { BadResponseError, TimeoutError, TruncatedResponseError, errorFromStatus, excerpt } from './errors.ts';
import { Answer, Exchange, headerValue, mapTransportError, pairs, type EngineResponse } from './exchange.ts';
import { Http1Pool, IDLE_CLOSE_MS, MAX_BODY_BYTES } from './http1/pool.ts';
import { rateInfoOf } from './ratelimit.ts';
import { checkInt } from '../checks.ts';
import { SpecError } from '../errors.ts';

/** The minimal logger the engine code writes to. */
export interface EngineLogger {
  info(message: string): void;
  warn(message: string): void;
  debug?(message: string): void;
}

export interface EngineClientOptions {
  /** OpenAI-compatible base URL including `/v1`, e.g. `http://127.0.0.1:8080/v1`. No credentials in it. */
  endpoint: string;
  /** Sent as `Authorization: Bearer <apiKey>`. Never logged. Default: none. */
  apiKey?: string | undefined;
  /** Pool size for `post`: the largest in-flight window this client will carry. Default 64. */
  connections?: number;
  /** Per-request limit for `post`, headers and body together, in ms. Default 600_000 (10m). */
  requestTimeoutMs?: number;
  /** Limit for `get` (health, metrics), in ms. Default 10_000. */
  controlTimeoutMs?: number;
  /** TCP connect limit, in ms. Default 10_000. */
  connectTimeoutMs?: number;
  /** `post`'s sockets are closed after this long idle, in ms. Default IDLE_CLOSE_MS (500, http1/pool.ts). */
  idleCloseMs?: number;
  /** An answer body over this many bytes fails with ResponseTooLargeError. Default MAX_BODY_BYTES (16 MiB, http1/pool.ts). */
  maxResponseBytes?: number;
  /** A dispatcher (undici) to use instead of the client's own pools (tests, proxies). Not closed by `close()`. */
  dispatcher?: Dispatcher | undefined;
  /** Receives a debug line per failed attempt. Default: none. */
  logger?: EngineLogger | undefined;
}

export interface RequestOptions {
  /** Aborts the request; the call then rejects with the signal's reason. */
  signal?: AbortSignal | undefined;
  /** Overrides the client's timeout for this call, in ms. */
  timeoutMs?: number | undefined;
  /** A W3C `traceparent` header value sent with this POST (a traced request, src/trace/). */
  traceparent?: string | undefined;
}

/** Connections of the separate control pool, so /health and /metrics never queue behind generation. */
const CONTROL_CONNECTIONS = 2;

/** Strips a trailing slash and `/v1`: health and metrics live at the server root. */
export function rootUrlOf(endpoint: string): string {
  const u = new URL(endpoint);
  const path = u.pathname.replace(/\/+$/, '').replace(/\/v1$/, '');
  return `${u.origin}${path}`;
}

export class EngineClient {
  /** The endpoint as given, without a trailing slash (ends in `/v1`). */
  readonly endpoint: string;
  /** The server root: `endpoint` without `/v1`. */
  readonly rootUrl: string;
  readonly requestTimeoutMs: number;
  readonly controlTimeoutMs: number;
  readonly #origin: string;
  readonly #basePath: string;
  readonly #rootPath: string;
  readonly #apiKey: string | undefined;
  /** Where `post` goes: our own pool, or the injected dispatcher. */
  readonly #work: Http1Pool | Dispatcher;
  readonly #control: Dispatcher;
  readonly #owned: Array<Pool | Http1Pool> = [];
  #closed: Promise<void> | undefined;
  readonly #logger: EngineLogger | undefined;
  /** Request headers as undici's flat list, built once (the dispatcher's path). */
  readonly #postHeaders: string[];
  readonly #getHeaders: string[];
  /** Requests in flight, for the deadline sweep. */
  readonly #inflight = new Set<Exchange>();
  #sweepTimer: ReturnType<typeof setTimeout> | undefined;
  #sweepAt: number | undefined;
  readonly #maxBytes: number;
  /** In-flight requests per caller signal: one abort listener per signal, not per request. */
  readonly #bySignal = new WeakMap<AbortSignal, Set<Exchange>>();

  constructor(options: EngineClientOptions) {
    // The endpoint and the key are the user's settings (`engine.endpoint`, the key's variable), which
    // the schema checks only as a URL: a bad one is a SpecError. The other options are code's.
    let url: URL;
    try {
      url = new URL(options.endpoint);
    } catch {
      throw new SpecError(`Expected \`endpoint\` to be an http(s) URL like http://127.0.0.1:8080/v1, got \`${String(options.endpoint)}\``);
    }
    if (url.username !== '' || url.password !== '') {
      // Never echo the URL here: it holds the credentials.
      throw new SpecError('Expected `endpoint` without credentials; put the key in the environment variable named by `engine.api_key_env`');
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new SpecError(`Expected \`endpoint\` to be an http(s) URL like http://127.0.0.1:8080/v1, got \`${options.endpoint}\``);
    }
    if (url.search !== '' || url.hash !== '')
      throw new SpecError(`Expected \`endpoint\` without a query or fragment, got \`${options.endpoint}\``);
    if (options.apiKey !== undefined && (typeof options.apiKey !== 'string' || options.apiKey === '' || /[\r\n]/.test(options.apiKey))) {
      throw new SpecError('Expected `apiKey` to be a non-empty single-line string');
    }
    const connections = checkInt('connections', options.connections ?? 64, 1);
    this.requestTimeoutMs = checkInt('requestTimeoutMs', options.requestTimeoutMs ?? 600_000, 1);
    this.controlTimeoutMs = checkInt('controlTimeoutMs', options.controlTimeoutMs ?? 10_000, 1);
    const connectTimeoutMs = checkInt('connectTimeoutMs', options.connectTimeoutMs ?? 10_000, 1);
    this.#maxBytes = checkInt('maxResponseBytes', options.maxResponseBytes ?? MAX_BODY_BYTES, 1);

    this.#origin = url.origin;
    this.#basePath = url.pathname.replace(/\/+$/, '');
    this.endpoint = `${url.origin}${this.#basePath}`;
    this.rootUrl = rootUrlOf(this.endpoint);
    this.#rootPath = this.rootUrl.slice(url.origin.length);
    this.#apiKey = options.apiKey;
    this.#logger = options.logger;
    const auth = this.#apiKey !== undefined ? ['authorization', `Bearer ${this.#apiKey}`] : [];
    this.#getHeaders = ['accept', 'application/json', ...auth];
    this.#postHeaders = ['accept', 'application/json', 'content-type', 'application/json', ...auth];
    if (options.dispatcher !== undefined) {
      this.#work = options.dispatcher;
      this.#control = options.dispatcher;
    } else {
      const work = new Http1Pool({
        url,
        connections,
        connectTimeoutMs,
        headers: pairs(this.#postHeaders),
        idleCloseMs: checkInt('idleCloseMs', options.idleCloseMs ?? IDLE_CLOSE_MS, 1),
        maxBodyBytes: this.#maxBytes,
      });
      const control = new Pool(url.origin, {
        pipelining: 1,
        connect: { timeout: connectTimeoutMs },
        connections: CONTROL_CONNECTIONS,
        headersTimeout: this.controlTimeoutMs,
        bodyTimeout: this.controlTimeoutMs,
      });
      this.#owned.push(work, control);
      this.#work = work;
      this.#control = control;
    }
  }

  /**
   * POSTs a JSON body to `endpoint + path` (e.g. `/chat/completions`). One attempt, no retries
   * (a stale keep-alive socket aside: see http1/conn.ts).
   * @returns the response of a 2xx, with its parsed JSON
   * @throws HttpError / ContextLengthError for a non-2xx; TimeoutError, ConnectError,
   *   TruncatedResponseError for transport failures; the signal's reason when aborted
   */
  async post(path: string, bodyJson: string, options: RequestOptions | AbortSignal = {}): Promise<EngineResponse> {
    return this.#postJson(this.#basePath + path, bodyJson, options);
  }

  /**
   * POSTs a JSON body to `rootUrl + path`, the server's own API beside `/v1` (`/tokenize`,
   * `/apply-template`), on the same pool and with the same errors as `post`.
   */
  async postRoot(path: string, bodyJson: string, options: RequestOptions | AbortSignal = {}): Promise<EngineResponse> {
    return this.#postJson(this.#rootPath + path, bodyJson, options);
  }

  async #postJson(fullPath: string, bodyJson: string, options: RequestOptions | AbortSignal): Promise<EngineResponse> {
    const opts = options instanceof AbortSignal ? { signal: options } : options;
    const res = await this.#send(
      this.#work,
      'POST',
      fullPath,
      bodyJson,
      opts.timeoutMs ?? this.requestTimeoutMs,
      opts.signal,
      opts.traceparent,
    );
    // Rate-limit headers (ratelimit.ts) on success and failure alike: the worker's rate gate paces by them.
    const rate = res instanceof Answer ? res.rateInfo(Date.now()) : rateInfoOf(res.headers, Date.now());
    if (res.status < 200 || res.status >= 300) {
      throw errorFromStatus(res.status, this.#redact(res.text), headerValue(res.headers['retry-after']), rate);
    }
    if (rate !== undefined) res.rateLimit = rate;
    // An engine or a proxy in front of it answering an error page or a login form with 200.
    const type = res instanceof Answer ? res.contentType : headerValue(res.headers['content-type']);
    if (type !== undefined && !/\bjson\b/i.test(type)) {
      throw new BadResponseError(
        `engine answered HTTP ${res.status} with content-type ${this.#redact(excerpt(type))}, not JSON (${Buffer.byteLength(res.text)} bytes): ${this.#redact(excerpt(res.text.slice(0, 200)))}`,
      );
    }
    try {
      res.json = JSON.parse(res.text);
      return res;
    } catch (cause) {
      throw new BadResponseError(
        `engine answered HTTP ${res.status} with a complete body that is not JSON (${Buffer.byteLength(res.text)} bytes): ${this.#redact(excerpt(res.text.slice(-200)))}`,
        { cause },
      );
    }
  }

  /**
   * GETs `rootUrl + path` (`/health`, `/metrics`, `/slots`, `/v1/models`) on a separate small pool.
   * Any status resolves; `json` is set when the body parses. Transport failures throw as in `post`.
   */
  async get(path: string, options: RequestOptions = {}): Promise<EngineResponse> {
    const res = await this.#send(
      this.#control,
      'GET',
      this.#rootPath + path,
      undefined,
      options.timeoutMs ?? this.controlTimeoutMs,
      options.signal,
    );
    try {
      res.json = res.text === '' ? undefined : JSON.parse(res.text);
    } catch {
      res.json = undefined;
    }
    return res;
  }

  /** Closes the client's own pools after their in-flight requests finish. Calling it again waits for the same. */
  close(): Promise<void> {
    this.#closed ??= Promise.all(
      this.#owned.map(async (p) => {
        await p.close();
      }),
    ).then(() => undefined);
    return this.#closed;
  }

  /** Replaces the API key wherever it might appear (e.g. an engine echoing the header). */
  #redact(text: string): string {
    return this.#apiKey === undefined ? text : text.split(this.#apiKey).join('[REDACTED]');
  }

  /** One attempt; the response's `json` is left undefined for the caller to fill. */
  async #send(
    target: Http1Pool | Dispatcher,
    method: 'GET' | 'POST',
    path: string,
    body: string | undefined,
    timeoutMs: number,
    signal: AbortSignal | undefined,
    traceparent?: string,
  ): Promise<EngineResponse> {
    signal?.throwIfAborted();
    const started = performance.now();
    // No AbortController, listener or timer per request: the client's deadline sweep and one
    // listener per caller signal cancel the request (`Exchange.cancel`).
    const x = new Exchange(started, timeoutMs, this.#maxBytes);
    const res = new Promise<void>((resolve, reject) => {
      x.resolve = resolve;
      x.reject = reject;
    });
    this.#track(x, signal);
    try {
      if (target instanceof Http1Pool && body !== undefined) target.post(path, body, x, traceparent);
      else {
        (target as Dispatcher).dispatch(
          {
            origin: this.#origin,
            path,
            method,
            headers:
              body === undefined
                ? this.#getHeaders
                : traceparent === undefined
                  ? this.#postHeaders
                  : [...this.#postHeaders, 'traceparent', traceparent],
            body: body ?? null,
            headersTimeout: timeoutMs,
            bodyTimeout: timeoutMs,
          },
          x,
        );
      }
      await res;
      // http1/conn.ts checks the framing itself and hands over the decoded text.
      if (x.text !== undefined) return new Answer(x.status, x.fields, x.contentType, x.text, performance.now() - started);
      const headers = x.headers;
      const declared = headerValue(headers['content-length']);
      if (declared !== undefined && /^\d+$/.test(declared) && Number(declared) !== x.bytes) {
        throw new TruncatedResponseError(`engine response from ${this.#origin}${path} was cut: ${x.bytes} of ${declared} bytes`);
      }
      const chunks = x.chunks;
      return {
        status: x.status,
        headers,
        text: chunks.length === 1 ? (chunks[0] as Buffer).toString('utf8') : Buffer.concat(chunks, x.bytes).toString('utf8'),
        json: undefined,
        latencyMs: performance.now() - started,
      };
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      const url = `${this.#origin}${path}`;
      const mapped =
        x.reason instanceof TimeoutError
          ? new TimeoutError('request', timeoutMs, { cause: err })
          : mapTransportError(err, { phase: x.phase, url, timeoutMs, redact: (t) => this.#redact(t) });
      this.#logger?.debug?.(
        `${method} ${url} failed after ${Math.round(performance.now() - started)}ms: ${mapped instanceof Error ? mapped.message : String(mapped)}`,
      );
      throw mapped;
    } finally {
      this.#untrack(x, signal);
    }
  }

  /** Registers an exchange with the deadline sweep and with its caller's signal. */
  #track(x: Exchange, signal: AbortSignal | undefined): void {
    this.#inflight.add(x);
    if (this.#sweepAt === undefined || x.deadline < this.#sweepAt) this.#armSweep(x.deadline);
    if (signal === undefined) return;
    let set = this.#bySignal.get(signal);
    if (set === undefined) {
      const s = new Set<Exchange>();
      set = s;
      this.#bySignal.set(signal, s);
      signal.addEventListener(
        'abort',
        () => {
          for (const e of s) e.cancel(signal.reason);
          s.clear();
        },
        { once: true },
      );
    }
    set.add(x);
  }

  #untrack(x: Exchange, signal: AbortSignal | undefined): void {
    this.#inflight.delete(x);
    if (signal !== undefined) this.#bySignal.get(signal)?.delete(x);
    if (this.#inflight.size === 0 && this.#sweepTimer !== undefined) {
      clearTimeout(this.#sweepTimer);
      this.#sweepTimer = undefined;
      this.#sweepAt = undefined;
    }
  }

  /** One timer for all requests, due at the earliest deadline (requests rarely finish out of order by much). */
  #armSweep(at: number): void {
    if (this.#sweepTimer !== undefined) clearTimeout(this.#sweepTimer);
    this.#sweepAt = at;
    this.#sweepTimer = setTimeout(this.#sweep, Math.max(1, Math.ceil(at - performance.now())));
  }

  readonly #sweep = (): void => {
    this.#sweepTimer = undefined;
    this.#sweepAt = undefined;
    const now = performance.now();
    let next = Infinity;
    for (const x of this.#inflight) {
      if (x.deadline <= now) {
        this.#inflight.delete(x);
        x.cancel(new TimeoutError('request', x.timeoutMs));
      } else if (x.deadline < next) next = x.deadline;
    }
    if (next !== Infinity) this.#armSweep(next);
  };
}
