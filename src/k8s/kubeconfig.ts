/**
 * Finds the cluster and credentials the way kubectl does (client-go's loading rules):
 * - `--kubeconfig FILE`: that file only;
 * - else `$KUBECONFIG`, a list of files (`:`-separated; `;` on Windows) merged so that the first
 *   file to define a cluster, user or context name wins, and the first `current-context` wins;
 *   files in the list that don't exist are skipped;
 * - else `~/.kube/config`;
 * - else, inside a pod, the service account (`KUBERNETES_SERVICE_HOST`/`_PORT` and the mounted
 *   token, CA and namespace).
 * `--context` picks a context (default `current-context`); `--namespace` beats the context's
 * namespace, which beats `default`. Relative paths in a kubeconfig are relative to that file.
 *
 * Credentials: bearer token, token file (re-read, as bound tokens rotate), client certificate and
 * key, basic auth, and `exec` plugins that return a token (EKS, GKE, AKS's kubelogin). Legacy
 * `auth-provider` entries and proxies are refused with a clear message rather than half-supported.
 * All errors are {@link SpecError}s: a broken kubeconfig is a bad setting (exit 2).
 */
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, dirname, isAbsolute, join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { SpecError } from '../errors.ts';

type Env = Readonly<Record<string, string | undefined>>;
type Raw = Record<string, unknown>;

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

export interface KubeconfigOptions {
  /** `--kubeconfig`: use this file only. Default: `$KUBECONFIG`, else `~/.kube/config`, else in-cluster. */
  kubeconfig?: string | undefined;
  /** `--context`. Default: the kubeconfig's `current-context`. */
  context?: string | undefined;
  /** `--namespace`. Default: the context's namespace, else `default` (in a pod: the pod's namespace). */
  namespace?: string | undefined;
  /** Environment to read `KUBECONFIG` and `KUBERNETES_SERVICE_*` from. Default `process.env`. */
  env?: Env;
  /** Home directory for `~/.kube/config`. Default `os.homedir()`. */
  home?: string;
  /** Service account mount, for in-cluster access. Default {@link SERVICE_ACCOUNT_DIR}. */
  serviceAccountDir?: string;
}

/** An `exec` credential plugin (`client.authentication.k8s.io/v1` or `v1beta1`). */
export interface ExecPlugin {
  apiVersion: string;
  command: string;
  args: string[];
  env: Record<string, string>;
  installHint?: string;
  /** Directory of the kubeconfig that declared it: a relative command path is relative to it. */
  baseDir: string;
}

export type KubeAuth =
  | { kind: 'none' }
  | { kind: 'token'; token: string }
  /** Re-read on every request: projected service account tokens rotate. */
  | { kind: 'tokenFile'; path: string }
  | { kind: 'basic'; username: string; password: string }
  | { kind: 'exec'; exec: ExecPlugin };

export interface KubeTls {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  insecureSkipVerify: boolean;
  /** SNI and certificate name to expect, when it differs from the server's host. */
  serverName?: string;
}

/** Everything needed to talk to one cluster as one user. */
export interface ClusterAccess {
  /** API server base URL without a trailing slash; may carry a path prefix (a proxy's). */
  server: string;
  namespace: string;
  /** The context's name; undefined in a pod. */
  context: string | undefined;
  /** Where this came from, for messages: `kubeconfig /home/me/.kube/config, context kind-dev`. */
  source: string;
  tls: KubeTls;
  auth: KubeAuth;
}

interface Named {
  name: string;
  body: Raw;
  baseDir: string;
}

interface Merged {
  clusters: Map<string, Named>;
  users: Map<string, Named>;
  contexts: Map<string, Named>;
  currentContext: string | undefined;
  files: string[];
}

const isRecord = (v: unknown): v is Raw => typeof v === 'object' && v !== null && !Array.isArray(v);

function str(body: Raw, key: string, where: string): string | undefined {
  const v = body[key];
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string') throw new SpecError(`${where}: expected \`${key}\` to be a string, got \`${JSON.stringify(v)}\``);
  return v;
}

/** The files kubectl would read, in precedence order. */
export function kubeconfigFiles(o: KubeconfigOptions = {}): string[] {
  const env = o.env ?? process.env;
  if (o.kubeconfig !== undefined) {
    if (!existsSync(o.kubeconfig)) throw new SpecError(`--kubeconfig \`${o.kubeconfig}\` does not exist`);
    return [resolve(o.kubeconfig)];
  }
  const list = env.KUBECONFIG;
  if (list !== undefined && list !== '') {
    const seen = new Set<string>();
    return list
      .split(delimiter)
      .filter((p) => p !== '')
      .map((p) => resolve(p))
      .filter((p) => {
        if (seen.has(p)) return false;
        seen.add(p);
        return existsSync(p);
      });
  }
  const home = join(o.home ?? homedir(), '.kube', 'config');
  return existsSync(home) ? [home] : [];
}

function readKubeconfig(file: string): Raw {
  let doc: unknown;
  try {
    doc = parseYaml(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new SpecError(`kubeconfig ${file}: ${(err as Error).message}`, { cause: err });
  }
  if (doc === null || doc === undefined) return {};
  if (!isRecord(doc)) throw new SpecError(`kubeconfig ${file}: expected a mapping at the top`);
  return doc;
}

/** Merges kubeconfig files with client-go's rule: the first definition of a name wins. */
export function mergeKubeconfigs(files: readonly string[]): Merged {
  const m: Merged = { clusters: new Map(), users: new Map(), contexts: new Map(), currentContext: undefined, files: [...files] };
  for (const file of files) {
    const doc = readKubeconfig(file);
    const baseDir = dirname(file);
    for (const [list, key, target] of [
      ['clusters', 'cluster', m.clusters],
      ['users', 'user', m.users],
      ['contexts', 'context', m.contexts],
    ] as const) {
      const entries = doc[list] ?? [];
      if (!Array.isArray(entries)) throw new SpecError(`kubeconfig ${file}: expected \`${list}\` to be a list`);
      for (const e of entries) {
        if (!isRecord(e) || typeof e.name !== 'string')
          throw new SpecError(`kubeconfig ${file}: every entry of \`${list}\` needs a \`name\``);
        const body = e[key] ?? {};
        if (!isRecord(body)) throw new SpecError(`kubeconfig ${file}: \`${list}\` entry \`${e.name}\` has no \`${key}\` mapping`);
        if (!target.has(e.name)) target.set(e.name, { name: e.name, body, baseDir });
      }
    }
    const cur = str(doc, 'current-context', `kubeconfig ${file}`);
    if (m.currentContext === undefined && cur !== undefined) m.currentContext = cur;
  }
  return m;
}

function fileOrData(body: Raw, fileKey: string, dataKey: string, baseDir: string, where: string): Buffer | undefined {
  const data = str(body, dataKey, where);
  if (data !== undefined) return Buffer.from(data, 'base64');
  const file = str(body, fileKey, where);
  if (file === undefined) return undefined;
  const path = isAbsolute(file) ? file : join(baseDir, file);
  try {
    return readFileSync(path);
  } catch (err) {
    throw new SpecError(`${where}: cannot read ${fileKey} \`${path}\`: ${(err as Error).message}`, { cause: err });
  }
}

function execPlugin(raw: unknown, baseDir: string, where: string): ExecPlugin {
  if (!isRecord(raw)) throw new SpecError(`${where}: expected \`exec\` to be a mapping`);
  const command = str(raw, 'command', where);
  if (command === undefined) throw new SpecError(`${where}: \`exec\` needs a \`command\``);
  const args = raw.args ?? [];
  if (!Array.isArray(args) || !args.every((a) => typeof a === 'string'))
    throw new SpecError(`${where}: expected \`exec.args\` to be a list of strings`);
  const env: Record<string, string> = {};
  for (const e of (raw.env ?? []) as unknown[]) {
    if (!isRecord(e) || typeof e.name !== 'string' || typeof e.value !== 'string')
      throw new SpecError(`${where}: expected \`exec.env\` entries of {name, value}`);
    env[e.name] = e.value;
  }
  const hint = str(raw, 'installHint', where);
  return {
    apiVersion: str(raw, 'apiVersion', where) ?? 'client.authentication.k8s.io/v1',
    command,
    args: args as string[],
    env,
    baseDir,
    ...(hint !== undefined ? { installHint: hint } : {}),
  };
}

function authOf(user: Named, where: string): { auth: KubeAuth; cert?: Buffer; key?: Buffer } {
  const b = user.body;
  if (b['auth-provider'] !== undefined) {
    throw new SpecError(
      `${where}: \`auth-provider\` credentials are not supported (client-go removed them too); use an \`exec\` plugin such as gke-gcloud-auth-plugin or kubelogin`,
    );
  }
  const cert = fileOrData(b, 'client-certificate', 'client-certificate-data', user.baseDir, where);
  const key = fileOrData(b, 'client-key', 'client-key-data', user.baseDir, where);
  if ((cert === undefined) !== (key === undefined))
    throw new SpecError(`${where}: a client certificate needs both a certificate and a key`);
  const tls = { ...(cert !== undefined ? { cert } : {}), ...(key !== undefined ? { key } : {}) };
  const token = str(b, 'token', where);
  if (token !== undefined) return { auth: { kind: 'token', token }, ...tls };
  const tokenFile = str(b, 'tokenFile', where);
  if (tokenFile !== undefined)
    return { auth: { kind: 'tokenFile', path: isAbsolute(tokenFile) ? tokenFile : join(user.baseDir, tokenFile) }, ...tls };
  const username = str(b, 'username', where);
  if (username !== undefined) return { auth: { kind: 'basic', username, password: str(b, 'password', where) ?? '' }, ...tls };
  if (b.exec !== undefined) return { auth: { kind: 'exec', exec: execPlugin(b.exec, user.baseDir, where) }, ...tls };
  return { auth: { kind: 'none' }, ...tls };
}

function checkNamespace(ns: string, from: string): string {
  if (!/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(ns))
    throw new SpecError(`expected ${from} to be a Kubernetes namespace name, got \`${ns}\``);
  return ns;
}

function checkServer(server: string, where: string): string {
  let u: URL;
  try {
    u = new URL(server);
  } catch {
    throw new SpecError(`${where}: the server \`${server}\` is not a URL`);
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new SpecError(`${where}: expected an https:// server, got \`${server}\``);
  return `${u.origin}${u.pathname.replace(/\/+$/, '')}`;
}

/** Access from the pod's service account, or undefined outside a pod. */
export function inClusterAccess(o: KubeconfigOptions = {}): ClusterAccess | undefined {
  const env = o.env ?? process.env;
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT;
  const dir = o.serviceAccountDir ?? SERVICE_ACCOUNT_DIR;
  const tokenPath = join(dir, 'token');
  if (host === undefined || host === '' || port === undefined || port === '' || !existsSync(tokenPath)) return undefined;
  const nsFile = join(dir, 'namespace');
  const podNs = existsSync(nsFile) ? readFileSync(nsFile, 'utf8').trim() : 'default';
  const caPath = join(dir, 'ca.crt');
  return {
    server: `https://${host.includes(':') ? `[${host}]` : host}:${port}`,
    namespace: checkNamespace(o.namespace ?? podNs, o.namespace !== undefined ? '--namespace' : `${nsFile}`),
    context: undefined,
    source: `in-cluster service account (${dir})`,
    tls: { insecureSkipVerify: false, ...(existsSync(caPath) ? { ca: readFileSync(caPath) } : {}) },
    auth: { kind: 'tokenFile', path: tokenPath },
  };
}

/** Resolves cluster, user and namespace like kubectl. @throws SpecError when nothing usable is configured */
export function loadClusterAccess(o: KubeconfigOptions = {}): ClusterAccess {
  const files = kubeconfigFiles(o);
  const m = mergeKubeconfigs(files);
  const contextName = o.context ?? m.currentContext;
  if (contextName === undefined) {
    // kubectl falls back to the pod's service account only when no kubeconfig names a context.
    if (m.contexts.size === 0) {
      const inCluster = inClusterAccess(o);
      if (inCluster !== undefined) return inCluster;
    }
    const tried =
      files.length > 0
        ? files.join(', ')
        : (o.env ?? process.env).KUBECONFIG
          ? `$KUBECONFIG (${(o.env ?? process.env).KUBECONFIG})`
          : '~/.kube/config';
    throw new SpecError(
      `no Kubernetes context: ${files.length === 0 ? `no kubeconfig found (looked at ${tried}) and not running in a pod` : `${tried} sets no current-context`}; pass --context or --kubeconfig`,
    );
  }
  const where0 = `kubeconfig ${files.join(', ')}`;
  const ctx = m.contexts.get(contextName);
  if (ctx === undefined) {
    const known = [...m.contexts.keys()];
    throw new SpecError(`${where0}: no context \`${contextName}\`${known.length > 0 ? ` (known: ${known.join(', ')})` : ''}`);
  }
  const clusterName = str(ctx.body, 'cluster', `${where0}, context ${contextName}`);
  const cluster = clusterName !== undefined ? m.clusters.get(clusterName) : undefined;
  if (cluster === undefined)
    throw new SpecError(`${where0}: context \`${contextName}\` refers to cluster \`${clusterName ?? ''}\`, which is not defined`);
  const userName = str(ctx.body, 'user', `${where0}, context ${contextName}`);
  const user = userName !== undefined ? m.users.get(userName) : undefined;
  if (userName !== undefined && user === undefined)
    throw new SpecError(`${where0}: context \`${contextName}\` refers to user \`${userName}\`, which is not defined`);

  const cw = `${where0}, cluster ${cluster.name}`;
  const server = str(cluster.body, 'server', cw);
  if (server === undefined) throw new SpecError(`${cw}: no \`server\``);
  if (str(cluster.body, 'proxy-url', cw) !== undefined) throw new SpecError(`${cw}: \`proxy-url\` is not supported`);
  const ca = fileOrData(cluster.body, 'certificate-authority', 'certificate-authority-data', cluster.baseDir, cw);
  const serverName = str(cluster.body, 'tls-server-name', cw);
  const { auth, cert, key } =
    user !== undefined
      ? authOf(user, `${where0}, user ${user.name}`)
      : { auth: { kind: 'none' } as KubeAuth, cert: undefined, key: undefined };
  const ctxNs = str(ctx.body, 'namespace', `${where0}, context ${contextName}`);
  return {
    server: checkServer(server, cw),
    namespace: checkNamespace(
      o.namespace ?? ctxNs ?? 'default',
      o.namespace !== undefined ? '--namespace' : `context ${contextName}'s namespace`,
    ),
    context: contextName,
    source: `${where0}, context ${contextName}`,
    tls: {
      insecureSkipVerify: cluster.body['insecure-skip-tls-verify'] === true,
      ...(ca !== undefined ? { ca } : {}),
      ...(cert !== undefined ? { cert } : {}),
      ...(key !== undefined ? { key } : {}),
      ...(serverName !== undefined ? { serverName } : {}),
    },
    auth,
  };
}
