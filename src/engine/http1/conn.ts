/**
 * One socket of the pool (pool.ts) and the parser of the answer it is reading: status line,
 * headers, content-length / chunked / read-until-close bodies, 1xx skipped, `connection: close`
 * and `keep-alive: timeout=N` honoured. A failure becomes a coded error on the request (request.ts).
 */
import type { Socket } from 'node:net';
import { parseAnswerHead } from './head.ts';
import { TransportFault, type Http1Request } from './request.ts';
import { ResponseTooLargeError } from '../errors.ts';

/** What a connection reports to the pool that opened it. */
export interface ConnOwner {
  readonly maxBodyBytes: number;
  /** Settles `req` as failed, once. */
  fail(req: Http1Request, err: unknown): void;
  /** Settles `req` with its body, once. */
  end(req: Http1Request, text: string, bytes: number): void;
  /** The answer is complete: reuse the socket, or close it when the answer said so. */
  release(conn: Conn, keepAlive: boolean): void;
  /** The socket stopped reading. */
  ended(conn: Conn): void;
  /** The socket is gone; `resend` is a request to send again on a fresh socket. */
  closed(conn: Conn, resend: Http1Request | undefined): void;
}

/** Past this the answer's head is refused (llhttp's default is 80 KiB; undici's 16 KiB). */
const MAX_HEAD_BYTES = 64 * 1024;
/** Idle sockets are reused up to this long without a `keep-alive: timeout` hint (undici's default). */
const DEFAULT_KEEP_ALIVE_MS = 4_000;
/** Reuse stops this long before the server's own idle timeout, so we don't race its close. */
const KEEP_ALIVE_MARGIN_MS = 1_000;
const MAX_KEEP_ALIVE_MS = 600_000;
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
/** One socket and the parse state of the answer it is reading. */
export class Conn {
  readonly socket: Socket;
  readonly #pool: ConnOwner;
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

  constructor(pool: ConnOwner, socket: Socket, tls: boolean, connectTimeoutMs: number) {
    this.#pool = pool;
    this.socket = socket;
    socket.setNoDelay(true);
    if (tls) socket.on('data', (chunk: Buffer) => this.read(chunk, chunk.length));
    socket.on('error', (err) => {
      this.#error ??= err;
    });
    socket.on('end', () => pool.ended(this));
    socket.on('close', () => this.#closed());
    this.#connectTimer = setTimeout(() => {
      socket.destroy(new TransportFault('ETIMEDOUT', `connect timed out after ${connectTimeoutMs}ms`));
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
    const head = parseAnswerHead(text);
    if ('problem' in head) {
      this.#invalid(head.problem, head.what);
      return false;
    }
    const { status, minor, fields, length, encoding, connection, keepAlive, contentType } = head;
    if (status < 200) {
      if (status === 101) {
        this.#invalid('HPE_INVALID_CONSTANT', 'an unasked-for protocol switch (101)');
        return false;
      }
      return true; // 100 Continue, 103 Early Hints, …: the real answer follows
    }
    const conn = connection?.toLowerCase();
    this.#keepAlive =
      conn === undefined
        ? minor === 1
        : conn === 'keep-alive'
          ? true
          : minor === 1
            ? !/(?:^|,)\s*close\s*(?:,|$)/.test(conn)
            : /(?:^|,)\s*keep-alive\s*(?:,|$)/.test(conn);
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
        this.#tooLarge(`an answer of ${this.#declared} bytes, over the cap of ${this.#pool.maxBodyBytes}`);
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
      this.#tooLarge(`an answer body over the cap of ${this.#pool.maxBodyBytes} bytes`);
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
    const body =
      text ?? (chunks.length === 1 ? (chunks[0] as Buffer).toString('utf8') : Buffer.concat(chunks, this.#bytes).toString('utf8'));
    const bytes = this.#bytes;
    this.#chunks = [];
    this.#state = HEAD;
    this.#pool.end(req, body, bytes);
    this.#pool.release(this, this.#keepAlive && !extra);
  }

  /** The answer is not HTTP: fail the request with `code` and drop the socket. Returns -1 for the parser. */
  #invalid(code: string, what: string): -1 {
    this.#error = new TransportFault(code, `the engine sent ${what}`);
    this.socket.destroy();
    return -1;
  }

  /** The answer passed the body cap: fail the request with E_RESPONSE_TOO_LARGE and drop the socket. */
  #tooLarge(what: string): -1 {
    this.#error = new ResponseTooLargeError(this.#pool.maxBodyBytes, `the engine sent ${what}`);
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
    if (this.#state === HEAD) return new TransportFault('ECONNRESET', 'the engine closed the connection before answering');
    const what = this.#declared >= 0 ? `${this.#bytes} of ${this.#declared} body bytes` : `${this.#bytes} body bytes`;
    return new TransportFault('ECONNRESET', `the engine closed the connection after ${what}`);
  }
}
