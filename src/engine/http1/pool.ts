/**
 * The pool of a small HTTP/1.1 keep-alive client for the engine's generation path (`EngineClient.post`).
 *
 * Why not undici there: one worker on one core against an instant server (bench scenario d) spent
 * about half its CPU in undici (the generic dispatch machinery, llhttp in wasm, a writev of head
 * and body). Our traffic is narrow: one method, a handful of fixed headers, small JSON answers,
 * one request per connection at a time. This does just that:
 * - a pool of up to `connections` sockets, one request in flight per socket (no pipelining);
 * - the request head built once per path; head and body leave in one write;
 * - plain-TCP answers are read into one reusable buffer (`net.connect`'s `onread`, no stream per
 *   chunk) and parsed in conn.ts: status line, headers, content-length / chunked / read-until-close
 *   bodies, 1xx skipped, `connection: close` and `keep-alive: timeout=N` honoured.
 *
 * Failures reach the request as errors with a `code`: the system's (`ECONNREFUSED`,
 * `ECONNRESET`, …), `ETIMEDOUT` for the connect timeout, or an llhttp-style `HPE_…` for an answer
 * that is not HTTP. `EngineClient` maps them to engine errors by phase (before or after the
 * status line), as it does for undici's. Nothing sent (the API key is in the head) ever goes into
 * an error.
 *
 * Files: pool.ts (sockets, queue, idle sweep), conn.ts (one socket and its answer parser),
 * request.ts (one request, answer headers, coded errors).
 */
import { connect as netConnect, isIP } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { Conn, type ConnOwner } from './conn.ts';
import type { Http1Request } from './request.ts';
import { RequestAbortedError } from '../errors.ts';

export interface Http1PoolOptions {
  /** The server: an http: or https: URL; only its origin is used. */
  url: URL;
  /** The most sockets open at once (one request each). */
  connections: number;
  connectTimeoutMs: number;
  /** Header lines sent with every request, besides `host` and `content-length`. */
  headers: ReadonlyArray<readonly [string, string]>;
  /** An idle socket is closed after this long unused (default IDLE_CLOSE_MS). */
  idleCloseMs?: number;
  /** An answer body over this many bytes fails its request with `E_RESPONSE_TOO_LARGE` (default MAX_BODY_BYTES). */
  maxBodyBytes?: number;
}

/** The last header line of a cached POST head; the body's length follows it. */
const CONTENT_LENGTH = 'content-length: ';
/**
 * Past this an answer's body is dropped and its request failed (`E_RESPONSE_TOO_LARGE`), so memory per
 * request stays bounded whatever the engine sends. A generation's answer is a few KiB; a batch of
 * 256 embeddings of 4,096 dimensions is about 12 MiB of JSON. A worker answered only with such
 * bodies on a window of 2 peaked at 111 MiB (test/reliability/engine-faults.test.ts).
 */
export const MAX_BODY_BYTES = 16 * 1024 * 1024;
/**
 * Idle sockets are closed after this long. A worker sends its next request as soon as one ends,
 * so in steady state a socket is idle for microseconds; sockets stay idle only after the window
 * shrank. Those cost the server: llama-server's HTTP library (cpp-httplib `keep_alive()`) holds
 * a thread per connection that wakes every 10 ms until its 5 s keep-alive timeout. 400 idle
 * connections took 0.61 of a core from a CPU llama-server that served nothing else (100: 0.20;
 * bench/idle-connections.ts).
 * Two workers that each jumped to a 256-slot engine's free slots and then settled left ~500 such
 * sockets behind (bench/GPU.md, third session).
 */
export const IDLE_CLOSE_MS = 500;
const READ_BUFFER_BYTES = 64 * 1024;

export class Http1Pool implements ConnOwner {
  readonly #host: string;
  readonly #port: number;
  readonly #tls: boolean;
  readonly #servername: string | undefined;
  readonly #max: number;
  readonly #connectTimeoutMs: number;
  /** Header lines after the request line, without content-length. Holds the API key: private. */
  readonly #fixed: string;
  /** Request line + fixed headers + `content-length: `, per path. */
  readonly #heads = new Map<string, string>();
  readonly #conns = new Set<Conn>();
  /** Idle sockets, most recently used last (taken first: the others age out on the server). */
  readonly #idle: Conn[] = [];
  readonly #queue: Http1Request[] = [];
  readonly #idleCloseMs: number;
  readonly maxBodyBytes: number;
  /** Closes the sockets idle past `#idleCloseMs`; armed while any socket is idle. */
  #idleTimer: ReturnType<typeof setTimeout> | undefined;
  /** Requests accepted and not yet settled. */
  #pending = 0;
  #closing: { promise: Promise<void>; resolve: () => void } | undefined;
  /** Shared by all plain sockets: a read callback copies out what it keeps before returning. */
  readonly #readBuffer = Buffer.allocUnsafe(READ_BUFFER_BYTES);

  constructor(o: Http1PoolOptions) {
    this.#tls = o.url.protocol === 'https:';
    this.#host = o.url.hostname.startsWith('[') ? o.url.hostname.slice(1, -1) : o.url.hostname;
    this.#port = o.url.port !== '' ? Number(o.url.port) : this.#tls ? 443 : 80;
    this.#servername = this.#tls && isIP(this.#host) === 0 ? this.#host : undefined;
    this.#max = o.connections;
    this.#connectTimeoutMs = o.connectTimeoutMs;
    this.#idleCloseMs = o.idleCloseMs ?? IDLE_CLOSE_MS;
    this.maxBodyBytes = o.maxBodyBytes ?? MAX_BODY_BYTES;
    this.#fixed = `host: ${o.url.host}\r\n${o.headers.map(([k, v]) => `${k}: ${v}\r\n`).join('')}`;
  }

  /**
   * Sends `POST path` with a JSON body; the outcome goes to `req`'s callbacks. `traceparent`
   * (a traced request) adds that header; checked by the caller (src/trace/context.ts formats it).
   */
  post(path: string, body: string, req: Http1Request, traceparent?: string): void {
    let head = this.#heads.get(path);
    if (head === undefined) {
      head = `POST ${path} HTTP/1.1\r\n${this.#fixed}${CONTENT_LENGTH}`;
      if (this.#heads.size < 32) this.#heads.set(path, head);
    }
    // A traced request's header goes just before content-length, the cached head's last line.
    if (traceparent !== undefined) head = `${head.slice(0, -CONTENT_LENGTH.length)}traceparent: ${traceparent}\r\n${CONTENT_LENGTH}`;
    req.wire = `${head}${Buffer.byteLength(body)}\r\n\r\n${body}`;
    req.pool = this;
    this.#pending++;
    if (this.#closing !== undefined) {
      this.fail(req, new RequestAbortedError('the engine client is closed'));
      return;
    }
    const conn = this.#takeIdle();
    if (conn !== undefined) conn.send(req);
    else if (this.#conns.size < this.#max) this.#open().send(req);
    else this.#queue.push(req);
  }

  /**
   * Resolves once every accepted request has settled and every socket is closed. Requests made
   * after the call fail at once.
   */
  close(): Promise<void> {
    if (this.#closing === undefined) {
      let resolve = (): void => {};
      const promise = new Promise<void>((r) => {
        resolve = r;
      });
      this.#closing = { promise, resolve };
      this.#maybeClosed();
    }
    return this.#closing.promise;
  }

  // --- called by Conn and Http1Request ---

  /** Settles `req` as failed, once. */
  fail(req: Http1Request, err: unknown): void {
    if (!this.#settle(req)) return;
    req.onFail(err);
  }

  /** Settles `req` with its body, once. */
  end(req: Http1Request, text: string, bytes: number): void {
    if (!this.#settle(req)) return;
    req.onEnd(text, bytes);
  }

  /** A connection finished its request: reuse it, or close it when the answer said so. */
  release(conn: Conn, keepAlive: boolean): void {
    if (!keepAlive) {
      conn.socket.destroy(); // `closed` then opens a fresh one for the queue
      return;
    }
    const next = this.#nextQueued();
    if (next !== undefined) conn.send(next);
    else if (this.#closing !== undefined) conn.socket.destroy();
    else {
      conn.idleAt = performance.now();
      this.#idle.push(conn);
      if (this.#pending === 0) conn.unref();
      this.#armIdleTimer();
    }
  }

  /** Arms the idle sweep for the oldest idle socket (the front of `#idle`), unless armed. */
  #armIdleTimer(): void {
    const oldest = this.#idle[0];
    if (this.#idleTimer !== undefined || oldest === undefined) return;
    const wait = Math.max(1, oldest.idleAt + this.#idleCloseMs - performance.now());
    this.#idleTimer = setTimeout(() => {
      this.#idleTimer = undefined;
      const now = performance.now();
      // Oldest first: a socket is pushed when it goes idle and taken from the end.
      for (let c = this.#idle[0]; c !== undefined && now - c.idleAt >= this.#idleCloseMs; c = this.#idle[0]) {
        this.#idle.shift();
        c.socket.destroy(); // `closed` forgets it
      }
      this.#armIdleTimer();
    }, wait);
    this.#idleTimer.unref();
  }

  /** The socket stopped reading (the server closed it, or it failed): forget it while idle. */
  ended(conn: Conn): void {
    const i = this.#idle.indexOf(conn);
    if (i !== -1) this.#idle.splice(i, 1);
  }

  /** The socket is gone; `req` is what it held, failed before any answer byte on a reused socket. */
  closed(conn: Conn, resend: Http1Request | undefined): void {
    this.#conns.delete(conn);
    this.ended(conn);
    // A fresh socket, never another idle one: those may be just as stale.
    const req = resend ?? this.#nextQueued();
    if (req !== undefined) this.#open().send(req);
    this.#maybeClosed();
  }

  #settle(req: Http1Request): boolean {
    if (req.settled) return false;
    req.settled = true;
    req.conn = undefined;
    req.wire = ''; // it holds the API key: don't keep it past the request
    if (--this.#pending === 0) {
      // Idle sockets don't hold the process open (undici's don't either); `send` refs them again.
      for (const c of this.#idle) c.unref();
      if (this.#closing !== undefined) queueMicrotask(() => this.#maybeClosed());
    }
    return true;
  }

  #nextQueued(): Http1Request | undefined {
    for (let r = this.#queue.shift(); r !== undefined; r = this.#queue.shift()) {
      if (!r.settled) return r; // aborted requests stay queued, settled, until they reach the front
    }
    return undefined;
  }

  #takeIdle(): Conn | undefined {
    if (this.#idle.length === 0) return undefined;
    const now = performance.now();
    for (let c = this.#idle.pop(); c !== undefined; c = this.#idle.pop()) {
      if (now - c.idleAt < c.keepAliveMs && !c.socket.destroyed) return c;
      c.socket.destroy(); // idle past the server's keep-alive: it may be closing it right now
    }
    return undefined;
  }

  #open(): Conn {
    const conn = new Conn(
      this,
      this.#tls
        ? tlsConnect({ host: this.#host, port: this.#port, servername: this.#servername, ALPNProtocols: ['http/1.1'] })
        : netConnect({
            host: this.#host,
            port: this.#port,
            onread: {
              buffer: this.#readBuffer,
              callback: (n) => {
                conn.read(this.#readBuffer, n);
                return true;
              },
            },
          }),
      this.#tls,
      this.#connectTimeoutMs,
    );
    this.#conns.add(conn);
    return conn;
  }

  #maybeClosed(): void {
    const closing = this.#closing;
    if (closing === undefined || this.#pending > 0) return;
    if (this.#idleTimer !== undefined) {
      clearTimeout(this.#idleTimer);
      this.#idleTimer = undefined;
    }
    for (const c of this.#conns) c.socket.destroy();
    if (this.#conns.size === 0) closing.resolve();
  }
}
