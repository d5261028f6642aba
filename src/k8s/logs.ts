/**
 * The driver's log (`sparkinfer logs RUN [-f]`) and the progress lines in it. The driver prints
 *
 *   sparkinfer-progress {"rows_total":1000,"rows_done":250,"rows_failed":1,"completion_tokens":9000,
 *                        "prompt_tokens":40000,"inflight":12,"workers":4,"tasks_done":3,
 *                        "tasks_active":4,"tasks_total":16,"elapsed_s":93.2}
 *
 * every few seconds (every key but `rows_done` optional); the CLI turns those into its progress
 * bar or lines, and prints the driver's own `sparkinfer: …` lines (its failure message among them). The pod is `.status.driverInfo.podName`, else the operator's `<app>-driver`.
 */
import { formatProgress } from '../spark/progress.ts';
import type { Progress } from '../rundir/progress.ts';
import { SpecError } from '../errors.ts';
import { kubeApiError, type KubeClient } from './client.ts';
import { checkInt } from '../checks.ts';

export const PROGRESS_PREFIX = 'sparkinfer-progress ';
/** The driver container of a spark-operator driver pod. */
export const DRIVER_CONTAINER = 'spark-kubernetes-driver';

export interface DriverProgress extends Progress {
  /** Time since the driver started the run, in ms (so tokens/s and the ETA are right when attached late). */
  elapsedMs: number;
}

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : undefined);

/** The progress in a driver log line, or undefined for any other line (or a malformed one). */
export function parseProgressLine(line: string): DriverProgress | undefined {
  const at = line.indexOf(PROGRESS_PREFIX);
  if (at < 0) return undefined;
  let o: Record<string, unknown>;
  try {
    const v: unknown = JSON.parse(line.slice(at + PROGRESS_PREFIX.length));
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined;
    o = v as Record<string, unknown>;
  } catch {
    return undefined;
  }
  const rowsDone = num(o.rows_done);
  if (rowsDone === undefined) return undefined;
  const p: DriverProgress = {
    rowsDone,
    rowsFailed: num(o.rows_failed) ?? 0,
    completionTokens: num(o.completion_tokens) ?? 0,
    promptTokens: num(o.prompt_tokens) ?? 0,
    inflight: num(o.inflight) ?? 0,
    workers: num(o.workers) ?? 0,
    elapsedMs: Math.round((num(o.elapsed_s) ?? 0) * 1000),
  };
  for (const [key, field] of [
    ['rows_total', 'rowsTotal'],
    ['tasks_done', 'tasksDone'],
    ['tasks_active', 'tasksActive'],
    ['tasks_total', 'tasksTotal'],
  ] as const) {
    const v = num(o[key]);
    if (v !== undefined) p[field] = v;
  }
  return p;
}

/** The driver's own lines (python/sparkinfer/log.py prints `sparkinfer: …`: what it does, why it failed). */
export const DRIVER_MESSAGE_PREFIX = 'sparkinfer: ';

/** The line when it is one of the driver's own messages, else undefined (Spark's and the JVM's lines). */
export function driverMessage(line: string): string | undefined {
  return line.startsWith(DRIVER_MESSAGE_PREFIX) ? line : undefined;
}

/** One progress line: `250/1000 rows, 1 failed, 96.8 tok/s eta 4m30s tasks 3/16 (4 running) [1m33s]`. */
export function formatDriverProgress(p: DriverProgress, tty = false): string {
  return formatProgress(p, p.elapsedMs, tty);
}

export interface DriverPod {
  namespace: string;
  pod: string;
  container: string;
}

/** The driver pod and container of a SparkApplication. @throws KubeApiError (E_SPEC) when there is no driver pod yet */
export async function driverPod(client: KubeClient, app: Record<string, any>, signal?: AbortSignal): Promise<DriverPod> {
  const namespace: string = app.metadata?.namespace ?? client.namespace;
  const name: string = app.metadata?.name;
  const pod: string = app.status?.driverInfo?.podName || `${name}-driver`;
  const obj = await client.find<Record<string, any>>({ apiVersion: 'v1', kind: 'Pod', namespace, name: pod }, signal);
  if (obj === undefined) {
    const state: string = app.status?.applicationState?.state || 'NEW';
    throw kubeApiError(404, 'NotFound', `${name} has no driver pod yet (${namespace}/${pod}; the application is ${state})`);
  }
  const names: string[] = (obj.spec?.containers ?? []).map((c: { name: string }) => c.name);
  const container = names.includes(DRIVER_CONTAINER) ? DRIVER_CONTAINER : names[0];
  if (container === undefined) throw new SpecError(`pod ${namespace}/${pod} has no containers`);
  return { namespace, pod, container };
}

export interface LogOptions {
  /** Keep streaming until the pod's container ends (or `signal` aborts), like `kubectl logs -f`. Default false. */
  follow?: boolean;
  /** Only the last N lines. Default: all. */
  tailLines?: number;
  /** The previous container instance (after a restart). Default false. */
  previous?: boolean;
  signal?: AbortSignal | undefined;
}

/** The log lines of one pod's container. */
export function podLogLines(client: KubeClient, p: DriverPod, o: LogOptions = {}): AsyncGenerator<string> {
  if (o.tailLines !== undefined) checkInt('tailLines', o.tailLines, 0);
  const path = `/api/v1/namespaces/${encodeURIComponent(p.namespace)}/pods/${encodeURIComponent(p.pod)}/log`;
  return client.lines(path, {
    query: {
      container: p.container,
      follow: o.follow === true ? 'true' : undefined,
      tailLines: o.tailLines,
      previous: o.previous === true ? 'true' : undefined,
    },
    accept: '*/*',
    signal: o.signal,
  });
}
