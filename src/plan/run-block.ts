/**
 * The resolved job's `run` block and the run id, made in one place for every target: a local or
 * standalone run (src/job/run.ts), Kubernetes (src/k8s/cli.ts) and `validate --json`, the job
 * infer() runs (src/cli/main.ts). The targets differ only in what they pass (paths, endpoint, the
 * input's identity); what is derived from the job (the columns the driver packs, the result columns
 * with their Spark types, the fingerprint) is derived here, and the Python driver derives none of it.
 */
import { randomBytes } from 'node:crypto';
import type { Job } from '../jobfile/schema.ts';
import { BATCH_LINE_COLUMN, type ResolvedJob, type RunInfo } from '../jobfile/resolved.ts';
import { fingerprint } from '../jobfile/fingerprint.ts';
import { referencedColumns } from '../prompt/analyze.ts';
import { stageInputColumns } from '../prompt/stage-names.ts';
import { chatTemplateIdentity, type ChatTemplateSource } from '../prompt/chat-template.ts';
import { resultColumns } from './output-columns.ts';

/** `<name>-<yyyymmddhhmmss>-<4 hex>`: a run directory's name and the Kubernetes application's suffix. */
export function newRunId(name: string, now = new Date()): string {
  const ts = now.toISOString().replace(/[-:T]/g, '').slice(0, 14);
  return `${name}-${ts}-${randomBytes(2).toString('hex')}`;
}

/**
 * What decides the results: the job, the input's identity (file stats locally, the URI on a
 * cluster) and the chat template's text (edit it, and old results are stale).
 */
export function planFingerprint(job: Job, inputIdentity: string, chatTemplate: ChatTemplateSource | undefined): string {
  return fingerprint(job, inputIdentity + chatTemplateIdentity(chatTemplate));
}

/**
 * The columns the driver packs for the worker: those the templates read, in first-use order; an
 * `openai-batch` input hands over only each line's raw text.
 */
export function runColumns(job: Job): string[] {
  if (job.stages !== undefined) return stageInputColumns(job.stages);
  return job.input.format === 'openai-batch' ? [BATCH_LINE_COLUMN] : referencedColumns(job.prompt);
}

/** What a target knows about its run; the rest of `RunInfo` is derived from the job. */
export interface RunParts {
  id: string;
  dir: string;
  root: string;
  endpoint: string;
  engineKind: RunInfo['engine_kind'];
  fingerprint: string;
  chatTemplate?: ChatTemplateSource | undefined;
  fresh?: boolean | undefined;
  retryErrors?: boolean | undefined;
  limit?: number | undefined;
  startedAt?: number | undefined;
  estimate?: RunInfo['estimate'] | undefined;
  traces?: RunInfo['traces'] | undefined;
}

/** The resolved job: the job (its paths as the target sees them) plus its `run` block. */
export function resolvedJob(job: Job, p: RunParts): ResolvedJob {
  return {
    ...job,
    run: {
      id: p.id,
      dir: p.dir,
      root: p.root,
      columns: runColumns(job),
      result_columns: resultColumns(job),
      endpoint: p.endpoint,
      engine_kind: p.engineKind,
      fresh: p.fresh ?? false,
      retry_errors: p.retryErrors ?? false,
      fingerprint: p.fingerprint,
      ...(p.startedAt !== undefined ? { started_at: p.startedAt } : {}),
      ...(p.limit !== undefined ? { limit: p.limit } : {}),
      ...(p.chatTemplate !== undefined ? { chat_template: p.chatTemplate } : {}),
      ...(p.estimate !== undefined ? { estimate: p.estimate } : {}),
      ...(p.traces !== undefined ? { traces: p.traces } : {}),
    },
  };
}
