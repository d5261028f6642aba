/**
 * A small Kubernetes API client over undici: the handful of calls submit/status/watch/logs/cancel
 * need (server-side apply, get, list, delete, watch, log streams), with kubectl's credentials
 * (see kubeconfig.ts). docs/kubernetes-cli.md says why this and not @kubernetes/client-node.
 *
 * Errors: the server's `Status` becomes a {@link KubeApiError}. Requests the server rejected for
 * what they ask (400 strict decoding, 401/403, 404, 409, 422) are `E_SPEC` (exit 2); transport
 * failures, 429 and 5xx are `E_RUNTIME` (exit 1) after a few retries of idempotent calls.
 * Tokens never appear in a message.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { Agent, request, type Dispatcher } from 'undici';
import { SparkinferError, SpecError } from '../errors.ts';
import { backoffMs, type BackoffSteps } from '../backoff.ts';
import type { ClusterAccess, ExecPlugin } from './kubeconfig.ts';
import { badArgument, checkAbove, checkInt } from '../checks.ts';

export const FIELD_MANAGER = 'sparkinfer';

/** An object to apply: apiVersion, kind, metadata.name (and namespace) and anything else. */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string | undefined; [k: string]: unknown };
  [k: string]: unknown;
}

/** A reference to one object (or, without `name`, to its collection). */
export interface ObjectRef {
  apiVersion: string;
  kind: string;
  namespace?: string | undefined;
  name?: string | undefined;
}

/** Plural resource names of the kinds sparkinfer touches; no discovery round trip needed. */
const RESOURCES: Record<string, { plural: string; namespaced: boolean }> = {
  ConfigMap: { plural: 'configmaps', namespaced: true },
  Pod: { plural: 'pods', namespaced: true },
  Namespace: { plural: 'namespaces', namespaced: false },
  ServiceAccount: { plural: 'serviceaccounts', namespaced: true },
  Node: { plural: 'nodes', namespaced: false },
  Secret: { plural: 'secrets', namespaced: true },
  SparkApplication: { plural: 'sparkapplications', namespaced: true },
  ScheduledSparkApplication: { plural: 'scheduledsparkapplications', namespaced: true },
  CustomResourceDefinition: { plural: 'customresourcedefinitions', namespaced: false },
  // observability.prometheus.pod_monitor (the Prometheus Operator's CRD).
  PodMonitor: { plural: 'podmonitors', namespaced: true },
  // The local cluster's setup (scripts/cluster/) applies these too.
  Service: { plural: 'services', namespaced: true },
  PersistentVolume: { plural: 'persistentvolumes', namespaced: false },
  PersistentVolumeClaim: { plural: 'persistentvolumeclaims', namespaced: true },
  Role: { plural: 'roles', namespaced: true },
  RoleBinding: { plural: 'rolebindings', namespaced: true },
  MutatingWebhookConfiguration: { plural: 'mutatingwebhookconfigurations', namespaced: false },
  ValidatingWebhookConfiguration: { plural: 'validatingwebhookconfigurations', namespaced: false },
};

/** `/api/v1/namespaces/ns/configmaps/name`, `/apis/group/version/...`. */
export function objectPath(ref: ObjectRef): string {
  const r = RESOURCES[ref.kind];
  if (r === undefined) throw badArgument(`objectPath: unknown kind \`${ref.kind}\` (known: ${Object.keys(RESOURCES).join(', ')})`);
  const base = ref.apiVersion.includes('/') ? `/apis/${ref.apiVersion}` : `/api/${ref.apiVersion}`;
  if (r.namespaced && (ref.namespace === undefined || ref.namespace === '')) throw badArgument(`objectPath: ${ref.kind} needs a namespace`);
  const ns = r.namespaced ? `/namespaces/${encodeURIComponent(ref.namespace ?? '')}` : '';
  const name = ref.name !== undefined ? `/${encodeURIComponent(ref.name)}` : '';
  return `${base}${ns}/${r.plural}${name}`;
}

/**
 * The API server's answer to a failed request (its `Status` object, when it sent one). Two
 * classes, one code each: `KubeRequestError` (the request is at fault: E_SPEC, exit 2, never
 * retried) and `KubeServerError` (the server or the network: E_RUNTIME, exit 1). `kubeApiError`
 * picks one.
 */
export abstract class KubeApiError extends SparkinferError {
  /** HTTP status; 0 when the server was not reached. */
  readonly status: number;
  /** `Status.reason`: NotFound, Invalid, BadRequest, Conflict, Forbidden, ... */
  readonly reason: string;
  /** Whether the request itself is at fault (exit 2, never retried) rather than the server or network. */
  abstract readonly clientFault: boolean;
  constructor(status: number, reason: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.status = status;
    this.reason = reason;
  }
}

/** The request is at fault (a 4xx such as NotFound, Invalid, Forbidden). */
export class KubeRequestError extends KubeApiError {
  readonly code = 'E_SPEC';
  readonly clientFault = true;
}

/** The server or the network failed (5xx, 429, unreachable). */
export class KubeServerError extends KubeApiError {
  readonly code = 'E_RUNTIME';
  readonly clientFault = false;
}

/** The error for a failed request: a request fault by its status, unless `clientFault` says otherwise. */
export function kubeApiError(
  status: number,
  reason: string,
  message: string,
  options?: { cause?: unknown; clientFault?: boolean },
): KubeApiError {
  const Class = (options?.clientFault ?? isClientFault(status)) ? KubeRequestError : KubeServerError;
  return new Class(status, reason, message, options?.cause === undefined ? undefined : { cause: options.cause });
}

function isClientFault(status: number): boolean {
  return [400, 401, 403, 404, 405, 409, 410, 415, 422].includes(status);
}

/** Between attempts of an idempotent call: full jitter under 250 ms, 500 ms, ... up to 4 s. */
const CALL_BACKOFF: BackoffSteps = { baseMs: 250, capMs: 4000 };

function retriable(err: unknown): boolean {
  return err instanceof KubeApiError && !err.clientFault && (err.status === 0 || err.status === 429 || err.status >= 500);
}

/**
 * Server-side apply of a field the schema does not declare fails with a 500 "failed to create
 * typed patch object … field not declared in schema", whatever `fieldValidation` says
 * (kubernetes/kubernetes#139253). It is the request's fault: exit 2, no retry.
 */
const UNDECLARED_FIELD = /failed to create typed patch object|field not declared in schema/;

export interface KubeClientOptions {
  /** Used instead of a dispatcher built from the access's TLS settings (tests). Not closed by `close()`. */
  dispatcher?: Dispatcher;
  /** Limit for a non-streaming request, headers and body, in ms. Default 30_000. */
  requestTimeoutMs?: number;
  /** Attempts of an idempotent request on connect errors, 429 and 5xx. Default 3. */
  attempts?: number;
  /** Backoff between attempts (injected in tests). Default: timers/promises setTimeout. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<unknown>;
  /** The backoff's random source, in [0, 1) (injected in tests). Default Math.random. */
  random?: () => number;
  /** Runs `exec` credential plugins; injected in tests. Default: execFile with a 60 s limit. */
  runExec?: (plugin: ExecPlugin, env: NodeJS.ProcessEnv) => Promise<string>;
}

export interface CallOptions {
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  contentType?: string;
  /** Default `application/json`; log streams are text. */
  accept?: string;
  signal?: AbortSignal | undefined;
}

function defaultRunExec(plugin: ExecPlugin, env: NodeJS.ProcessEnv): Promise<string> {
  const cmd = plugin.command.includes('/') && !isAbsolute(plugin.command) ? join(plugin.baseDir, plugin.command) : plugin.command;
  return new Promise((resolveOut, reject) => {
    // argv, no shell: the command comes from the user's kubeconfig, as with kubectl.
    execFile(cmd, plugin.args, { env, timeout: 60_000, maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
      if (err !== null) {
        const hint = plugin.installHint !== undefined ? `\n${plugin.installHint}` : '';
        reject(
          new SpecError(
            `kubeconfig exec plugin \`${plugin.command}\` failed: ${String(stderr).trim().slice(0, 500) || err.message}${hint}`,
            { cause: err },
          ),
        );
      } else resolveOut(String(stdout));
    });
  });
}

export class KubeClient {
  readonly access: ClusterAccess;
  readonly namespace: string;
  readonly #dispatcher: Dispatcher;
  readonly #ownDispatcher: Agent | undefined;
  readonly #timeoutMs: number;
  readonly #attempts: number;
  readonly #sleep: (ms: number, signal?: AbortSignal) => Promise<unknown>;
  readonly #random: () => number;
  readonly #runExec: (plugin: ExecPlugin, env: NodeJS.ProcessEnv) => Promise<string>;
  #execToken: { token: string; expiresAt: number } | undefined;

  constructor(access: ClusterAccess, o: KubeClientOptions = {}) {
    const timeout = o.requestTimeoutMs ?? 30_000;
    checkAbove('requestTimeoutMs', timeout, 0);
    const attempts = o.attempts ?? 3;
    checkInt('attempts', attempts, 1);
    this.access = access;
    this.namespace = access.namespace;
    this.#timeoutMs = timeout;
    this.#attempts = attempts;
    this.#sleep = o.sleep ?? ((ms, signal) => delay(ms, undefined, signal !== undefined ? { signal } : {}));
    this.#random = o.random ?? Math.random;
    this.#runExec = o.runExec ?? defaultRunExec;
    if (o.dispatcher !== undefined) {
      this.#dispatcher = o.dispatcher;
      this.#ownDispatcher = undefined;
    } else {
      const t = access.tls;
      this.#ownDispatcher = new Agent({
        connect: {
          rejectUnauthorized: !t.insecureSkipVerify,
          ...(t.ca !== undefined ? { ca: t.ca } : {}),
          ...(t.cert !== undefined ? { cert: t.cert } : {}),
          ...(t.key !== undefined ? { key: t.key } : {}),
          ...(t.serverName !== undefined ? { servername: t.serverName } : {}),
          timeout: 10_000,
        },
      });
      this.#dispatcher = this.#ownDispatcher;
    }
  }

  async close(): Promise<void> {
    await this.#ownDispatcher?.close();
  }

  async #authorization(): Promise<string | undefined> {
    const a = this.access.auth;
    switch (a.kind) {
      case 'none':
        return undefined;
      case 'token':
        return `Bearer ${a.token}`;
      case 'tokenFile':
        return `Bearer ${readFileSync(a.path, 'utf8').trim()}`;
      case 'basic':
        return `Basic ${Buffer.from(`${a.username}:${a.password}`).toString('base64')}`;
      case 'exec':
        return `Bearer ${await this.#execCredential(a.exec)}`;
    }
  }

  async #execCredential(plugin: ExecPlugin): Promise<string> {
    if (this.#execToken !== undefined && Date.now() < this.#execToken.expiresAt) return this.#execToken.token;
    const info = { apiVersion: plugin.apiVersion, kind: 'ExecCredential', spec: { interactive: false } };
    const out = await this.#runExec(plugin, { ...process.env, ...plugin.env, KUBERNETES_EXEC_INFO: JSON.stringify(info) });
    let cred: { status?: { token?: unknown; expirationTimestamp?: unknown; clientCertificateData?: unknown } };
    try {
      cred = JSON.parse(out) as typeof cred;
    } catch (err) {
      throw new SpecError(`kubeconfig exec plugin \`${plugin.command}\` printed no ExecCredential JSON`, { cause: err });
    }
    const token = cred.status?.token;
    if (typeof token !== 'string' || token === '') {
      const why =
        cred.status?.clientCertificateData !== undefined
          ? 'returned a client certificate, which sparkinfer does not support from exec plugins'
          : 'returned no token';
      throw new SpecError(`kubeconfig exec plugin \`${plugin.command}\` ${why}`);
    }
    const exp = typeof cred.status?.expirationTimestamp === 'string' ? Date.parse(cred.status.expirationTimestamp) : Number.NaN;
    // Without an expiry the credential is kept for the process; a 401 drops it.
    this.#execToken = { token, expiresAt: Number.isFinite(exp) ? exp - 10_000 : Number.POSITIVE_INFINITY };
    return token;
  }

  #url(path: string, query: CallOptions['query']): string {
    const qs = new URLSearchParams();
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) qs.set(k, String(v));
    const q = qs.toString();
    return `${this.access.server}${path}${q !== '' ? `?${q}` : ''}`;
  }

  /** One attempt; returns the undici response with the body unread on 2xx. */
  async #send(method: Dispatcher.HttpMethod, path: string, o: CallOptions, streaming: boolean): Promise<Dispatcher.ResponseData> {
    const headers: Record<string, string> = { accept: o.accept ?? 'application/json', 'user-agent': 'sparkinfer' };
    const auth = await this.#authorization();
    if (auth !== undefined) headers.authorization = auth;
    let body: string | undefined;
    if (o.body !== undefined) {
      body = typeof o.body === 'string' ? o.body : JSON.stringify(o.body);
      headers['content-type'] = o.contentType ?? 'application/json';
    }
    let res: Dispatcher.ResponseData;
    try {
      res = await request(this.#url(path, o.query), {
        method,
        headers,
        dispatcher: this.#dispatcher,
        ...(body !== undefined ? { body } : {}),
        ...(o.signal !== undefined ? { signal: o.signal } : {}),
        headersTimeout: this.#timeoutMs,
        bodyTimeout: streaming ? 0 : this.#timeoutMs,
      });
    } catch (err) {
      if (o.signal?.aborted === true) throw err;
      throw kubeApiError(0, 'Unreachable', `${method} ${this.access.server}${path}: ${(err as Error).message} (${this.access.source})`, {
        cause: err,
      });
    }
    if (res.statusCode >= 200 && res.statusCode < 300) return res;
    const text = await res.body.text().catch(() => '');
    let reason = '';
    let message = text.slice(0, 2000);
    try {
      const s = JSON.parse(text) as { reason?: string; message?: string };
      reason = s.reason ?? '';
      message = s.message ?? message;
    } catch {
      /* not a Status: keep the text */
    }
    if (res.statusCode === 401 && this.access.auth.kind === 'exec') this.#execToken = undefined;
    const undeclared = res.statusCode === 500 && UNDECLARED_FIELD.test(message);
    throw kubeApiError(
      res.statusCode,
      reason !== '' ? reason : undeclared ? 'Invalid' : '',
      `${method} ${path}: ${res.statusCode}${reason !== '' ? ` ${reason}` : ''}: ${message}`,
      { clientFault: undeclared || isClientFault(res.statusCode) },
    );
  }

  /** A JSON request; idempotent methods are retried on connect errors, 429 and 5xx. */
  async call<T = Record<string, unknown>>(method: Dispatcher.HttpMethod, path: string, o: CallOptions = {}): Promise<T> {
    const idempotent = method !== 'POST';
    for (let attempt = 1; ; attempt++) {
      try {
        const res = await this.#send(method, path, o, false);
        const text = await res.body.text();
        return (text === '' ? {} : JSON.parse(text)) as T;
      } catch (err) {
        if (!idempotent || !retriable(err) || attempt >= this.#attempts) throw err;
        await this.#sleep(backoffMs(attempt, CALL_BACKOFF, this.#random), o.signal ?? undefined);
      }
    }
  }

  /** A streaming GET (watch, log follow): yields the body line by line until it ends or `signal` aborts. */
  async *lines(path: string, o: CallOptions = {}): AsyncGenerator<string> {
    const res = await this.#send('GET', path, o, true);
    let buf = '';
    try {
      for await (const chunk of res.body) {
        buf += (chunk as Buffer).toString('utf8');
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          yield buf.slice(0, nl).replace(/\r$/, '');
          buf = buf.slice(nl + 1);
        }
      }
      if (buf !== '') yield buf;
    } finally {
      res.body.destroy();
    }
  }

  /**
   * Server-side apply: PATCH with `application/apply-patch+yaml`, `fieldValidation=Strict` (an
   * unknown or duplicate field is an error, not silently pruned) and `force` (sparkinfer owns
   * the fields it renders). Returns the object as stored.
   */
  apply<T = Record<string, unknown>>(
    obj: KubeObject,
    o: {
      fieldManager?: string | undefined;
      force?: boolean | undefined;
      dryRun?: boolean | undefined;
      signal?: AbortSignal | undefined;
    } = {},
  ): Promise<T> {
    const path = objectPath({ apiVersion: obj.apiVersion, kind: obj.kind, namespace: obj.metadata.namespace, name: obj.metadata.name });
    return this.call<T>('PATCH', path, {
      query: {
        fieldManager: o.fieldManager ?? FIELD_MANAGER,
        fieldValidation: 'Strict',
        force: o.force ?? true,
        dryRun: o.dryRun === true ? 'All' : undefined,
      },
      // JSON is YAML; the apply content type is what makes this a server-side apply.
      body: JSON.stringify(obj),
      contentType: 'application/apply-patch+yaml',
      signal: o.signal,
    });
  }

  get<T = Record<string, unknown>>(ref: ObjectRef, signal?: AbortSignal): Promise<T> {
    return this.call<T>('GET', objectPath(ref), { signal });
  }

  /** Like {@link get}, but undefined for a 404. */
  async find<T = Record<string, unknown>>(ref: ObjectRef, signal?: AbortSignal): Promise<T | undefined> {
    try {
      return await this.get<T>(ref, signal);
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 404) return undefined;
      throw err;
    }
  }

  list<T = Record<string, any>>(
    ref: ObjectRef,
    labelSelector?: string,
    signal?: AbortSignal,
  ): Promise<{ items: T[]; metadata: { resourceVersion?: string } }> {
    return this.call('GET', objectPath({ ...ref, name: undefined }), { query: { labelSelector }, signal });
  }

  /** Deletes one object; its pods and other dependents go in the background. False when it was already gone. */
  async delete(ref: ObjectRef, signal?: AbortSignal): Promise<boolean> {
    try {
      await this.call('DELETE', objectPath(ref), { query: { propagationPolicy: 'Background' }, signal });
      return true;
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 404) return false;
      throw err;
    }
  }
}
