/**
 * `sparkinfer estimate JOB`: one Spark run of the job through the real path (`runJob` with its
 * `estimate` option: the same input reading, keys, resume, engine and prompt rendering as a run),
 * whose driver (python/sparkinfer/estimate.py) counts every row's prompt tokens with the engine's
 * own tokenizer, generating nothing, and infers a seeded sample of rows into this run's ledger.
 * Then the projection (projection.ts), written to `<run dir>/estimate.json`. The run is not marked
 * consumed, so the next `sparkinfer run` of the same job takes the sampled rows from the ledger.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { engineKindOf } from '../jobfile/schema.ts';
import { SpecError } from '../errors.ts';
import { checkInt } from '../checks.ts';
import { tokenizerProblem } from '../engine/tokenize.ts';
import type { Summary } from '../rundir/summary.ts';
import { runJob, type RunOptions } from './run.ts';
import { resolveJob } from './resolve.ts';
import { project, type EstimateMeasurements, type Projection } from './projection.ts';

/** Rows inferred by default: enough for a mean within a few percent on typical answers, cheap on any engine. */
export const DEFAULT_SAMPLE = 32;
export const DEFAULT_SEED = 1;
/** What the driver writes (estimate.py ESTIMATE_FILE) and what this writes. */
const DRIVER_FILE = 'driver_estimate.json';
export const ESTIMATE_FILE = 'estimate.json';

export interface EstimateOptions extends Omit<RunOptions, 'estimate' | 'limit' | 'fresh' | 'retryErrors'> {
  sample?: number;
  seed?: number;
}

export interface EstimateResult {
  /** Absent when the run failed (then `summary.message` says why). */
  projection?: Projection;
  /** The estimate run's own summary: the sample it inferred. */
  summary: Summary;
  exitCode: number;
}

export async function estimateJob(o: EstimateOptions): Promise<EstimateResult> {
  const sample = checkInt('--sample', o.sample ?? DEFAULT_SAMPLE, 1);
  const seed = checkInt('--seed', o.seed ?? DEFAULT_SEED, 0);
  const { job } = resolveJob(o.jobPath, o.set ?? []);
  if (job.stages !== undefined)
    throw new SpecError(
      'sparkinfer estimate does not cover multi-stage jobs yet (`stages:`, docs/stages.md): try a few rows with `sparkinfer run --limit N` instead',
    );
  const problem = tokenizerProblem(engineKindOf(job));
  if (problem !== undefined) throw new SpecError(`sparkinfer estimate counts prompt tokens with the engine's own tokenizer: ${problem}`);
  const { summary, exitCode } = await runJob({ ...o, estimate: { sample, seed } });
  if (exitCode !== 0) return { summary, exitCode };
  const finishedAt = Date.now();
  const dir = summary.run_dir;
  const m = JSON.parse(readFileSync(join(dir, DRIVER_FILE), 'utf8')) as EstimateMeasurements;
  const resolved = JSON.parse(readFileSync(join(dir, 'job.json'), 'utf8')) as { run: { started_at?: number } };
  const projection = project(m, job, { startedAt: resolved.run.started_at ?? finishedAt, finishedAt });
  writeFileSync(join(dir, ESTIMATE_FILE), `${JSON.stringify(projection, null, 2)}\n`);
  return { projection, summary, exitCode };
}
