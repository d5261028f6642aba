/**
 * A real kube-apiserver with etcd on loopback, for the apiserver test tier (npm run test:k8s)
 * and for trying `sparkinfer submit/status/cancel` by hand. Binaries come from build.sh.
 *
 * - etcd: in a temporary data dir, fsync off (it is thrown away).
 * - kube-apiserver: HTTPS with a self-signed certificate it makes itself (`--cert-dir`), one
 *   bearer token in `system:masters` (`--token-auth-file`), RBAC, a service-account key pair
 *   made here; no controller-manager, scheduler or kubelet, so nothing runs pods: tests play
 *   the operator by writing `.status`.
 * - the SparkApplication CRD of the pinned spark-operator (scripts/k8s-check/schemas.ts), installed with
 *   server-side apply and waited on until Established.
 *
 *   node scripts/k8s-apiserver/apiserver.ts     # starts, prints a kubeconfig path, runs until Ctrl-C
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, openSync, closeSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { parse as parseYaml } from 'yaml';
import { freePort } from '../../src/launch/port.ts';
import { KubeClient } from '../../src/k8s/client.ts';
import type { ClusterAccess } from '../../src/k8s/kubeconfig.ts';
import { defaultCacheDir, ensureSchemas } from '../k8s-check/schemas.ts';

const HERE = import.meta.dirname;

export interface Binaries {
  version: string;
  kubeApiserver: string;
  etcd: string;
}

/** The cached binaries of the pinned version. @throws when build.sh has not run */
export function binaries(cacheDir = defaultCacheDir()): Binaries {
  const mod = readFileSync(join(HERE, 'go.mod'), 'utf8');
  const version = /^\s*k8s\.io\/kubernetes\s+(v\S+)/m.exec(mod)?.[1];
  if (version === undefined) throw new Error(`${join(HERE, 'go.mod')} pins no k8s.io/kubernetes version`);
  const dir = join(cacheDir, 'k8s', version);
  const b = { version, kubeApiserver: join(dir, 'kube-apiserver'), etcd: join(dir, 'etcd') };
  if (!existsSync(b.kubeApiserver) || !existsSync(b.etcd))
    throw new Error(`no kube-apiserver/etcd in ${dir}: run scripts/k8s-apiserver/build.sh first`);
  return b;
}

export interface ApiserverOptions {
  /** Default: {@link binaries}. */
  binaries?: Binaries;
  /** Install the SparkApplication CRD and wait until it is Established. Default true. */
  crd?: boolean;
  /** Limit for etcd + apiserver to become ready, in ms. Default 180_000 (a loaded 2-core machine). */
  readyTimeoutMs?: number;
  /** Progress lines. Default: none. */
  log?: (line: string) => void;
}

export interface Apiserver {
  /** `https://127.0.0.1:PORT`. */
  url: string;
  /** Bearer token of a `system:masters` user. */
  token: string;
  /** The apiserver's self-signed certificate (trust anchor for clients). */
  caFile: string;
  /** Its certificate and key, reusable by a test's own TLS server (a fake kubelet). */
  certFile: string;
  keyFile: string;
  /** A kubeconfig with one context, `sparkinfer-test`, namespace `default`. */
  kubeconfig: string;
  access: ClusterAccess;
  /** A client for `namespace` (default `default`); close it yourself. */
  client(namespace?: string): KubeClient;
  workDir: string;
  apiserverLog: string;
  etcdLog: string;
  /** Stops both process groups and removes the work dir (logs are kept when `keepLogs`). */
  stop(o?: { keepLogs?: boolean }): Promise<void>;
}

function startGroup(bin: string, args: string[], logFile: string): ChildProcess {
  const fd = openSync(logFile, 'a');
  try {
    // Own process group, so stop() kills whatever the binary started too.
    return spawn(bin, args, { detached: true, stdio: ['ignore', fd, fd] });
  } finally {
    closeSync(fd);
  }
}

async function stopGroup(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null || p.pid === undefined) return;
  const exited = new Promise<void>((res) => p.once('exit', () => res()));
  const pgid = p.pid;
  try {
    process.kill(-pgid, 'SIGTERM');
  } catch {
    return;
  }
  const t = setTimeout(() => {
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }, 10_000);
  await exited;
  clearTimeout(t);
}

function tail(file: string, n = 8): string {
  try {
    return `${readFileSync(file, 'utf8').trimEnd().split('\n').slice(-n).join('\n')}\n(full log: ${file})`;
  } catch {
    return '';
  }
}

/** Polls `probe` until it returns true; fails fast when `proc` exits, or after `timeoutMs`. */
async function until(what: string, probe: () => Promise<boolean>, proc: ChildProcess, logFile: string, timeoutMs: number): Promise<void> {
  const t0 = Date.now();
  for (;;) {
    if (proc.exitCode !== null || proc.signalCode !== null)
      throw new Error(`${what}: the process exited (${proc.exitCode ?? proc.signalCode}):\n${tail(logFile)}`);
    if (await probe().catch(() => false)) return;
    if (Date.now() - t0 > timeoutMs) throw new Error(`${what}: not ready after ${timeoutMs} ms:\n${tail(logFile)}`);
    await delay(250);
  }
}

export async function startApiserver(o: ApiserverOptions = {}): Promise<Apiserver> {
  const bins = o.binaries ?? binaries();
  const log = o.log ?? (() => undefined);
  const timeoutMs = o.readyTimeoutMs ?? 180_000;
  const workDir = mkdtempSync(join(tmpdir(), 'sparkinfer-apiserver-'));
  const certDir = join(workDir, 'certs');
  mkdirSync(certDir);
  const etcdLog = join(workDir, 'etcd.log');
  const apiserverLog = join(workDir, 'kube-apiserver.log');
  const procs: ChildProcess[] = [];
  const killAll = (): void => {
    for (const p of procs)
      if (p.pid !== undefined && p.exitCode === null)
        try {
          process.kill(-p.pid, 'SIGKILL');
        } catch {
          /* gone */
        }
  };
  // A test runner that exits must not leave an apiserver behind ...
  process.once('exit', killAll);
  // ... nor one that is killed (SIGTERM from a timeout, SIGKILL): a watchdog outlives us by at
  // most 2 s. It is told the process groups as they start, through its stdin.
  const watchdog = spawn(
    'bash',
    [
      '-c',
      `pids=""; while kill -0 ${process.pid} 2>/dev/null; do if read -r -t 2 p; then pids="$pids $p"; elif [ $? -le 128 ]; then sleep 2; fi; done; for p in $pids; do kill -9 -- -$p 2>/dev/null; done; rm -rf '${workDir}'`,
    ],
    {
      detached: true,
      stdio: ['pipe', 'ignore', 'ignore'],
    },
  );
  watchdog.unref();
  watchdog.stdin?.on('error', () => undefined);
  const track = (p: ChildProcess): ChildProcess => {
    procs.push(p);
    watchdog.stdin?.write(`${p.pid}\n`);
    return p;
  };
  const stop = async (so: { keepLogs?: boolean } = {}): Promise<void> => {
    process.removeListener('exit', killAll);
    for (const p of procs.reverse()) await stopGroup(p);
    if (watchdog.pid !== undefined)
      try {
        process.kill(-watchdog.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    watchdog.stdin?.destroy();
    if (so.keepLogs !== true) rmSync(workDir, { recursive: true, force: true });
  };
  try {
    const [etcdPort, peerPort, apiPort] = [await freePort(), await freePort(), await freePort()];
    const etcdUrl = `http://127.0.0.1:${etcdPort}`;
    const t0 = Date.now();
    const etcd = startGroup(
      bins.etcd,
      [
        '--name=sparkinfer-test',
        `--data-dir=${join(workDir, 'etcd')}`,
        `--listen-client-urls=${etcdUrl}`,
        `--advertise-client-urls=${etcdUrl}`,
        `--listen-peer-urls=http://127.0.0.1:${peerPort}`,
        `--initial-advertise-peer-urls=http://127.0.0.1:${peerPort}`,
        `--initial-cluster=sparkinfer-test=http://127.0.0.1:${peerPort}`,
        '--unsafe-no-fsync',
        '--log-level=warn',
      ],
      etcdLog,
    );
    track(etcd);
    await until('etcd', async () => (await fetch(`${etcdUrl}/health`)).ok, etcd, etcdLog, timeoutMs);
    log(`etcd ready in ${Date.now() - t0} ms`);

    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    writeFileSync(join(workDir, 'sa.key'), privateKey.export({ type: 'pkcs8', format: 'pem' }));
    writeFileSync(join(workDir, 'sa.pub'), publicKey.export({ type: 'spki', format: 'pem' }));
    const token = randomBytes(24).toString('hex');
    writeFileSync(join(workDir, 'tokens.csv'), `${token},sparkinfer-test,sparkinfer-test-uid,"system:masters"\n`, { mode: 0o600 });

    const t1 = Date.now();
    const api = startGroup(
      bins.kubeApiserver,
      [
        `--etcd-servers=${etcdUrl}`,
        '--bind-address=127.0.0.1',
        '--advertise-address=127.0.0.1',
        `--secure-port=${apiPort}`,
        `--cert-dir=${certDir}`,
        `--token-auth-file=${join(workDir, 'tokens.csv')}`,
        '--authorization-mode=RBAC',
        `--service-account-key-file=${join(workDir, 'sa.pub')}`,
        `--service-account-signing-key-file=${join(workDir, 'sa.key')}`,
        '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
        '--service-cluster-ip-range=10.96.0.0/16',
        // The `kubernetes` Service's endpoints may not be loopback; nothing here needs them.
        '--endpoint-reconciler-type=none',
        // Pod logs go through the apiserver to the node's kubelet; tests stand one in by address.
        '--kubelet-preferred-address-types=InternalIP',
        '--profiling=false',
        '--v=1',
      ],
      apiserverLog,
    );
    track(api);
    const url = `https://127.0.0.1:${apiPort}`;
    const caFile = join(certDir, 'apiserver.crt');
    const access = (): ClusterAccess => ({
      server: url,
      namespace: 'default',
      context: 'sparkinfer-test',
      source: `test apiserver ${url}`,
      tls: { insecureSkipVerify: false, ca: readFileSync(caFile) },
      auth: { kind: 'token', token },
    });
    await until(
      'kube-apiserver',
      async () => {
        if (!existsSync(caFile)) return false;
        const c = new KubeClient(access(), { attempts: 1, requestTimeoutMs: 5000 });
        try {
          for await (const line of c.lines('/readyz', { accept: '*/*' })) if (line === 'ok') return true;
          return false;
        } finally {
          await c.close();
        }
      },
      api,
      apiserverLog,
      timeoutMs,
    );
    log(`kube-apiserver ${bins.version} ready in ${Date.now() - t1} ms`);

    const kubeconfig = join(workDir, 'kubeconfig');
    writeFileSync(
      kubeconfig,
      [
        'apiVersion: v1',
        'kind: Config',
        'clusters:',
        `- name: sparkinfer-test`,
        `  cluster: {server: "${url}", certificate-authority: "${caFile}"}`,
        'users:',
        `- name: sparkinfer-test`,
        `  user: {token: "${token}"}`,
        'contexts:',
        `- name: sparkinfer-test`,
        '  context: {cluster: sparkinfer-test, user: sparkinfer-test, namespace: default}',
        'current-context: sparkinfer-test',
        '',
      ].join('\n'),
      { mode: 0o600 },
    );

    const server: Apiserver = {
      url,
      token,
      caFile,
      certFile: caFile,
      keyFile: join(certDir, 'apiserver.key'),
      kubeconfig,
      access: access(),
      workDir,
      apiserverLog,
      etcdLog,
      stop,
      client: (namespace = 'default') => new KubeClient({ ...access(), namespace }),
    };
    if (o.crd !== false) {
      const t2 = Date.now();
      await installCrd(server, timeoutMs);
      log(`SparkApplication CRD established in ${Date.now() - t2} ms`);
    }
    return server;
  } catch (err) {
    await stop({ keepLogs: true });
    throw err;
  }
}

/** Applies the pinned SparkApplication CRD and waits until the apiserver serves it. */
export async function installCrd(server: Apiserver, timeoutMs = 60_000): Promise<void> {
  const files = await ensureSchemas();
  const crd = parseYaml(readFileSync(files.crdYaml, 'utf8')) as { apiVersion: string; kind: string; metadata: { name: string } };
  const c = server.client();
  try {
    await c.apply(crd);
    const t0 = Date.now();
    for (;;) {
      const got = await c.get<{ status?: { conditions?: { type: string; status: string }[] } }>({
        apiVersion: crd.apiVersion,
        kind: crd.kind,
        name: crd.metadata.name,
      });
      if (got.status?.conditions?.some((x) => x.type === 'Established' && x.status === 'True')) break;
      if (Date.now() - t0 > timeoutMs) throw new Error(`CRD ${crd.metadata.name} not Established after ${timeoutMs} ms`);
      await delay(200);
    }
  } finally {
    await c.close();
  }
}

if (import.meta.main) {
  const s = await startApiserver({ log: (l) => process.stderr.write(`apiserver: ${l}\n`) });
  process.stdout.write(`${JSON.stringify({ url: s.url, kubeconfig: s.kubeconfig, logs: s.workDir })}\n`);
  process.stderr.write(`KUBECONFIG=${s.kubeconfig}; Ctrl-C stops it\n`);
  await new Promise<void>((res) => process.once('SIGINT', () => res()));
  await s.stop();
}
