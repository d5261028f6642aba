/**
 * The OpenAI-compatible engine client: one HTTP attempt per call, over a keep-alive undici Pool.
 * It never retries (the scheduler does, through `classify`) and turns every transport failure into
 * one of the engine error classes. The API key never appears in an error message or a log line.
 */
import { Pool, util as undiciUtil, type Dispatcher } from 'undici';
import { ConnectError, TimeoutError, TruncatedResponseError, errorFromStatus, excerpt } from './errors.ts';

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
  /** A dispatcher to use instead of the client's own pools (tests, proxies). Not closed by `close()`. */
  dispatcher?: Dispatcher | undefined;
  /** Receives a debug line per failed attempt. Default: none. */
  logger?: EngineLogger | undefined;
}

export interface EngineResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** The whole body as UTF-8. */
  text: string;
  /** The parsed body: always set for a `post` (a 2xx); for `get`, undefined unless it parsed. */
  json: unknown;
  /** From sending the request to the last body byte, in ms. */
  latencyMs: number;
}

export interface RequestOptions {
  /** Aborts the request; the call then rejects with the signal's reason. */
  signal?: AbortSignal | undefined;
  /** Overrides the client's timeout for this call, in ms. */
  timeoutMs?: number | undefined;
}

/** Connections of the separate control pool, so /health and /metrics never queue behind generation. */
const CONTROL_CONNECTIONS = 2;

/** Strips a trailing slash and `/v1`: health and metrics live at the server root. */
export function rootUrlOf(endpoint: string): string {
  const u = new URL(endpoint);
  const path = u.pathname.replace(/\/+$/, '').replace(/\/v1$/, '');
  return `${u.origin}${path}`;
}

function positiveInt(name: string, v: unknown, fallback: number): number {
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) {
    throw new TypeError(`Expected \`${name}\` to be a whole number from 1 and up, got \`${String(v)}\` (${typeof v})`);
  }
  return v;
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
  readonly #work: Dispatcher;
  readonly #control: Dispatcher;
  readonly #owned: Pool[] = [];
  readonly #logger: EngineLogger | undefined;
  /** Request headers as undici's flat list, built once. */
  readonly #postHeaders: string[];
  readonly #getHeaders: string[];
  /** Requests in flight, for the deadline sweep. */
  readonly #inflight = new Set<Exchange>();
  #sweepTimer: ReturnType<typeof setTimeout> | undefined;
  #sweepAt: number | undefined;
  /** In-flight requests per caller signal: one abort listener per signal, not per request. */
  readonly #bySignal = new WeakMap<AbortSignal, Set<Exchange>>();

  constructor(options: EngineClientOptions) {
    let url: URL;
    try {
      url = new URL(options.endpoint);
    } catch {
      throw new TypeError(`Expected \`endpoint\` to be an http(s) URL like http://127.0.0.1:8080/v1, got \`${String(options.endpoint)}\``);
    }
    if (url.username !== '' || url.password !== '') {
      // Never echo the URL here: it holds the credentials.
      throw new TypeError('Expected `endpoint` without credentials; put the key in the environment variable named by `engine.api_key_env`');
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new TypeError(`Expected \`endpoint\` to be an http(s) URL like http://127.0.0.1:8080/v1, got \`${options.endpoint}\``);
    }
    if (url.search !== '' || url.hash !== '') throw new TypeError(`Expected \`endpoint\` without a query or fragment, got \`${options.endpoint}\``);
    if (options.apiKey !== undefined && (typeof options.apiKey !== 'string' || options.apiKey === '' || /[\r\n]/.test(options.apiKey))) {
      throw new TypeError('Expected `apiKey` to be a non-empty single-line string');
    }
    const connections = positiveInt('connections', options.connections, 64);
    this.requestTimeoutMs = positiveInt('requestTimeoutMs', options.requestTimeoutMs, 600_000);
    this.controlTimeoutMs = positiveInt('controlTimeoutMs', options.controlTimeoutMs, 10_000);
    const connectTimeoutMs = positiveInt('connectTimeoutMs', options.connectTimeoutMs, 10_000);

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
      const common = { pipelining: 1, connect: { timeout: connectTimeoutMs } };
      const work = new Pool(url.origin, { ...common, connections, headersTimeout: this.requestTimeoutMs, bodyTimeout: this.requestTimeoutMs });
      const control = new Pool(url.origin, { ...common, connections: CONTROL_CONNECTIONS, headersTimeout: this.controlTimeoutMs, bodyTimeout: this.controlTimeoutMs });
      this.#owned.push(work, control);
      this.#work = work;
      this.#control = control;
    }
  }

  /**
   * POSTs a JSON body to `endpoint + path` (e.g. `/chat/completions`). One attempt, no retries.
   * @returns the response of a 2xx, with its parsed JSON
   * @throws HttpError / ContextLengthError for a non-2xx; TimeoutError, ConnectError,
   *   TruncatedResponseError for transport failures; the signal's reason when aborted
   */
  async post(path: string, bodyJson: string, options: RequestOptions | AbortSignal = {}): Promise<EngineResponse> {
    const opts = options instanceof AbortSignal ? { signal: options } : options;
    const res = await this.#send(this.#work, 'POST', this.#basePath + path, bodyJson, opts.timeoutMs ?? this.requestTimeoutMs, opts.signal);
    if (res.status < 200 || res.status >= 300) {
      throw errorFromStatus(res.status, this.#redact(res.text), headerValue(res.headers['retry-after']));
    }
    try {
      return { ...res, json: JSON.parse(res.text) };
    } catch (cause) {
      throw new TruncatedResponseError(`engine answered HTTP ${res.status} with a body that is not JSON (${Buffer.byteLength(res.text)} bytes): ${this.#redact(excerpt(res.text.slice(-200)))}`, { cause });
    }
  }

  /**
   * GETs `rootUrl + path` (`/health`, `/metrics`, `/slots`, `/v1/models`) on a separate small pool.
   * Any status resolves; `json` is set when the body parses. Transport failures throw as in `post`.
   */
  async get(path: string, options: RequestOptions = {}): Promise<EngineResponse> {
    const res = await this.#send(this.#control, 'GET', this.#rootPath + path, undefined, options.timeoutMs ?? this.controlTimeoutMs, options.signal);
    let json: unknown;
    try {
      json = res.text === '' ? undefined : JSON.parse(res.text);
    } catch {
      json = undefined;
    }
    return { ...res, json };
  }

  /** Closes the client's own pools after their in-flight requests finish. */
  async close(): Promise<void> {
    await Promise.all(this.#owned.map((p) => p.close()));
  }

  /** Replaces the API key wherever it might appear (e.g. an engine echoing the header). */
  #redact(text: string): string {
    return this.#apiKey === undefined ? text : text.split(this.#apiKey).join('[REDACTED]');
  }

  async #send(dispatcher: Dispatcher, method: 'GET' | 'POST', path: string, body: string | undefined, timeoutMs: number, signal: AbortSignal | undefined): Promise<Omit<EngineResponse, 'json'>> {
    signal?.throwIfAborted();
    const url = `${this.#origin}${path}`;
    const started = performance.now();
    // No AbortController, listener or timer per request: the client's deadline sweep and one
    // listener per caller signal cancel the request (`Exchange.cancel`).
    const x = new Exchange(started, timeoutMs);
    const res = new Promise<void>((resolve, reject) => { x.resolve = resolve; x.reject = reject; });
    this.#track(x, signal);
    try {
      dispatcher.dispatch({
        origin: this.#origin, path, method, headers: body !== undefined ? this.#postHeaders : this.#getHeaders, body: body ?? null,
        headersTimeout: timeoutMs, bodyTimeout: timeoutMs,
      }, x);
      await res;
      const headers = x.headers;
      const declared = headerValue(headers['content-length']);
      if (declared !== undefined && /^\d+$/.test(declared) && Number(declared) !== x.bytes) {
        throw new TruncatedResponseError(`engine response from ${url} was cut: ${x.bytes} of ${declared} bytes`);
      }
      const chunks = x.chunks;
      return {
        status: x.status,
        headers,
        text: chunks.length === 1 ? (chunks[0] as Buffer).toString('utf8') : Buffer.concat(chunks, x.bytes).toString('utf8'),
        latencyMs: performance.now() - started,
      };
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      const mapped = x.reason instanceof TimeoutError
        ? new TimeoutError('request', timeoutMs, { cause: err })
        : this.#mapError(err, x.phase, url, timeoutMs);
      this.#logger?.debug?.(`${method} ${url} failed after ${Math.round(performance.now() - started)}ms: ${mapped instanceof Error ? mapped.message : String(mapped)}`);
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
      signal.addEventListener('abort', () => {
        for (const e of s) e.cancel(signal.reason);
        s.clear();
      }, { once: true });
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

  /** Turns an undici or socket error into an engine error; anything unknown passes through. */
  #mapError(err: unknown, phase: 'headers' | 'body', url: string, timeoutMs: number): unknown {
    if (err instanceof TruncatedResponseError) return err;
    const code = errorCode(err);
    if (code === undefined) return err;
    const detail = this.#redact(err instanceof Error ? err.message : String(err));
    if (code === 'UND_ERR_HEADERS_TIMEOUT') return new TimeoutError('headers', timeoutMs, { cause: err });
    if (code === 'UND_ERR_BODY_TIMEOUT') return new TimeoutError('body', timeoutMs, { cause: err });
    if (code === 'UND_ERR_DESTROYED' || code === 'UND_ERR_CLOSED') return err; // our own shutdown
    if (phase === 'body') {
      return new TruncatedResponseError(`engine response from ${url} was cut mid-body: ${detail} (${code})`, { cause: err });
    }
    if (code === 'UND_ERR_CONNECT_TIMEOUT') return new ConnectError(code, `cannot connect to engine at ${url}: connect timed out (${code})`, { cause: err });
    if (code.startsWith('E') || code.startsWith('UND_ERR_') || code.startsWith('HPE_')) {
      const what = code === 'ECONNREFUSED' ? 'connection refused' : detail;
      return new ConnectError(code, `cannot reach engine at ${url}: ${what} (${code})`, { cause: err });
    }
    return err;
  }
}

/**
 * One request as an undici dispatch handler: collects the status, headers and body chunks, with no
 * Readable stream, and settles the promise `#send` waits on.
 */
class Exchange implements Dispatcher.DispatchHandler {
  readonly deadline: number;
  readonly timeoutMs: number;
  resolve: () => void = noop;
  reject: (err: unknown) => void = noop;
  phase: 'headers' | 'body' = 'headers';
  status = 0;
  headers: Record<string, string | string[] | undefined> = {};
  chunks: Buffer[] = [];
  bytes = 0;
  /** Why it was cancelled (the caller's abort reason, or a TimeoutError from the sweep). */
  reason: unknown = undefined;
  #abort: ((err?: Error) => void) | undefined;
  #done = false;

  constructor(started: number, timeoutMs: number) {
    this.deadline = started + timeoutMs;
    this.timeoutMs = timeoutMs;
  }

  cancel(reason: unknown): void {
    if (this.#done || this.reason !== undefined) return;
    this.reason = reason ?? new Error('aborted');
    // Before onConnect the request waits in the pool: it is aborted as soon as it gets a connection.
    this.#abort?.(this.reason as Error);
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
    this.chunks.push(chunk);
    this.bytes += chunk.length;
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

function headerValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}
