/**
 * One request through the engine's HTTP/1.1 pool (pool.ts), the headers of its answer, and the
 * coded errors the pool and the connection raise. EngineClient subclasses `Http1Request`.
 */

export type Http1Headers = Record<string, string | string[] | undefined>;

/** What a request needs from the pool that took it: to be failed once (an abort before a socket). */
export interface RequestOwner {
  fail(req: Http1Request, err: unknown): void;
}

/** What a request needs from the socket that holds it: to be dropped with it (an abort in flight). */
export interface RequestHolder {
  abort(reason: unknown): void;
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
  pool: RequestOwner | undefined = undefined;
  conn: RequestHolder | undefined = undefined;

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

/**
 * A transport failure, coded in the vocabulary of Node's sockets and undici (`ECONNRESET`,
 * `ETIMEDOUT`, `HPE_INVALID_CHUNK_SIZE`, ...), not a sparkinfer code: it never leaves the engine
 * client, whose `mapTransportError` (exchange.ts) turns it into an engine error with its code.
 */
export class TransportFault extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'TransportFault';
    this.code = code;
  }
}
