/**
 * The head of an answer (status line and header lines, without the blank line), read as far as
 * framing needs: the status, the HTTP minor version, and the five headers that decide how the body
 * is framed and whether the socket is reused. The other headers stay unparsed in `fields` until
 * someone asks (request.ts `headersOf`): a generation never looks at them.
 */

export interface AnswerHead {
  status: number;
  /** 0 or 1: HTTP/1.0 or HTTP/1.1. */
  minor: number;
  /** The header lines as received, CRLF-separated. */
  fields: string;
  length: string | undefined;
  encoding: string | undefined;
  connection: string | undefined;
  keepAlive: string | undefined;
  contentType: string | undefined;
}

/** Why a head is not HTTP/1.x, as an llhttp-style code and words for the error message. */
export interface HeadProblem {
  problem: string;
  what: string;
}

export function parseAnswerHead(text: string): AnswerHead | HeadProblem {
  const eol = text.indexOf('\r\n');
  const statusLine = eol === -1 ? text : text.slice(0, eol);
  // "HTTP/1.1 200 OK": the reason phrase is optional.
  const minor = statusLine.charCodeAt(7) - 48;
  const status = Number(statusLine.slice(9, 12));
  if (
    !statusLine.startsWith('HTTP/1.') ||
    (minor !== 0 && minor !== 1) ||
    statusLine.charCodeAt(8) !== 32 ||
    !/^[1-5]\d\d$/.test(statusLine.slice(9, 12)) ||
    (statusLine.length > 12 && statusLine.charCodeAt(12) !== 32)
  ) {
    return { problem: 'HPE_INVALID_CONSTANT', what: 'an answer that is not HTTP/1.x' };
  }
  // Only the framing headers are read here; the rest waits in `fields` until someone asks
  // (headersOf): a generation never looks at them.
  const fields = eol === -1 ? '' : text.slice(eol + 2);
  let length: string | undefined;
  let encoding: string | undefined;
  let connection: string | undefined;
  let keepAlive: string | undefined;
  let contentType: string | undefined;
  for (let start = 0; start < fields.length; ) {
    let stop = fields.indexOf('\r\n', start);
    if (stop === -1) stop = fields.length;
    const colon = fields.indexOf(':', start);
    const c0 = fields.charCodeAt(start);
    if (colon === -1 || colon > stop || colon === start || c0 === 32 || c0 === 9) {
      return { problem: 'HPE_INVALID_HEADER_TOKEN', what: 'a malformed header line' };
    }
    const from = start;
    start = stop + 2;
    const n = colon - from;
    if (n !== 14 && n !== 17 && n !== 10 && n !== 12) continue; // not content-length, transfer-encoding, connection, keep-alive, content-type
    const name = fields.slice(from, colon).toLowerCase();
    const value = fields.slice(colon + 1, stop).trim();
    if (name === 'content-length') {
      if (length !== undefined && length !== value) {
        return { problem: 'HPE_INVALID_CONTENT_LENGTH', what: 'conflicting content-length headers' };
      }
      length = value;
    } else if (name === 'transfer-encoding') encoding = encoding === undefined ? value : `${encoding}, ${value}`;
    else if (name === 'connection') connection = connection === undefined ? value : `${connection}, ${value}`;
    else if (name === 'keep-alive') keepAlive = value;
    else if (name === 'content-type') contentType ??= value;
  }
  return { status, minor, fields, length, encoding, connection, keepAlive, contentType };
}
