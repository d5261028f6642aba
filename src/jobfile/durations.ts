/**
 * The job file's duration type: a string with a unit, parsed to ms (units.ts). Shared by the
 * schema's sections (schema.ts, engine-schema.ts).
 */
import { z } from 'zod';
import { parseDuration } from './units.ts';

/** A duration with a unit: `500ms`, `30s`, `10m`, `1h`. A bare number is an error. Parsed to ms. */
export const Duration = z.string({ error: 'expected a duration with a unit, like "30s" or "10m"' }).transform((s, ctx) => {
  const ms = parseDuration(s);
  if (ms === undefined) {
    ctx.addIssue({ code: 'custom', message: `expected a duration with a unit (ms, s, m, h), like "30s", got ${JSON.stringify(s)}` });
    return z.NEVER;
  }
  return ms;
});
