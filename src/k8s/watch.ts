/**
 * `sparkinfer status RUN` and the follow loop of `submit --watch`: the SparkApplication's
 * `.status` (set by spark-operator) read once, or followed through the watch API until the
 * application is COMPLETED (exit 0) or FAILED (exit 1). Every other state is transient: the
 * operator retries SUBMISSION_FAILED and FAILING applications per `restartPolicy` and ends in
 * FAILED when the retries are spent.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { RuntimeFailure } from '../errors.ts';
import { backoffMs, type BackoffSteps } from '../backoff.ts';
import { KubeApiError, kubeApiError, type KubeClient, type ObjectRef } from './client.ts';
import { PHASE_LABEL, RUN_ID_LABEL } from './names.ts';

export const SPARK_APP = { apiVersion: 'sparkoperator.k8s.io/v1beta2', kind: 'SparkApplication' } as const;

/** spark-operator's terminal states and the exit codes they map to (docs/architecture.md, "Exit codes"). */
export const TERMINAL_STATES: Readonly<Record<string, number>> = { COMPLETED: 0, FAILED: 1 };

export type SparkApp = Record<string, any>;

export interface AppStatus {
  name: string;
  namespace: string;
  /** `.status.applicationState.state`; `NEW` before the operator has seen it. */
  state: string;
  errorMessage?: string;
  runId?: string;
  /** `.status.executionAttempts`. */
  attempts?: number;
  driver: { podName?: string; webUIAddress?: string; sparkApplicationId?: string };
  /** Executor pod → state (PENDING, RUNNING, COMPLETED, FAILED, UNKNOWN). */
  executors: Record<string, string>;
  /** State → number of executors. */
  executorCounts: Record<string, number>;
  /** The object's resourceVersion. */
  resourceVersion?: string;
}

export function appStatusOf(app: SparkApp): AppStatus {
  const st = app.status ?? {};
  const executors: Record<string, string> = { ...(st.executorState ?? {}) };
  const executorCounts: Record<string, number> = {};
  for (const s of Object.values(executors)) executorCounts[s] = (executorCounts[s] ?? 0) + 1;
  const d = st.driverInfo ?? {};
  const runId: unknown = app.metadata?.labels?.[RUN_ID_LABEL];
  return {
    name: app.metadata?.name,
    namespace: app.metadata?.namespace,
    state: st.applicationState?.state || 'NEW',
    ...(st.applicationState?.errorMessage ? { errorMessage: String(st.applicationState.errorMessage) } : {}),
    ...(typeof runId === 'string' ? { runId } : {}),
    ...(typeof st.executionAttempts === 'number' ? { attempts: st.executionAttempts } : {}),
    driver: {
      ...(d.podName ? { podName: String(d.podName) } : {}),
      ...(d.webUIAddress ? { webUIAddress: String(d.webUIAddress) } : {}),
      ...(st.sparkApplicationId ? { sparkApplicationId: String(st.sparkApplicationId) } : {}),
    },
    executors,
    executorCounts,
    ...(app.metadata?.resourceVersion ? { resourceVersion: String(app.metadata.resourceVersion) } : {}),
  };
}

/** 0 for COMPLETED, 1 for FAILED, undefined while the application is still going. */
export function exitCodeOfState(state: string): number | undefined {
  return TERMINAL_STATES[state];
}

/** `RUNNING driver quickstart-…-driver, executors 3 running 1 pending, attempt 1`. */
export function formatStatus(s: AppStatus): string {
  const parts = [`${s.namespace}/${s.name} ${s.state}`];
  if (s.driver.podName !== undefined) parts.push(`driver ${s.driver.podName}`);
  const ex = Object.entries(s.executorCounts)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, n]) => `${n} ${k.toLowerCase()}`);
  if (ex.length > 0) parts.push(`executors ${ex.join(' ')}`);
  if (s.attempts !== undefined && s.attempts > 1) parts.push(`attempt ${s.attempts}`);
  if (s.errorMessage !== undefined) parts.push(`error: ${s.errorMessage.split('\n')[0]}`);
  return parts.join(', ');
}

/**
 * The application named `name` in the client's namespace, or, when there is none, the
 * application of the run whose id is `name` (the later phase of a two-phase run that has started).
 * @throws KubeApiError 404 (exit 2) when neither exists
 */
export async function findApp(client: KubeClient, name: string, signal?: AbortSignal): Promise<SparkApp> {
  const app = await client.find<SparkApp>({ ...SPARK_APP, namespace: client.namespace, name }, signal);
  if (app !== undefined) return app;
  const byRun = /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/.test(name)
    ? (await client.list<SparkApp>({ ...SPARK_APP, namespace: client.namespace }, `${RUN_ID_LABEL}=${name}`, signal)).items
    : [];
  // Prepare before infer (creation times have 1 s resolution, so order by phase first); the
  // last one that exists is the one that matters now.
  const rank = (a: SparkApp): string => `${a.metadata?.labels?.[PHASE_LABEL] === 'infer' ? 1 : 0}${String(a.metadata?.creationTimestamp)}`;
  const sorted = byRun.sort((a, b) => rank(a).localeCompare(rank(b)));
  const last = sorted[sorted.length - 1];
  if (last !== undefined) return last;
  throw kubeApiError(
    404,
    'NotFound',
    `no SparkApplication \`${name}\` (nor a run with that id) in namespace ${client.namespace} (${client.access.source}); pass --namespace if it was submitted elsewhere`,
  );
}

/** `sparkinfer status RUN`. */
export async function getStatus(client: KubeClient, name: string, signal?: AbortSignal): Promise<AppStatus> {
  return appStatusOf(await findApp(client, name, signal));
}

export interface WatchOptions {
  /** Called with the first status and with every change of state, executors or driver. */
  onStatus?: (s: AppStatus) => void;
  signal?: AbortSignal | undefined;
  /** Server-side limit of one watch request, after which it is renewed, in s. Default 300. */
  watchTimeoutS?: number;
  /** Backoff before re-listing after a dropped connection (injected in tests). */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<unknown>;
  /** The backoff's random source, in [0, 1) (injected in tests). Default Math.random. */
  random?: () => number;
}

/** Before the n-th re-list: full jitter under 500 ms · 2^n, at most 30 s. */
const RELIST_BACKOFF: BackoffSteps = { baseMs: 500, capMs: 30_000 };

function signature(s: AppStatus): string {
  return JSON.stringify([s.state, s.errorMessage, s.attempts, s.driver, s.executors]);
}

/**
 * Follows one SparkApplication until it is COMPLETED or FAILED and returns its last status.
 * Uses the watch API from the object's resourceVersion, renews the watch when the server ends it,
 * and re-reads the object after a 410 Gone or a dropped connection.
 * @throws RuntimeFailure when the application is deleted meanwhile (cancelled elsewhere)
 * @throws the signal's reason when `signal` aborts
 */
export async function watchApp(client: KubeClient, name: string, o: WatchOptions = {}): Promise<AppStatus> {
  const sleep = o.sleep ?? ((ms: number, signal?: AbortSignal) => delay(ms, undefined, signal !== undefined ? { signal } : {}));
  const ref: ObjectRef = { ...SPARK_APP, namespace: client.namespace, name };
  let last = '';
  const seen = (app: SparkApp): AppStatus | undefined => {
    const s = appStatusOf(app);
    const sig = signature(s);
    if (sig !== last) {
      last = sig;
      o.onStatus?.(s);
    }
    return exitCodeOfState(s.state) !== undefined ? s : undefined;
  };
  const gone = (): RuntimeFailure => new RuntimeFailure(`SparkApplication ${client.namespace}/${name} was deleted before it finished`);
  let failures = 0;
  let rv: string | undefined;
  for (;;) {
    o.signal?.throwIfAborted();
    if (rv === undefined) {
      const app = await client.find<SparkApp>(ref, o.signal);
      if (app === undefined) {
        if (last === '')
          throw kubeApiError(404, 'NotFound', `no SparkApplication \`${name}\` in namespace ${client.namespace} (${client.access.source})`);
        throw gone();
      }
      const done = seen(app);
      if (done !== undefined) return done;
      rv = String(app.metadata?.resourceVersion ?? '');
    }
    try {
      const events = client.lines(`/apis/${SPARK_APP.apiVersion}/namespaces/${encodeURIComponent(client.namespace)}/sparkapplications`, {
        query: {
          watch: 'true',
          fieldSelector: `metadata.name=${name}`,
          resourceVersion: rv,
          allowWatchBookmarks: 'true',
          timeoutSeconds: o.watchTimeoutS ?? 300,
        },
        signal: o.signal,
      });
      for await (const line of events) {
        if (line.trim() === '') continue;
        const ev = JSON.parse(line) as { type: string; object: SparkApp };
        failures = 0;
        if (ev.type === 'ERROR') {
          // 410 Gone: the resourceVersion is too old; re-read the object and watch from there.
          if (ev.object.code === 410) {
            rv = undefined;
            break;
          }
          throw kubeApiError(
            Number(ev.object.code ?? 500),
            String(ev.object.reason ?? ''),
            `watch ${name}: ${String(ev.object.message ?? line)}`,
          );
        }
        if (ev.type === 'DELETED') throw gone();
        rv = String(ev.object.metadata?.resourceVersion ?? rv);
        if (ev.type === 'BOOKMARK') continue;
        const done = seen(ev.object);
        if (done !== undefined) return done;
      }
    } catch (err) {
      if (o.signal?.aborted === true) throw o.signal.reason;
      const transient =
        err instanceof KubeApiError
          ? !err.clientFault && (err.status === 0 || err.status === 429 || err.status >= 500)
          : !(err instanceof RuntimeFailure) && !(err instanceof SyntaxError);
      if (!transient || ++failures > 10) throw err;
      rv = undefined;
      await sleep(backoffMs(failures + 1, RELIST_BACKOFF, o.random), o.signal);
    }
  }
}
