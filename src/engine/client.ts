/**
 * The OpenAI-compatible engine client: one HTTP attempt per call, over a keep-alive undici Pool.
 * It never retries (the scheduler does, through `classify`) and turns every transport failure into
 * one of the engine error classes. The API key never appears in an error message or a log line.
 */
import { Pool, type Dispatcher } from 'undici';
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
    // One controller carries both the caller's abort and the overall deadline (headers + body).
    const ac = new AbortController();
    const onAbort = (): void => ac.abort(signal?.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    const timer = setTimeout(() => ac.abort(new TimeoutError('request', timeoutMs)), timeoutMs);
    const headers: Record<string, string> = { accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (this.#apiKey !== undefined) headers['authorization'] = `Bearer ${this.#apiKey}`;
    const started = performance.now();
    let phase: 'headers' | 'body' = 'headers';
    try {
      const res = await dispatcher.request({
        origin: this.#origin, path, method, headers, body: body ?? null, signal: ac.signal,
        headersTimeout: timeoutMs, bodyTimeout: timeoutMs,
      });
      phase = 'body';
      const chunks: Buffer[] = [];
      let bytes = 0;
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        chunks.push(chunk);
        bytes += chunk.length;
      }
      const declared = headerValue(res.headers['content-length']);
      if (declared !== undefined && /^\d+$/.test(declared) && Number(declared) !== bytes) {
        throw new TruncatedResponseError(`engine response from ${url} was cut: ${bytes} of ${declared} bytes`);
      }
      return {
        status: res.statusCode,
        headers: res.headers,
        text: Buffer.concat(chunks, bytes).toString('utf8'),
        latencyMs: performance.now() - started,
      };
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      const mapped = ac.signal.aborted && ac.signal.reason instanceof TimeoutError
        ? new TimeoutError('request', timeoutMs, { cause: err })
        : this.#mapError(err, phase, url, timeoutMs);
      this.#logger?.debug?.(`${method} ${url} failed after ${Math.round(performance.now() - started)}ms: ${mapped instanceof Error ? mapped.message : String(mapped)}`);
      throw mapped;
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    }
  }

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
