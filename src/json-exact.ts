/**
 * JSON that keeps integers beyond 2^53 exact. `JSON.parse` turns 12345678901234567890 into a
 * nearby double; row keys, ids and model answers hold such numbers, and a row must come out as it
 * went in. The reviver reads each number's source text (`context.source`, Node 22+).
 */

// Only text holding a 16+ digit run can hold an integer beyond 2^53; the reviver is slow, so skip it otherwise.
const LONG_DIGITS = /\d{16}/;

/**
 * `JSON.parse`, except that an integer beyond 2^53 becomes `keep(its digits)`: a BigInt by default
 * (the structured-output reply), or the digits as a string (worker input rows). Throws SyntaxError.
 */
export function parseJsonExact(text: string, keep: (digits: string) => unknown = BigInt): unknown {
  if (!LONG_DIGITS.test(text)) return JSON.parse(text);
  const reviver = (_key: string, value: unknown, context?: { source?: string }): unknown =>
    typeof value === 'number' && !Number.isSafeInteger(value) && context?.source !== undefined && /^-?\d+$/.test(context.source)
      ? keep(context.source)
      : value;
  return JSON.parse(text, reviver as (k: string, v: unknown) => unknown);
}

const rawJSON = (JSON as unknown as { rawJSON(s: string): unknown }).rawJSON;

/** Compact JSON with BigInt written as its digits. */
export function stringifyJsonExact(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? rawJSON(v.toString()) : v));
}
