/**
 * The resume fingerprint: a hash of everything that determines a row's result. A rerun with the
 * same fingerprint resumes from the ledger; a different one needs `--fresh`.
 *
 * Included: task, input (format, path, table, query, options, key), prompt, model, sampling,
 * response, stages (without their engine), and the input's identity (sizes/mtimes, provided by the driver as one string).
 * Excluded on purpose, because they change how fast a job runs but not its answers: engine
 * endpoint/launch/concurrency/timeouts/retries, Spark settings (partitions, master, conf),
 * output, resume, limits and kubernetes settings.
 */
import { createHash } from 'node:crypto';
import type { Job } from './schema.ts';

/** Bumped when the fingerprinted content changes meaning, so old ledgers are not reused by mistake. */
const FINGERPRINT_VERSION = 1;

/** JSON with object keys sorted at every level and undefined members left out. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'bigint') return value.toString();
    return JSON.stringify(value) ?? 'null';
  }
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : canonicalJson(v))).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

/** The part of a job the fingerprint covers (exported for tests and for `validate --json`). */
export function fingerprintContent(job: Job, inputIdentity: string): unknown {
  const { format, path, table, query, options, key } = job.input;
  return {
    v: FINGERPRINT_VERSION,
    task: job.task,
    input: { format, path, table, query, options, key },
    prompt: job.prompt,
    model: job.model,
    sampling: job.sampling,
    response: job.response,
    input_identity: inputIdentity,
    // Only a staged job has the key, so the fingerprints of one-stage jobs are what they were.
    ...(job.stages !== undefined ? { stages: job.stages.map(({ engine: _engine, ...s }) => s) } : {}),
  };
}

/** Hex SHA-256 of the canonical JSON of `fingerprintContent(job, inputIdentity)`. */
export function fingerprint(job: Job, inputIdentity: string): string {
  return createHash('sha256')
    .update(canonicalJson(fingerprintContent(job, inputIdentity)))
    .digest('hex');
}
