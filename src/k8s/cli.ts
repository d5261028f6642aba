/**
 * What the CLI calls for `--target k8s`: load and resolve a job for the cluster, then render it.
 * Resolution differs from a local run: paths are not resolved against the job file's folder (a
 * pod can't see it), no local run directory or lock is made (the driver makes them on the run
 * volume), and no engine is started (each executor has its sidecar).
 */
import { dirname, resolve } from 'node:path';
import { loadJobFile } from '../validate/job.ts';
import { SpecError } from '../errors.ts';
import { loadChatTemplate, type ChatTemplateSource } from '../prompt/chat-template.ts';
import { newRunId, planFingerprint, resolvedJob } from '../plan/run-block.ts';
import type { Job } from '../jobfile/schema.ts';
import { DEFAULT_IMAGE } from '../jobfile/kubernetes.ts';
import type { ResolvedJob } from '../jobfile/resolved.ts';
import { formatTraceparent, newParentRef } from '../trace/context.ts';
import { resolveTraceSettings } from '../trace/settings.ts';
import { k8sSpecOf, renderK8sYaml, renderRun, type RenderOptions, type RenderedRun } from './render.ts';

export interface K8sResolveOptions extends RenderOptions {
  /** Clock for the run id. Default `new Date()`. */
  now?: Date;
  /** Use this run id instead of a new one (re-rendering a run). */
  runId?: string;
  /** `--limit`. */
  limit?: number;
  fresh?: boolean;
  retryErrors?: boolean;
  /** `prompt.chat_template`, resolved here (`chatTemplateForK8s`) and shipped in job.json. */
  chatTemplate?: ChatTemplateSource;
  /** Where a warning goes (one line, no prefix): the CLI prints it on stderr. Default: nowhere. */
  warn?: (message: string) => void;
}

/**
 * The warning for a job that runs the default image (no `kubernetes.image`, no `--image`): it is not
 * published, so the pods would never start; undefined when the job names its own.
 */
export function defaultImageWarning(image: string): string | undefined {
  if (image !== DEFAULT_IMAGE) return undefined;
  return `warning: no kubernetes.image (or --image), so the pods run the default ${DEFAULT_IMAGE}, which is not published: build deploy/Dockerfile, push it to a registry your cluster can pull from and set kubernetes.image to it (docs/kubernetes.md, "Images")`;
}

/** The input's identity inside the cluster: its URI, table or query (local file stats mean nothing there). */
function clusterInputIdentity(job: Job): string {
  const i = job.input;
  return `${i.format}:${i.path ?? i.table ?? i.query ?? ''}`;
}

/**
 * The pods' `run.traces` (docs/observability.md "Traces", "On Kubernetes"): from the job's
 * `observability.traces` only (this machine's environment is not the cluster's), under a parent
 * context made here.
 */
function clusterTraces(job: Job) {
  const t = resolveTraceSettings(job.observability?.traces, {});
  return t === undefined ? undefined : { ...t, traceparent: formatTraceparent(newParentRef()) };
}

/** A validated job resolved for Kubernetes (render.ts's `k8sJobJson` then rewrites it for the pods). */
export function resolveJobForK8s(job: Job, o: K8sResolveOptions = {}): ResolvedJob {
  const k = k8sSpecOf(job, o);
  return resolvedJob(job, {
    id: o.runId ?? newRunId(job.name, o.now),
    dir: '',
    root: '',
    endpoint: `http://127.0.0.1:${k.engine.port}/v1`,
    engineKind: k.engine.kind,
    fingerprint: planFingerprint(job, clusterInputIdentity(job), o.chatTemplate),
    chatTemplate: o.chatTemplate,
    fresh: o.fresh,
    retryErrors: o.retryErrors,
    limit: o.limit,
    traces: clusterTraces(job),
  });
}

/**
 * `prompt.chat_template` read here, beside the job file, and shipped in job.json (`run.chat_template`),
 * as for a local run: the pods need neither the file nor the model. `gguf` (the launched model's
 * own template) is refused: the model lives in the engine's pod, not here.
 * @throws SpecError (exit 2)
 */
export function chatTemplateForK8s(job: Job, jobPath: string): ChatTemplateSource | undefined {
  const spec = job.prompt.chat_template;
  if (spec === undefined) return undefined;
  if (spec === 'gguf') {
    throw new SpecError(
      "prompt.chat_template: `gguf` reads the launched model's file, which on Kubernetes is in the engine's pod, not on this machine; give the template instead: a .jinja file, a tokenizer_config.json or a .gguf file, beside the job file",
    );
  }
  return loadChatTemplate(spec, { baseDir: dirname(resolve(jobPath)) });
}

function resolveJobFile(jobPath: string, set: readonly string[], o: K8sResolveOptions): ResolvedJob {
  const job = loadJobFile(jobPath, { set });
  const warning = defaultImageWarning(k8sSpecOf(job, o).image);
  if (warning !== undefined) o.warn?.(warning);
  const chatTemplate = o.chatTemplate ?? chatTemplateForK8s(job, jobPath);
  return resolveJobForK8s(job, { ...o, ...(chatTemplate !== undefined ? { chatTemplate } : {}) });
}

/** Loads, resolves and renders a job file. @throws SpecError (exit 2) for a bad job or setting. */
export function renderJobFile(jobPath: string, set: readonly string[] = [], o: K8sResolveOptions = {}): RenderedRun {
  return renderRun(resolveJobFile(jobPath, set, o), o);
}

/** `sparkinfer render JOB --target k8s`: the manifests as multi-document YAML. */
export async function renderForCli(jobPath: string, set: readonly string[] = [], o: K8sResolveOptions = {}): Promise<string> {
  return renderK8sYaml(resolveJobFile(jobPath, set, o), o);
}
