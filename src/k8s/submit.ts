/**
 * `sparkinfer submit JOB --target k8s [--watch]`, `logs RUN [-f]` and `cancel RUN`, through the
 * Kubernetes API (client.ts) with kubectl's kubeconfig rules (kubeconfig.ts).
 *
 * Submit renders first (a bad job exits 2 before the cluster is contacted), then applies the
 * ConfigMap and the SparkApplication with server-side apply and strict field validation, then
 * re-applies the ConfigMap owned by the application so that deleting the application (cancel,
 * or the operator's `timeToLiveSeconds`) garbage-collects it. With `phases: two` the infer
 * application is applied only when prepare has COMPLETED, which `followRun` does; a two-phase
 * submit therefore needs `--watch`.
 */
import { createInterface } from 'node:readline/promises';
import { setTimeout as delay } from 'node:timers/promises';
import { RuntimeFailure, SpecError } from '../errors.ts';
import { badArgument } from '../checks.ts';
import { renderJobFile, type K8sResolveOptions } from './cli.ts';
import { KubeApiError, KubeClient, kubeApiError, type KubeClientOptions } from './client.ts';
import { loadClusterAccess, type KubeconfigOptions } from './kubeconfig.ts';
import { driverPod, parseProgressLine, podLogLines, type DriverProgress } from './logs.ts';
import { RUN_ID_LABEL } from './names.ts';
import type { K8sObject, RenderedRun } from './render.ts';
import { SPARK_APP, exitCodeOfState, findApp, watchApp, type AppStatus } from './watch.ts';

export interface ConnectOptions extends KubeconfigOptions, KubeClientOptions {}

/** A client for the cluster and namespace kubectl would use with the same flags. @throws SpecError */
export function connect(o: ConnectOptions = {}): KubeClient {
  return new KubeClient(loadClusterAccess(o), o);
}

export interface SubmitOptions extends K8sResolveOptions {
  /** `--set a.b=v` overrides of the job file. */
  set?: readonly string[];
  /** `--kubeconfig`, `--context` (see kubeconfig.ts). `namespace` (from K8sResolveOptions) overrides the job's `kubernetes.namespace`. */
  kubeconfig?: string | undefined;
  context?: string | undefined;
  /** Use this client (tests); its namespace must be the job's. Default: {@link connect}. */
  client?: KubeClient;
  /** The caller follows the run (`--watch`): required for `phases: two`. Default false. */
  watch?: boolean;
  /** Server-side dry run (`--dry-run=server`): everything is validated, nothing is stored. Default false. */
  dryRun?: boolean;
  signal?: AbortSignal | undefined;
}

export interface SubmitResult {
  /** The application to follow now: `<name>-<run_id>` (the prepare one with `phases: two`). */
  name: string;
  namespace: string;
  runId: string;
  /** Every application of the run, in order. */
  apps: string[];
  configMap: string;
  /** Applications `followRun` applies once the previous one COMPLETED. */
  pending: K8sObject[];
  /** The client used (the one passed in, or a new one the caller closes). */
  client: KubeClient;
  /** The rendered ConfigMap and the stored applications that own it (for applying pending ones). */
  rendered: { configMap: K8sObject; podMonitor?: K8sObject | undefined; owners: Record<string, any>[] };
}

function withOwners(cm: K8sObject, owners: Record<string, any>[]): K8sObject {
  return {
    ...cm,
    metadata: {
      ...cm.metadata,
      ownerReferences: owners.map((o) => ({
        apiVersion: SPARK_APP.apiVersion,
        kind: SPARK_APP.kind,
        name: o.metadata.name,
        uid: o.metadata.uid,
      })),
    },
  } as K8sObject;
}

/**
 * Applies an application, then the ConfigMap (and the PodMonitor, when rendered) owned by it and by
 * the run's earlier applications. Returns the owners.
 */
async function applyApp(
  client: KubeClient,
  owned: { configMap: K8sObject; podMonitor?: K8sObject | undefined },
  app: K8sObject,
  owners: Record<string, any>[],
  o: { dryRun?: boolean | undefined; signal?: AbortSignal | undefined },
): Promise<Record<string, any>[]> {
  try {
    const stored = await client.apply<Record<string, any>>(app, o);
    if (o.dryRun === true) return owners;
    const all = [...owners, stored];
    await client.apply(withOwners(owned.configMap, all), o);
    if (owned.podMonitor !== undefined) await applyPodMonitor(client, withOwners(owned.podMonitor, all), o);
    return all;
  } catch (err) {
    if (err instanceof KubeApiError && err.status === 404 && /could not find the requested resource/i.test(err.message)) {
      throw kubeApiError(
        404,
        'NotFound',
        `the cluster has no SparkApplication resource (${client.access.source}): install spark-operator >= 2 with its CRDs first (docs/kubernetes.md)`,
        { cause: err },
      );
    }
    throw err;
  }
}

/** The PodMonitor, or a message that says which CRDs it needs. */
async function applyPodMonitor(client: KubeClient, monitor: K8sObject, o: { signal?: AbortSignal | undefined }): Promise<void> {
  try {
    await client.apply(monitor, o);
  } catch (err) {
    if (err instanceof KubeApiError && err.status === 404)
      throw kubeApiError(
        404,
        'NotFound',
        `the cluster has no PodMonitor resource (observability.prometheus.pod_monitor): install the Prometheus Operator's CRDs, or set pod_monitor: false and scrape by the prometheus.io annotations; the run itself was submitted`,
        { cause: err },
      );
    throw err;
  }
}

/** Renders the job and applies it. Returns the application to follow. @throws SpecError, KubeApiError */
export async function submit(jobPath: string, o: SubmitOptions = {}): Promise<SubmitResult> {
  const run: RenderedRun = renderJobFile(jobPath, o.set ?? [], o);
  const [first, ...rest] = run.apps;
  if (first === undefined) throw new RuntimeFailure('the renderer returned no SparkApplication');
  if (rest.length > 0 && o.watch !== true) {
    throw new SpecError(
      'kubernetes.phases is `two`: the infer application is applied when prepare has completed, so submit it with --watch',
    );
  }
  const client = o.client ?? connect({ kubeconfig: o.kubeconfig, context: o.context, namespace: run.namespace });
  if (client.namespace !== run.namespace)
    throw badArgument(`submit: the client's namespace \`${client.namespace}\` is not the job's \`${run.namespace}\``);
  let owners: Record<string, any>[];
  try {
    await client.apply(run.configMap, { dryRun: o.dryRun, signal: o.signal });
    owners = await applyApp(client, run, first, [], o);
  } catch (err) {
    if (o.client === undefined) await client.close();
    throw err;
  }
  return {
    name: first.metadata.name,
    namespace: run.namespace,
    runId: run.jobJson.run.id,
    apps: run.apps.map((a) => a.metadata.name),
    configMap: run.configMap.metadata.name,
    pending: rest,
    client,
    rendered: { configMap: run.configMap, podMonitor: run.podMonitor, owners },
  };
}

export interface FollowOptions {
  /** Every change of the application's state, executors or driver. */
  onStatus?: (s: AppStatus) => void;
  /** The driver's `sparkinfer-progress` lines, parsed. */
  onProgress?: (p: DriverProgress) => void;
  /** Every other driver log line (default: dropped). */
  onLogLine?: (line: string) => void;
  /** A failure to read the driver log (the watch goes on). Default: ignored. */
  onLogError?: (err: unknown) => void;
  signal?: AbortSignal | undefined;
  /** Wait before retrying the driver log when the container is not running yet, in ms. Default 5000. */
  logRetryMs?: number;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<unknown>;
}

/**
 * Follows one application until COMPLETED or FAILED, reading the driver's log for progress
 * while it runs. Returns its final status. @throws what {@link watchApp} throws
 */
export async function followApp(client: KubeClient, name: string, o: FollowOptions = {}): Promise<AppStatus> {
  const sleep = o.sleep ?? ((ms: number, signal?: AbortSignal) => delay(ms, undefined, signal !== undefined ? { signal } : {}));
  const logs = new AbortController();
  const stop = (): void => logs.abort();
  o.signal?.addEventListener('abort', stop, { once: true });
  let current: AppStatus | undefined;
  let task: Promise<void> | undefined;
  let streaming = false;
  const follow = async (pod: string): Promise<void> => {
    // Until the stream ends by itself (the driver exited), or the driver pod changes.
    while (!logs.signal.aborted && current?.state === 'RUNNING' && current.driver.podName === pod) {
      try {
        const app = await client.get({ ...SPARK_APP, namespace: client.namespace, name }, logs.signal);
        const p = await driverPod(client, app, logs.signal);
        streaming = true;
        for await (const line of podLogLines(client, p, { follow: true, signal: logs.signal })) {
          const progress = parseProgressLine(line);
          if (progress !== undefined) o.onProgress?.(progress);
          else o.onLogLine?.(line);
        }
        return;
      } catch (err) {
        streaming = false;
        if (logs.signal.aborted) return;
        o.onLogError?.(err);
        await sleep(o.logRetryMs ?? 5000, logs.signal).catch(() => undefined);
      }
    }
  };
  const onStatus = (s: AppStatus): void => {
    current = s;
    o.onStatus?.(s);
    const pod = s.driver.podName;
    if (s.state === 'RUNNING' && pod !== undefined && task === undefined) {
      task = follow(pod).finally(() => {
        task = undefined;
      });
    }
  };
  try {
    return await watchApp(client, name, { onStatus, signal: o.signal });
  } finally {
    o.signal?.removeEventListener('abort', stop);
    // The driver's last progress lines usually arrive just before the final status: give an open
    // log stream a moment to drain before cutting it.
    const t = task;
    if (t !== undefined && streaming) {
      const grace = new AbortController();
      await Promise.race([t, delay(2000, undefined, { signal: grace.signal }).catch(() => undefined)]);
      grace.abort();
    }
    logs.abort();
    await task;
  }
}

export interface RunOutcome {
  /** The last application's final status. */
  status: AppStatus;
  /** 0 when every application COMPLETED, 1 when one FAILED. */
  exitCode: number;
}

/** `submit --watch`: follows the run's applications in turn, applying each pending one after the previous COMPLETED. */
export async function followRun(r: SubmitResult, o: FollowOptions = {}): Promise<RunOutcome> {
  let status = await followApp(r.client, r.name, o);
  for (const next of r.pending) {
    if (status.state !== 'COMPLETED') break;
    r.rendered.owners = await applyApp(r.client, r.rendered, next, r.rendered.owners, { signal: o.signal });
    status = await followApp(r.client, next.metadata.name, o);
  }
  return { status, exitCode: exitCodeOfState(status.state) ?? 1 };
}

export interface LogsOptions {
  follow?: boolean;
  tailLines?: number;
  signal?: AbortSignal | undefined;
}

/** `sparkinfer logs RUN [-f]`: the driver's log, line by line. @throws KubeApiError 404 (exit 2) before there is a driver pod */
export async function* driverLogs(client: KubeClient, name: string, o: LogsOptions = {}): AsyncGenerator<string> {
  const app = await findApp(client, name, o.signal);
  const p = await driverPod(client, app, o.signal);
  yield* podLogLines(client, p, o);
}

export interface CancelResult {
  /** `kind/name` of everything deleted. */
  deleted: string[];
}

/**
 * `sparkinfer cancel RUN`: deletes the run's SparkApplications (the operator stops their pods)
 * and its ConfigMap. @throws KubeApiError 404 (exit 2) when there is no such application
 */
export async function cancel(client: KubeClient, name: string, signal?: AbortSignal): Promise<CancelResult> {
  const app = await findApp(client, name, signal);
  const runId: unknown = app.metadata?.labels?.[RUN_ID_LABEL];
  const ns = client.namespace;
  const deleted: string[] = [];
  const apps =
    typeof runId === 'string' ? (await client.list({ ...SPARK_APP, namespace: ns }, `${RUN_ID_LABEL}=${runId}`, signal)).items : [app];
  for (const a of apps) {
    if (await client.delete({ ...SPARK_APP, namespace: ns, name: a.metadata.name }, signal))
      deleted.push(`sparkapplication/${a.metadata.name}`);
  }
  if (typeof runId === 'string') {
    for (const cm of (await client.list({ apiVersion: 'v1', kind: 'ConfigMap', namespace: ns }, `${RUN_ID_LABEL}=${runId}`, signal))
      .items) {
      if (await client.delete({ apiVersion: 'v1', kind: 'ConfigMap', namespace: ns, name: cm.metadata.name }, signal))
        deleted.push(`configmap/${cm.metadata.name}`);
    }
  }
  return { deleted };
}

export interface PromptIO {
  input: NodeJS.ReadableStream & { isTTY?: boolean };
  output: NodeJS.WritableStream;
}

/**
 * After Ctrl-C during `submit --watch`: asks on a TTY whether to cancel the run on the cluster
 * (y/N). Without a TTY it never asks and answers no: the application keeps running. An empty
 * answer, EOF or a second Ctrl-C is no.
 */
export async function confirmCancel(name: string, io: PromptIO = { input: process.stdin, output: process.stderr }): Promise<boolean> {
  if (io.input.isTTY !== true) return false;
  const rl = createInterface({ input: io.input, output: io.output, terminal: false });
  try {
    const closed = new Promise<string>((res) => rl.once('close', () => res('')));
    const answer = await Promise.race([rl.question(`\nCancel ${name} on the cluster? It keeps running otherwise. [y/N] `), closed]);
    return /^\s*y(es)?\s*$/i.test(answer);
  } finally {
    rl.close();
  }
}

/**
 * What the CLI does on Ctrl-C during `submit --watch`: ask, then cancel or detach. Returns the
 * line to print; the CLI exits 130 either way.
 */
export async function handleInterrupt(client: KubeClient, name: string, io?: PromptIO): Promise<{ cancelled: boolean; message: string }> {
  if (await confirmCancel(`${client.namespace}/${name}`, io)) {
    const r = await cancel(client, name);
    return { cancelled: true, message: `cancelled: deleted ${r.deleted.join(', ') || 'nothing (already gone)'}` };
  }
  return {
    cancelled: false,
    message: `detached: ${client.namespace}/${name} keeps running; follow it with \`sparkinfer status ${name} -n ${client.namespace}\`, stop it with \`sparkinfer cancel ${name} -n ${client.namespace}\``,
  };
}
