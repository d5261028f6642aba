/**
 * The one way to check a library function's options up front. Every check throws
 * `BadArgumentError` (a programmer error, code `E_RUNTIME`, src/errors.ts) with a message that
 * quotes the bad value and its type, as in ``Expected `min` to be an integer from 1 and up, got `0`
 * (number)``. Job files are checked by the zod schema (src/jobfile/schema.ts), which throws
 * `SpecError`; these checks guard the options code passes to code. A caller that checks a user's
 * value with them (a CLI flag) turns the failure into its own user-facing error.
 */
import { BadArgumentError } from './errors.ts';

/** A value as messages quote it: its text in backticks and its type. */
export function describeValue(value: unknown): string {
  let text: string;
  try {
    text = typeof value === 'string' ? value : (JSON.stringify(value) ?? String(value));
  } catch {
    text = String(value);
  }
  if (typeof value === 'number' && !Number.isFinite(value)) text = String(value);
  return `\`${text}\` (${value === null ? 'null' : typeof value})`;
}

/** An integer `>= from` (and `<= to` when given). `Infinity` passes only with `allowInfinity`. */
export function checkInt(name: string, value: unknown, from: number, to = Number.POSITIVE_INFINITY, allowInfinity = false): number {
  const ok =
    typeof value === 'number' &&
    value >= from &&
    value <= to &&
    (Number.isInteger(value) || (allowInfinity && value === Number.POSITIVE_INFINITY));
  if (!ok) {
    const range = to === Number.POSITIVE_INFINITY ? `from ${from} and up` : `from ${from} to ${to}`;
    throw new BadArgumentError(
      `Expected \`${name}\` to be an integer ${range}${allowInfinity ? ' (or Infinity)' : ''}, got ${describeValue(value)}`,
    );
  }
  return value;
}

/** A finite number in `[from, to]` (`Infinity` only with `allowInfinity`). */
export function checkNumber(name: string, value: unknown, from: number, to = Number.POSITIVE_INFINITY, allowInfinity = false): number {
  const ok = typeof value === 'number' && !Number.isNaN(value) && value >= from && value <= to && (Number.isFinite(value) || allowInfinity);
  if (!ok) {
    const range = to === Number.POSITIVE_INFINITY ? `from ${from} and up` : `from ${from} to ${to}`;
    throw new BadArgumentError(`Expected \`${name}\` to be a number ${range}, got ${describeValue(value)}`);
  }
  return value;
}

/** A number strictly greater than `above`. */
export function checkAbove(name: string, value: unknown, above: number, to = Number.POSITIVE_INFINITY): number {
  const ok = typeof value === 'number' && Number.isFinite(value) && value > above && value <= to;
  if (!ok) {
    const range = to === Number.POSITIVE_INFINITY ? `above ${above}` : `above ${above} and at most ${to}`;
    throw new BadArgumentError(`Expected \`${name}\` to be a number ${range}, got ${describeValue(value)}`);
  }
  return value;
}

export function checkFunction(name: string, value: unknown): void {
  if (typeof value !== 'function') throw new BadArgumentError(`Expected \`${name}\` to be a function, got ${describeValue(value)}`);
}

/** A non-empty string. */
export function checkString(name: string, value: unknown): string {
  if (typeof value !== 'string' || value === '')
    throw new BadArgumentError(`Expected \`${name}\` to be a non-empty string, got ${describeValue(value)}`);
  return value;
}

/** A failed check that is not about one value's range or type: the message says what was expected. */
export function badArgument(message: string): BadArgumentError {
  return new BadArgumentError(message);
}
