/**
 * A JSON reply → the row's result fields. Order of checks (docs/batch-kinds.md):
 *   1. it parses → validate against the schema: ok (`json` set) or E_SCHEMA;
 *   2. it doesn't parse and the engine stopped at `max_tokens` → E_LENGTH;
 *   3. it doesn't parse otherwise → E_PARSE_JSON.
 * The raw `text` is always kept by the caller, so a bad row loses nothing.
 *
 * `json` is the reply re-serialized compactly: integers beyond 2^53 keep their digits (BigInt
 * in between), and integral numbers print without a fraction, which Spark's bigint parser needs.
 */
import { compileValidator, type Validator } from './validate.ts';

export interface JsonReplyFields {
  json?: string;
  error_code?: 'E_LENGTH' | 'E_PARSE_JSON' | 'E_SCHEMA';
  error_message?: string;
}

// Only text holding a 16+ digit run can hold an integer beyond 2^53; the reviver is slow, so skip it otherwise.
const LONG_DIGITS = /\d{16}/;

function keepBigIntegers(_key: string, value: unknown, context?: { source?: string }): unknown {
  if (typeof value === 'number' && !Number.isSafeInteger(value) && context?.source !== undefined && /^-?\d+$/.test(context.source)) {
    return BigInt(context.source);
  }
  return value;
}

/** JSON.parse that keeps integers beyond 2^53 exact (as BigInt). Throws SyntaxError like JSON.parse. */
export function parseJsonExact(text: string): unknown {
  return LONG_DIGITS.test(text) ? JSON.parse(text, keepBigIntegers as (k: string, v: unknown) => unknown) : JSON.parse(text);
}

const rawJSON = (JSON as unknown as { rawJSON(s: string): unknown }).rawJSON;

/** Compact JSON with BigInt written as its digits. */
export function stringifyJsonExact(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? rawJSON(v.toString()) : v));
}

/** Checks replies of one job: built once per worker. */
export interface JsonReplyChecker {
  check(text: string | null, finishReason: string | null): JsonReplyFields;
}

export function makeJsonReplyChecker(schema: Record<string, unknown> | undefined): JsonReplyChecker {
  const validate: Validator | undefined = schema === undefined ? undefined : compileValidator(schema);
  return {
    check(text, finishReason) {
      let value: unknown;
      try {
        if (text === null || text.trim() === '') throw new SyntaxError('the reply is empty');
        value = parseJsonExact(text);
      } catch (err) {
        if (finishReason === 'length') return { error_code: 'E_LENGTH', error_message: 'max_tokens was reached before the JSON reply was complete' };
        return { error_code: 'E_PARSE_JSON', error_message: `the reply is not valid JSON: ${(err as Error).message}` };
      }
      const problem = validate?.(value);
      if (problem !== undefined) return { error_code: 'E_SCHEMA', error_message: `the reply does not fit the schema at ${problem.path}: ${problem.message}` };
      return { json: stringifyJsonExact(value) };
    },
  };
}
