/**
 * A small HTTP/1.1 keep-alive client for the engine's generation path (`EngineClient.post`).
 *
 * Why not undici there: one worker on one core against an instant server (bench scenario d) spent
 * about half its CPU in undici (the generic dispatch machinery, llhttp in wasm, a writev of head
 * and body). Our traffic is narrow: one method, a handful of fixed headers, small JSON answers,
 * one request per connection at a time. This does just that:
 * - a pool of up to `connections` sockets, one request in flight per socket (no pipelining);
 * - the request head built once per path; head and body leave in one write;
 * - plain-TCP answers are read into one reusable buffer (`net.connect`'s `onread`, no stream per
 *   chunk) and parsed here: status line, headers, content-length / chunked / read-until-close
 *   bodies, 1xx skipped, `connection: close` and `keep-alive: timeout=N` honoured.
 *
 * Failures reach the request as errors with a `code`: the system's (`ECONNREFUSED`,
 * `ECONNRESET`, …), `ETIMEDOUT` for the connect timeout, or an llhttp-style `HPE_…` for an answer
 * that is not HTTP. `EngineClient` maps them to engine errors by phase (before or after the
 * status line), as it does for undici's. Nothing sent (the API key is in the head) ever goes into
 * an error.
 */
import { connect as netConnect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';

export type Http1Headers = Record<string, string | string[] | undefined>;

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
  /** An answer body over this many bytes fails its request with `E_BODY_TOO_LARGE` (default MAX_BODY_BYTES). */
  maxBodyBytes?: number;
}

/**
 * One request through the pool. The pool calls exactly one of `onEnd` / `onFail`, after at most
 * one `onHead`. Subclass it (EngineClient's exchange does) so a request costs one object.
 */
export abstract class Http1Request {
  /** The bytes to send, set by the pool until the request settles. */
  wire = '';
  /** Sent again on a fresh socket after a reused one failed before answering (see `Conn.#closed`). */
  resent = false;
  /** Settled (answered, failed or aborted): the pool skips it in its queue. */
  settled = false;
  /** The pool it went to, and the socket it holds while in flight. */
  pool: Http1Pool | undefined = undefined;
  conn: Conn | undefined = undefined;

  /**
   * The status line and headers of the final answer (1xx are skipped) arrived. `fields`: the
   * header lines as received, CRLF-separated; `headersOf` parses them. `contentType`: the
   * content-type header's value, read during framing so a caller need not parse `fields`.
   */
  abstract onHead(status: number, fields: string, contentType: string | undefined): void;
  /** The whole body arrived. */
  abstract onEnd(text: string, bytes: number): void;
  abstract onFail(err: unknown): void;

  /**
   * Fails the request with `reason` now. A request that holds a socket costs the socket: the
   * rest of its answer could not be told apart from the next request's.
   */
  abort(reason: unknown): void {
    if (this.settled) return;
    const conn = this.conn;
    if (conn !== undefined) conn.abort(reason);
    else this.pool?.fail(this, reason);
  }
}

/** Past this the answer's head is refused (llhttp's default is 80 KiB; undici's 16 KiB). */
const MAX_HEAD_BYTES = 64 * 1024;
/**
 * Past this an answer's body is dropped and its request failed (`E_BODY_TOO_LARGE`), so memory per
 * request stays bounded whatever the engine sends. A generation's answer is a few KiB; a batch of
 * 256 embeddings of 4,096 dimensions is about 12 MiB of JSON. A worker answered only with such
 * bodies on a window of 2 peaked at 111 MiB (test/reliability/engine-faults.test.ts).
 */
export const MAX_BODY_BYTES = 16 * 1024 * 1024;
/** Idle sockets are reused up to this long without a `keep-alive: timeout` hint (undici's default). */
const DEFAULT_KEEP_ALIVE_MS = 4_000;
/** Reuse stops this long before the server's own idle timeout, so we don't race its close. */
const KEEP_ALIVE_MARGIN_MS = 1_000;
const MAX_KEEP_ALIVE_MS = 600_000;
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
const HEAD_END = Buffer.from('\r\n\r\n', 'latin1');
const LF = 10;

// Parser states of a connection.
const HEAD = 0;
const LENGTH = 1;
const CHUNK_SIZE = 2;
const CHUNK_DATA = 3;
const CHUNK_END = 4;
const TRAILERS = 5;
const UNTIL_CLOSE = 6;

/**
 * Header lines (CRLF-separated, as `onHead` gets them) as a record: lower-case names, trimmed
 * values, repeated names as arrays (undici's `parseHeaders` shape).
 */
export function headersOf(fields: string): Http1Headers {
  const headers: Http1Headers = {};
  for (const line of fields.split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).toLowerCase();
    const value = line.slice(colon + 1).trim();
    const had = headers[name];
    if (had === undefined) headers[name] = value;
    else if (typeof had === 'string') headers[name] = [had, value];
    else had.push(value);
  }
  return headers;
}

/** An error with a code, the shape EngineClient maps. */
function fault(code: string, message: string): Error & { code: string } {
  return Object.assign(new Error(message), { code });
}

export class Http1Pool {
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

  /** Sends `POST path` with a JSON body; the outcome goes to `req`'s callbacks. */
  post(path: string, body: string, req: Http1Request): void {
    let head = this.#heads.get(path);
    if (head === undefined) {
      head = `POST ${path} HTTP/1.1\r\n${this.#fixed}content-length: `;
      if (this.#heads.size < 32) this.#heads.set(path, head);
    }
    req.wire = `${head}${Buffer.byteLength(body)}\r\n\r\n${body}`;
    req.pool = this;
    this.#pending++;
    if (this.#closing !== undefined) {
      this.fail(req, new Error('the engine client is closed'));
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
      const promise = new Promise<void>((r) => { resolve = r; });
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
    const conn = new Conn(this, this.#tls
      ? tlsConnect({ host: this.#host, port: this.#port, servername: this.#servername, ALPNProtocols: ['http/1.1'] })
      : netConnect({ host: this.#host, port: this.#port, onread: { buffer: this.#readBuffer, callback: (n) => { conn.read(this.#readBuffer, n); return true; } } }),
    this.#tls, this.#connectTimeoutMs);
    this.#conns.add(conn);
    return conn;
  }

  #maybeClosed(): void {
    const closing = this.#closing;
    if (closing === undefined || this.#pending > 0) return;
    if (this.#idleTimer !== undefined) { clearTimeout(this.#idleTimer); this.#idleTimer = undefined; }
    for (const c of this.#conns) c.socket.destroy();
    if (this.#conns.size === 0) closing.resolve();
  }
}

/** One socket and the parse state of the answer it is reading. */
class Conn {
  readonly socket: Socket;
  readonly #pool: Http1Pool;
  /** The request in flight. */
  #req: Http1Request | undefined;
  /** Requests answered on this socket. */
  #served = 0;
  /** Any byte of the current request's answer has arrived. */
  #answered = false;
  #error: unknown;
  #reffed = true;
  #connectTimer: ReturnType<typeof setTimeout> | undefined;
  idleAt = 0;
  keepAliveMs = DEFAULT_KEEP_ALIVE_MS;
  #keepAliveHint: string | undefined;
  // The answer being parsed.
  #state: number = HEAD;
  #head: Buffer | undefined;
  #line = '';
  #keepAlive = true;
  /** Body bytes still expected: of the whole body (LENGTH) or of the current chunk (CHUNK_DATA). */
  #remaining = 0;
  #declared = -1;
  #chunks: Buffer[] = [];
  #bytes = 0;

  constructor(pool: Http1Pool, socket: Socket, tls: boolean, connectTimeoutMs: number) {
    this.#pool = pool;
    this.socket = socket;
    socket.setNoDelay(true);
    if (tls) socket.on('data', (chunk: Buffer) => this.read(chunk, chunk.length));
    socket.on('error', (err) => { this.#error ??= err; });
    socket.on('end', () => pool.ended(this));
    socket.on('close', () => this.#closed());
    this.#connectTimer = setTimeout(() => {
      socket.destroy(fault('ETIMEDOUT', `connect timed out after ${connectTimeoutMs}ms`));
    }, connectTimeoutMs);
    socket.once(tls ? 'secureConnect' : 'connect', () => {
      clearTimeout(this.#connectTimer);
      this.#connectTimer = undefined;
    });
  }

  send(req: Http1Request): void {
    this.#req = req;
    req.conn = this;
    this.#answered = false;
    if (!this.#reffed) {
      this.socket.ref();
      this.#reffed = true;
    }
    // Before `connect` the socket buffers it.
    this.socket.write(req.wire);
  }

  unref(): void {
    if (!this.#reffed) return;
    this.socket.unref();
    this.#reffed = false;
  }

  abort(reason: unknown): void {
    const req = this.#req;
    if (req === undefined) return;
    this.#req = undefined;
    this.socket.destroy();
    this.#pool.fail(req, reason);
  }

  /** Bytes `buf[0, end)` arrived; `buf` may be the shared read buffer, so nothing keeps a view of it. */
  read(buf: Buffer, end: number): void {
    const req = this.#req;
    if (req === undefined) {
      this.socket.destroy(); // bytes nobody asked for (e.g. a 408 on an idle socket): never reuse it
      return;
    }
    this.#answered = true;
    let i = 0;
    while (i < end) {
      switch (this.#state) {
        case HEAD: {
          i = this.#readHead(buf, i, end);
          if (i < 0) return;
          if (this.#bodiless()) {
            this.#finish('', i < end); // 204, 304, content-length: 0
            return;
          }
          break;
        }
        case LENGTH: {
          const n = Math.min(this.#remaining, end - i);
          if (n === this.#remaining && this.#chunks.length === 0) {
            // The usual case: the whole body in one read, decoded where it lies.
            this.#remaining = 0;
            this.#bytes = n;
            this.#finish(buf.toString('utf8', i, i + n), i + n < end);
            return;
          }
          if (!this.#take(buf, i, i + n)) return;
          this.#remaining -= n;
          i += n;
          if (this.#remaining === 0) {
            this.#finish(undefined, i < end);
            return;
          }
          break;
        }
        case CHUNK_DATA: {
          const n = Math.min(this.#remaining, end - i);
          if (!this.#take(buf, i, i + n)) return;
          this.#remaining -= n;
          i += n;
          if (this.#remaining === 0) this.#state = CHUNK_END;
          break;
        }
        case CHUNK_SIZE:
        case CHUNK_END:
        case TRAILERS: {
          const next = this.#readLine(buf, i, end);
          if (next < 0) return;
          i = next;
          const line = this.#line;
          this.#line = '';
          if (!this.#chunkLine(line, i < end)) return;
          break;
        }
        case UNTIL_CLOSE: {
          if (!this.#take(buf, i, end)) return;
          i = end;
          break;
        }
      }
    }
  }

  /** Parses the head from `buf[i, end)` (after any partial head kept from earlier reads). Returns where the body starts, or -1. */
  #readHead(buf: Buffer, i: number, end: number): number {
    let src = buf;
    let from = i;
    let to = end;
    if (this.#head !== undefined) {
      src = Buffer.concat([this.#head, buf.subarray(i, end)]);
      this.#head = undefined;
      from = 0;
      to = src.length;
    }
    // `indexOf` looks past `to` into stale bytes of the shared buffer: a hit there is a miss.
    const k = src.indexOf(HEAD_END, from);
    if (k === -1 || k + 4 > to) {
      if (to - from > MAX_HEAD_BYTES) return this.#invalid('HPE_HEADER_OVERFLOW', `an answer head over ${MAX_HEAD_BYTES} bytes`);
      this.#head = Buffer.from(src.subarray(from, to));
      return -1;
    }
    if (k - from > MAX_HEAD_BYTES) return this.#invalid('HPE_HEADER_OVERFLOW', `an answer head over ${MAX_HEAD_BYTES} bytes`);
    if (!this.#parseHead(src.toString('latin1', from, k))) return -1;
    // Where the body starts, in `buf`.
    return end - (to - (k + 4));
  }

  /** Parses one head (status line and headers, without the blank line). False when it failed the request. */
  #parseHead(text: string): boolean {
    const eol = text.indexOf('\r\n');
    const statusLine = eol === -1 ? text : text.slice(0, eol);
    // "HTTP/1.1 200 OK": the reason phrase is optional.
    const minor = statusLine.charCodeAt(7) - 48;
    const status = Number(statusLine.slice(9, 12));
    if (!statusLine.startsWith('HTTP/1.') || (minor !== 0 && minor !== 1) || statusLine.charCodeAt(8) !== 32
      || !/^[1-5]\d\d$/.test(statusLine.slice(9, 12)) || (statusLine.length > 12 && statusLine.charCodeAt(12) !== 32)) {
      this.#invalid('HPE_INVALID_CONSTANT', 'an answer that is not HTTP/1.x');
      return false;
    }
    // Only the framing headers are read here; the rest waits in `fields` until someone asks
    // (headersOf): a generation never looks at them.
    const fields = eol === -1 ? '' : text.slice(eol + 2);
    let length: string | undefined;
    let encoding: string | undefined;
    let connection: string | undefined;
    let keepAlive: string | undefined;
    let contentType: string | undefined;
    for (let start = 0; start < fields.length;) {
      let stop = fields.indexOf('\r\n', start);
      if (stop === -1) stop = fields.length;
      const colon = fields.indexOf(':', start);
      const c0 = fields.charCodeAt(start);
      if (colon === -1 || colon > stop || colon === start || c0 === 32 || c0 === 9) {
        this.#invalid('HPE_INVALID_HEADER_TOKEN', 'a malformed header line');
        return false;
      }
      const from = start;
      start = stop + 2;
      const n = colon - from;
      if (n !== 14 && n !== 17 && n !== 10 && n !== 12) continue; // not content-length, transfer-encoding, connection, keep-alive, content-type
      const name = fields.slice(from, colon).toLowerCase();
      const value = fields.slice(colon + 1, stop).trim();
      if (name === 'content-length') {
        if (length !== undefined && length !== value) {
          this.#invalid('HPE_INVALID_CONTENT_LENGTH', 'conflicting content-length headers');
          return false;
        }
        length = value;
      } else if (name === 'transfer-encoding') encoding = encoding === undefined ? value : `${encoding}, ${value}`;
      else if (name === 'connection') connection = connection === undefined ? value : `${connection}, ${value}`;
      else if (name === 'keep-alive') keepAlive = value;
      else if (name === 'content-type') contentType ??= value;
    }
    if (status < 200) {
      if (status === 101) {
        this.#invalid('HPE_INVALID_CONSTANT', 'an unasked-for protocol switch (101)');
        return false;
      }
      return true; // 100 Continue, 103 Early Hints, …: the real answer follows
    }
    const conn = connection?.toLowerCase();
    this.#keepAlive = conn === undefined ? minor === 1
      : conn === 'keep-alive' ? true
        : minor === 1 ? !/(?:^|,)\s*close\s*(?:,|$)/.test(conn) : /(?:^|,)\s*keep-alive\s*(?:,|$)/.test(conn);
    if (keepAlive !== this.#keepAliveHint) {
      this.#keepAliveHint = keepAlive;
      const m = keepAlive !== undefined ? /timeout\s*=\s*(\d+)/i.exec(keepAlive) : null;
      this.keepAliveMs = m !== null ? Math.min(Number(m[1]) * 1000 - KEEP_ALIVE_MARGIN_MS, MAX_KEEP_ALIVE_MS) : DEFAULT_KEEP_ALIVE_MS;
    }
    if (this.keepAliveMs <= 0) this.#keepAlive = false;
    this.#bytes = 0;
    this.#declared = -1;
    if (status === 204 || status === 304) {
      this.#state = LENGTH;
      this.#remaining = 0;
    } else if (encoding !== undefined) {
      // Chunked when it is the last coding; anything else is read until the server closes.
      if (/(?:^|,)\s*chunked\s*$/i.test(encoding)) this.#state = CHUNK_SIZE;
      else {
        this.#state = UNTIL_CLOSE;
        this.#keepAlive = false;
      }
      if (length !== undefined) this.#keepAlive = false; // both framings: smuggling-shaped, never reuse
    } else if (length !== undefined) {
      if (!/^\d{1,15}$/.test(length)) {
        this.#invalid('HPE_INVALID_CONTENT_LENGTH', `a content-length that is not a number`);
        return false;
      }
      this.#declared = Number(length);
      if (this.#declared > this.#pool.maxBodyBytes) {
        this.#invalid('E_BODY_TOO_LARGE', `an answer of ${this.#declared} bytes, over the cap of ${this.#pool.maxBodyBytes}`);
        return false;
      }
      this.#remaining = this.#declared;
      this.#state = LENGTH;
    } else {
      this.#state = UNTIL_CLOSE;
      this.#keepAlive = false;
    }
    // Only now is the head valid: from here on a failure is the body's.
    (this.#req as Http1Request).onHead(status, fields, contentType);
    return true;
  }

  /** One line of chunked framing (without CR LF). False when the answer ended or failed. */
  #chunkLine(line: string, extra: boolean): boolean {
    if (this.#state === CHUNK_SIZE) {
      const semi = line.indexOf(';');
      const hex = (semi === -1 ? line : line.slice(0, semi)).trim();
      if (!/^[0-9a-fA-F]{1,12}$/.test(hex)) {
        this.#invalid('HPE_INVALID_CHUNK_SIZE', 'a chunk size that is not hex');
        return false;
      }
      const size = parseInt(hex, 16);
      if (size === 0) this.#state = TRAILERS;
      else {
        this.#remaining = size;
        this.#state = CHUNK_DATA;
      }
    } else if (this.#state === CHUNK_END) {
      // The CRLF after a chunk's data.
      if (line !== '') {
        this.#invalid('HPE_INVALID_CHUNK_SIZE', 'chunk data longer than its size');
        return false;
      }
      this.#state = CHUNK_SIZE;
    } else if (line === '') {
      this.#finish(undefined, extra); // the blank line after the trailers (which are ignored)
      return false;
    }
    return true;
  }

  /** The head just parsed announced no body. */
  #bodiless(): boolean {
    return this.#state === LENGTH && this.#remaining === 0;
  }

  /** Reads up to LF into `#line` (without CR LF). Returns the index after the LF, or -1 when the line goes on in the next read. */
  #readLine(buf: Buffer, i: number, end: number): number {
    const lf = buf.indexOf(LF, i);
    if (lf === -1 || lf >= end) {
      this.#line += buf.toString('latin1', i, end);
      if (this.#line.length > 4096) this.#invalid('HPE_INVALID_CHUNK_SIZE', 'a chunk size or trailer line over 4 KiB');
      return -1;
    }
    let line = this.#line + buf.toString('latin1', i, lf);
    if (line.endsWith('\r')) line = line.slice(0, -1);
    this.#line = line;
    return lf + 1;
  }

  /** Keeps body bytes, copied out of a possibly shared buffer; past the cap, fails the request instead. */
  #take(buf: Buffer, from: number, to: number): boolean {
    if (to <= from) return true;
    this.#bytes += to - from;
    if (this.#bytes > this.#pool.maxBodyBytes) {
      this.#chunks = [];
      this.#invalid('E_BODY_TOO_LARGE', `an answer body over the cap of ${this.#pool.maxBodyBytes} bytes`);
      return false;
    }
    this.#chunks.push(Buffer.from(buf.subarray(from, to)));
    return true;
  }

  /** The answer is complete. `extra`: bytes followed it, which no request asked for. */
  #finish(text: string | undefined, extra: boolean): void {
    const req = this.#req as Http1Request;
    this.#req = undefined;
    this.#served++;
    const chunks = this.#chunks;
    const body = text ?? (chunks.length === 1 ? (chunks[0] as Buffer).toString('utf8') : Buffer.concat(chunks, this.#bytes).toString('utf8'));
    const bytes = this.#bytes;
    this.#chunks = [];
    this.#state = HEAD;
    this.#pool.end(req, body, bytes);
    this.#pool.release(this, this.#keepAlive && !extra);
  }

  /** The answer is not HTTP: fail the request with `code` and drop the socket. Returns -1 for the parser. */
  #invalid(code: string, what: string): -1 {
    this.#error = fault(code, `the engine sent ${what}`);
    this.socket.destroy();
    return -1;
  }

  #closed(): void {
    clearTimeout(this.#connectTimer);
    const req = this.#req;
    let resend: Http1Request | undefined;
    if (req !== undefined && this.#state === UNTIL_CLOSE && this.#error === undefined) {
      this.#finish(undefined, false); // the body ends where the connection does
    } else if (req !== undefined) {
      this.#req = undefined;
      if (!this.#answered && this.#served > 0 && !req.resent && !req.settled) {
        // A reused keep-alive socket failed before any answer byte: most likely the server closed
        // it while idle, just as we wrote. The request is sent once more on a fresh socket. It is
        // a POST, so this is the one place a request may reach the engine twice (undici replays
        // only idempotent methods, and fails a POST); a generation is safe to repeat, and failing
        // the row would only make the scheduler send it again after a backoff.
        req.resent = true;
        req.conn = undefined;
        resend = req;
      } else {
        this.#pool.fail(req, this.#failure());
      }
    }
    this.#pool.closed(this, resend);
  }

  #failure(): unknown {
    const err = this.#error;
    if (err instanceof Error && (err as { code?: unknown }).code !== undefined) return err;
    if (this.#state === HEAD) return fault('ECONNRESET', 'the engine closed the connection before answering');
    const what = this.#declared >= 0 ? `${this.#bytes} of ${this.#declared} body bytes` : `${this.#bytes} body bytes`;
    return fault('ECONNRESET', `the engine closed the connection after ${what}`);
  }
}
