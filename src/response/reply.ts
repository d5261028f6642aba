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
import { parseJsonExact, stringifyJsonExact } from '../json-exact.ts';
import { compileValidator, type Validator } from './validate.ts';

export interface JsonReplyFields {
  json?: string;
  error_code?: 'E_LENGTH' | 'E_PARSE_JSON' | 'E_SCHEMA';
  error_message?: string;
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
        if (finishReason === 'length')
          return { error_code: 'E_LENGTH', error_message: 'max_tokens was reached before the JSON reply was complete' };
        return { error_code: 'E_PARSE_JSON', error_message: `the reply is not valid JSON: ${(err as Error).message}` };
      }
      const problem = validate?.(value);
      if (problem !== undefined)
        return { error_code: 'E_SCHEMA', error_message: `the reply does not fit the schema at ${problem.path}: ${problem.message}` };
      return { json: stringifyJsonExact(value) };
    },
  };
}
