/**
 * Parsing of input lines (see protocol.ts). Integers beyond 2^53 keep their exact digits as
 * strings, so a template renders `12345678901234567890` rather than `12345678901234567000`.
 */
import { StringDecoder } from 'node:string_decoder';
import { CARRY_FIELD, KEY_FIELD } from './protocol.ts';
import { parseJsonExact } from '../json-exact.ts';
import { SparkinferError } from '../errors.ts';

export interface InputRow {
  key: string;
  carry: string | null;
  /** The referenced columns, by name. */
  row: Record<string, unknown>;
}

/** Thrown for a line that is not a protocol row: a protocol failure, so the task fails and Spark retries. */
export class ProtocolError extends SparkinferError {
  readonly code = 'E_RUNTIME';
}

export function parseInputLine(line: string): InputRow {
  let obj: unknown;
  try {
    obj = parseJsonExact(line, String); // an unsafe integer stays its digits, as Spark wrote them
  } catch (err) {
    throw new ProtocolError(`input line is not JSON (${(err as Error).message}): ${line.slice(0, 120)}`);
  }
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj))
    throw new ProtocolError(`input line is not a JSON object: ${line.slice(0, 120)}`);
  // A rest copy, not `delete`: deleting turns the object into a slow dictionary for every later read.
  const { [KEY_FIELD]: key, [CARRY_FIELD]: carry, ...row } = obj as Record<string, unknown>;
  if (typeof key !== 'string') throw new ProtocolError(`input line has no string ${KEY_FIELD}: ${line.slice(0, 120)}`);
  if (carry !== null && carry !== undefined && typeof carry !== 'string')
    throw new ProtocolError(`input line has a non-string ${CARRY_FIELD}`);
  return { key, carry: carry ?? null, row };
}

/**
 * Splits a byte stream into lines, handed over a chunk's worth at a time (one promise per chunk,
 * not per line: per line, the pipeline's read loop cost ~2 µs a row), holding no more than one
 * chunk and one partial line. Spark writes `\n` line ends; a trailing `\r` is not possible because
 * the driver's JSON escapes control characters. A character split across chunks is kept whole.
 */
export async function* readLineBatches(input: AsyncIterable<Buffer | string>): AsyncGenerator<string[]> {
  const decoder = new StringDecoder('utf8');
  let rest = '';
  for await (const chunk of input) {
    const text = rest + (typeof chunk === 'string' ? chunk : decoder.write(chunk));
    const lines: string[] = [];
    let start = 0;
    let nl = text.indexOf('\n', start);
    while (nl !== -1) {
      if (nl > start) lines.push(text.slice(start, nl));
      start = nl + 1;
      nl = text.indexOf('\n', start);
    }
    rest = text.slice(start);
    if (lines.length > 0) yield lines;
  }
  rest += decoder.end();
  if (rest.length > 0) yield [rest];
}
