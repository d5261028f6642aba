/**
 * What every request builder is (the generate builder in request.ts, embed-batch.ts and
 * openai-batch.ts), and the one mapping from a thrown error to a failed attempt. The builders
 * import this file, and request.ts imports the builders, so no file imports its importer.
 */
import { errorCodeOf } from '../errors.ts';
import type { EngineClient } from '../engine/client.ts';
import { excerpt, HttpError } from '../engine/errors.ts';
import type { InputRow } from './input.ts';
import type { Attempt, Prepared } from './pipeline.ts';

export interface RequestBuilder {
  prepare(row: InputRow): Prepared;
  attempt(client: EngineClient, p: Prepared, signal: AbortSignal): Promise<Attempt>;
}

/** A thrown error as a failed attempt; `raw` keeps the error for the retry classifier. */
export function attemptFailure(err: unknown, latencyMs: number): Attempt {
  const e = err as { message?: unknown; status?: unknown } | null | undefined;
  const message = typeof e?.message === 'string' ? e.message : excerpt(String(err));
  return {
    ok: false,
    latencyMs,
    error: { code: errorCodeOf(err, 'E_RUNTIME'), message, ...(typeof e?.status === 'number' ? { status: e.status } : {}), raw: err },
    // A refusal's rate-limit headers (engine/ratelimit.ts): the pipeline's rate gate reads them.
    ...(err instanceof HttpError && err.rateLimit !== undefined ? { rateLimit: err.rateLimit } : {}),
  };
}
