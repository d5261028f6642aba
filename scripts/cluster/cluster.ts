/**
 * `npm run cluster -- up|down|status`: a one-node Kubernetes cluster on this machine, built only
 * from package registries (scripts/cluster/build.sh, images.sh, deps.sh), for the cluster test
 * tier (npm run test:cluster) and for trying sparkinfer's `--target k8s` by hand.
 *
 * - `up` is idempotent: it starts what is not running, in dependency order, waits for each piece
 *   to be ready (bounded), and prints `KUBECONFIG=...`. Needs root (containerd, kubelet, iptables).
 * - `down` stops every process `up` started (by the pids it recorded), kills the containers,
 *   unmounts what is mounted under the state dir, deletes the pods' network namespaces, and
 *   removes the bridge, routes, iptables chains and sysctl changes it made.
 *   `up --until STEP` stops after one of {@link UP_STEPS} (to bring a cluster up layer by layer).
 * - `status` prints one JSON line: which processes run, whether the node is Ready.
 *
 * What runs where and why: docs/kubernetes.md, "Try it on a local cluster". Configuration and
 * the network plan: scripts/cluster/config.ts (pure, unit-tested).
 */
import { spawn, spawnSync } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { chownSync, closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { parse as parseYaml } from 'yaml';
import { KubeClient } from '../../src/k8s/client.ts';
import type { ClusterAccess } from '../../src/k8s/kubeconfig.ts';
import * as C from './config.ts';

const HERE = import.meta.dirname;
const ROOT = join(HERE, '..', '..');
const CACHE = process.env.SPARKINFER_CACHE ?? join(homedir(), '.cache', 'sparkinfer');
const STATE = process.env.SPARKINFER_CLUSTER_DIR ?? '/var/lib/sparkinfer-cluster';
/** buildah's storage (scripts/cluster/images.sh). */
const BUILDAH_DIR = join(CACHE, 'cluster', 'buildah');
const OPERATOR_VERSION = 'v2.5.2';

const log = (line: string): void => {
  process.stderr.write(`cluster: ${line}\n`);
};

/** Runs argv (never a shell); throws with its stderr unless `ok` says the exit status is fine. */
function run(
  argv: string[],
  o: { ok?: (rc: number) => boolean; input?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): { rc: number; out: string; err: string } {
  const [cmd = '', ...args] = argv;
  const r = spawnSync(cmd, args, { encoding: 'utf8', input: o.input, env: o.env ?? process.env, timeout: o.timeoutMs ?? 600_000 });
  const rc = r.status ?? 1;
  if (!(o.ok ?? ((c) => c === 0))(rc))
    throw new Error(`${argv.join(' ')} exited ${rc}: ${(r.stderr || r.stdout || String(r.error ?? '')).trim().slice(-2000)}`);
  return { rc, out: r.stdout ?? '', err: r.stderr ?? '' };
}
const tryRun = (argv: string[]): boolean => run(argv, { ok: () => true }).rc === 0;

/** The binaries and paths this machine has (after build.sh / setup.sh). */
function layout(): C.Layout {
  const mod = readFileSync(join(ROOT, 'scripts', 'k8s-apiserver', 'go.mod'), 'utf8');
  const k8s = /^\s*k8s\.io\/kubernetes\s+(v\S+)/m.exec(mod)?.[1];
  const coredns = /^\s*require\s+github\.com\/coredns\/coredns\s+(v\S+)/m.exec(readFileSync(join(HERE, 'coredns.go.mod'), 'utf8'))?.[1];
  if (k8s === undefined || coredns === undefined) throw new Error('cannot read the pinned versions from the wrapper go.mod files');
  const venvPy = join(ROOT, '.venv', 'bin', 'python');
  const sparkHome = run([venvPy, '-c', 'import os, pyspark; print(os.path.dirname(pyspark.__file__))']).out.trim();
  const java = run(['bash', '-c', 'readlink -f "$(command -v java)"'], { ok: () => true }).out.trim();
  return {
    stateDir: STATE,
    k8sBinDir: join(CACHE, 'k8s', k8s),
    corednsBin: join(CACHE, 'cluster', `coredns-${coredns}`, 'coredns'),
    operatorBin: join(CACHE, 'cluster', `spark-operator-${OPERATOR_VERSION}`, 'spark-operator'),
    cniBinDir: '/usr/lib/cni',
    sparkHome,
    ...(java !== '' ? { javaHome: join(java, '..', '..') } : {}),
  };
}

// ------------------------------------------------------------------ processes

interface PidRecord {
  pid: number;
  start: string;
  argv0: string;
}

/** The process start time from /proc (field 22), which tells a recycled pid from ours. */
function startTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

function pidFile(name: string): string {
  return join(C.paths(layout0()).pids, `${name}.json`);
}
let cachedLayout: C.Layout | undefined;
function layout0(): C.Layout {
  return (cachedLayout ??= layout());
}

function running(name: string): PidRecord | undefined {
  try {
    const rec = JSON.parse(readFileSync(pidFile(name), 'utf8')) as PidRecord;
    return startTime(rec.pid) === rec.start ? rec : undefined;
  } catch {
    return undefined;
  }
}

function startProcess(name: string, argv: string[], env: Record<string, string> = {}): PidRecord {
  const p = C.paths(layout0());
  const fd = openSync(join(p.logs, `${name}.log`), 'a');
  try {
    const [bin = '', ...args] = argv;
    const child = spawn(bin, args, { detached: true, stdio: ['ignore', fd, fd], env: { ...process.env, ...env } });
    if (child.pid === undefined) throw new Error(`${name}: could not start ${bin}`);
    child.unref();
    const rec: PidRecord = { pid: child.pid, start: startTime(child.pid) ?? '', argv0: bin };
    writeFileSync(pidFile(name), JSON.stringify(rec));
    return rec;
  } finally {
    closeSync(fd);
  }
}

/** SIGTERM to the process group, SIGKILL after `graceMs`; bounded. */
async function stopProcess(name: string, graceMs = 10_000): Promise<void> {
  const rec = running(name);
  if (rec !== undefined) {
    const kill = (sig: NodeJS.Signals) => {
      try {
        process.kill(-rec.pid, sig);
      } catch {
        try {
          process.kill(rec.pid, sig);
        } catch {
          /* gone */
        }
      }
    };
    kill('SIGTERM');
    const t0 = Date.now();
    while (startTime(rec.pid) === rec.start && Date.now() - t0 < graceMs) await delay(100);
    if (startTime(rec.pid) === rec.start) kill('SIGKILL');
    for (let i = 0; i < 50 && startTime(rec.pid) === rec.start; i++) await delay(100);
    log(`stopped ${name} (pid ${rec.pid})`);
  }
  rmSync(pidFile(name), { force: true });
}

function tail(name: string, n = 12): string {
  try {
    const f = join(C.paths(layout0()).logs, `${name}.log`);
    return `${readFileSync(f, 'utf8').trimEnd().split('\n').slice(-n).join('\n')}\n(full log: ${f})`;
  } catch {
    return '';
  }
}

/** Polls `probe` until true; fails when `name` died, or after `timeoutMs`. */
async function until(name: string, what: string, probe: () => Promise<boolean> | boolean, timeoutMs: number): Promise<void> {
  const t0 = Date.now();
  for (;;) {
    if (
      await Promise.resolve()
        .then(probe)
        .catch(() => false)
    )
      return;
    if (running(name) === undefined) throw new Error(`${name} exited before ${what}:\n${tail(name)}`);
    if (Date.now() - t0 > timeoutMs) throw new Error(`${name}: ${what} not reached after ${timeoutMs} ms:\n${tail(name)}`);
    await delay(250);
  }
}

// ------------------------------------------------------------------ network

function ensureNetwork(): void {
  if (!tryRun(['ip', 'link', 'show', C.BRIDGE])) {
    run(['ip', 'link', 'add', C.BRIDGE, 'type', 'bridge']);
    log(`created bridge ${C.BRIDGE}`);
  }
  run(['ip', 'addr', 'replace', `${C.NODE_IP}/24`, 'dev', C.BRIDGE]);
  run(['ip', 'link', 'set', C.BRIDGE, 'up']);
  for (const r of C.safetyRoutes()) run(['ip', ...r]);
  for (const s of C.safetyRules()) {
    // Rebuilt each time: flush our chain, refill it, jump to it once, first.
    if (!tryRun(['iptables', '-w', '-n', '-L', s.chain])) run(['iptables', '-w', '-N', s.chain]);
    run(['iptables', '-w', '-F', s.chain]);
    for (const rule of s.rules) run(['iptables', '-w', '-A', s.chain, ...rule]);
    if (!tryRun(['iptables', '-w', '-C', s.parent, '-j', s.chain])) run(['iptables', '-w', '-I', s.parent, '1', '-j', s.chain]);
  }
  // Routed traffic between pods and Services (kube-proxy's DNAT) needs forwarding and bridged
  // packets to pass iptables; the SPARKINFER-FORWARD chain keeps it on the bridge.
  const sysctls: [string, string][] = [
    ['net.ipv4.ip_forward', '1'],
    ['net.bridge.bridge-nf-call-iptables', '1'],
  ];
  const origFile = join(STATE, 'sysctl.orig.json');
  if (!existsSync(origFile)) {
    const orig = Object.fromEntries(sysctls.map(([k]) => [k, run(['sysctl', '-n', k]).out.trim()]));
    writeFileSync(origFile, JSON.stringify(orig));
  }
  for (const [k, v] of sysctls) run(['sysctl', '-q', '-w', `${k}=${v}`]);
}

function removeNetwork(): void {
  // kube-proxy's and kubelet's own chains, then ours.
  for (const table of ['filter', 'nat', 'mangle']) {
    const rules = run(['iptables-save', '-t', table], { ok: () => true }).out.split('\n');
    for (const r of rules) {
      const [, chain, rule] = /^-A (\S+) (.*-j (KUBE-\S+|SPARKINFER-\S+).*)$/.exec(r) ?? [];
      if (chain !== undefined && rule !== undefined && !/^(KUBE-|SPARKINFER-)/.test(chain))
        run(['iptables', '-w', '-t', table, '-D', chain, ...splitRule(rule)], { ok: () => true });
    }
    const chains = rules.map((r) => /^:((?:KUBE-|SPARKINFER-)\S+)/.exec(r)?.[1]).filter((x): x is string => x !== undefined);
    for (const ch of chains) run(['iptables', '-w', '-t', table, '-F', ch], { ok: () => true });
    for (const ch of chains) run(['iptables', '-w', '-t', table, '-X', ch], { ok: () => true });
  }
  for (const [, , type = '', range = ''] of C.safetyRoutes()) run(['ip', 'route', 'del', type, range], { ok: () => true });
  if (tryRun(['ip', 'link', 'show', C.BRIDGE])) run(['ip', 'link', 'del', C.BRIDGE]);
  const origFile = join(STATE, 'sysctl.orig.json');
  if (existsSync(origFile)) {
    const orig = JSON.parse(readFileSync(origFile, 'utf8')) as Record<string, string>;
    for (const [k, v] of Object.entries(orig)) run(['sysctl', '-q', '-w', `${k}=${v}`], { ok: () => true });
    rmSync(origFile);
  }
}

/** iptables-save prints quoted arguments (comments); split them back into an argv. */
function splitRule(s: string): string[] {
  const out: string[] = [];
  for (const m of s.matchAll(/"((?:[^"\\]|\\.)*)"|(\S+)/g)) out.push(m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : (m[2] ?? ''));
  return out;
}

/** Network namespaces whose interfaces hold a pod address of ours (made by containerd's CNI calls). */
function podNetns(): string[] {
  const dir = '/run/netns';
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((n) => {
    const r = run(['ip', '-n', n, '-4', '-o', 'addr', 'show'], { ok: () => true });
    return r.out.includes(' 10.213.');
  });
}

/** Mount points under the state dir and buildah's storage (an interrupted image build's), deepest first. */
function ourMounts(): string[] {
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter((m): m is string => m !== undefined);
  const under = (m: string, dir: string) => m === dir || m.startsWith(`${dir}/`);
  return mounts.filter((m) => under(m, STATE) || under(m, BUILDAH_DIR)).sort((a, b) => b.length - a.length);
}

// ------------------------------------------------------------------ pki

interface Pki {
  caCert: string;
  caKey: string;
  apiCert: string;
  apiKey: string;
  kubeletClientCert: string;
  kubeletClientKey: string;
  saKey: string;
  saPub: string;
  token: string;
}

function ensurePki(l: C.Layout): Pki {
  const dir = C.paths(l).pki;
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const f = (n: string) => join(dir, n);
  const pki: Pki = {
    caCert: f('ca.crt'),
    caKey: f('ca.key'),
    apiCert: f('apiserver.crt'),
    apiKey: f('apiserver.key'),
    kubeletClientCert: f('apiserver-kubelet-client.crt'),
    kubeletClientKey: f('apiserver-kubelet-client.key'),
    saKey: f('sa.key'),
    saPub: f('sa.pub'),
    token: '',
  };
  if (!existsSync(pki.caCert)) {
    run([
      'openssl',
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      pki.caKey,
      '-out',
      pki.caCert,
      '-days',
      '365',
      '-subj',
      '/CN=sparkinfer-local-ca',
    ]);
  }
  const leaf = (cert: string, key: string, subj: string, ext: string) => {
    if (existsSync(cert)) return;
    const csr = `${cert}.csr`;
    const extFile = `${cert}.ext`;
    writeFileSync(extFile, ext);
    run(['openssl', 'req', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', csr, '-subj', subj]);
    run([
      'openssl',
      'x509',
      '-req',
      '-in',
      csr,
      '-CA',
      pki.caCert,
      '-CAkey',
      pki.caKey,
      '-CAcreateserial',
      '-out',
      cert,
      '-days',
      '365',
      '-extfile',
      extFile,
    ]);
    rmSync(csr);
    rmSync(extFile);
  };
  const sans = [
    'DNS:kubernetes',
    'DNS:kubernetes.default',
    'DNS:kubernetes.default.svc',
    `DNS:kubernetes.default.svc.${C.CLUSTER_DOMAIN}`,
    'DNS:localhost',
    `IP:${C.NODE_IP}`,
    `IP:${C.KUBERNETES_SERVICE_IP}`,
    'IP:127.0.0.1',
  ];
  leaf(pki.apiCert, pki.apiKey, '/CN=kube-apiserver', `subjectAltName=${sans.join(',')}\nextendedKeyUsage=serverAuth\n`);
  // The apiserver's identity towards the kubelet (pod logs, exec): a system:masters client.
  leaf(pki.kubeletClientCert, pki.kubeletClientKey, '/O=system:masters/CN=kube-apiserver-kubelet-client', 'extendedKeyUsage=clientAuth\n');
  if (!existsSync(pki.saKey)) {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    writeFileSync(pki.saKey, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    writeFileSync(pki.saPub, publicKey.export({ type: 'spki', format: 'pem' }));
  }
  const tokens = C.paths(l).tokens;
  if (!existsSync(tokens))
    writeFileSync(tokens, `${randomBytes(24).toString('hex')},sparkinfer-admin,sparkinfer-admin-uid,"system:masters"\n`, { mode: 0o600 });
  pki.token = readFileSync(tokens, 'utf8').split(',')[0] ?? '';
  return pki;
}

function access(l: C.Layout, pki: Pki): ClusterAccess {
  return {
    server: C.apiserverUrl(),
    namespace: C.JOB_NAMESPACE,
    context: 'sparkinfer-local',
    source: `local cluster ${C.paths(l).kubeconfig}`,
    tls: { insecureSkipVerify: false, ca: readFileSync(pki.caCert) },
    auth: { kind: 'token', token: pki.token },
  };
}

// ------------------------------------------------------------------ up

/** The CRD files of the pinned spark-operator module (downloaded, or already in Go's module cache). */
function operatorCrds(): string[] {
  const mod = `github.com/kubeflow/spark-operator/v2@${OPERATOR_VERSION}`;
  const info = JSON.parse(
    run(['go', 'mod', 'download', '-json', mod], { env: { ...process.env, GOFLAGS: '-mod=mod' }, timeoutMs: 600_000 }).out,
  ) as { Dir?: string };
  if (info.Dir === undefined) throw new Error(`go mod download ${mod} gave no directory`);
  const dir = join(info.Dir, 'config', 'crd', 'bases');
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .map((f) => join(dir, f));
  if (!files.some((f) => f.endsWith('sparkoperator.k8s.io_sparkapplications.yaml'))) throw new Error(`${dir} has no SparkApplication CRD`);
  return files;
}

function ctr(l: C.Layout, ...args: string[]): string[] {
  return ['ctr', '--address', C.paths(l).containerdSock, '-n', 'k8s.io', ...args];
}

async function importImages(l: C.Layout): Promise<void> {
  const dir = join(CACHE, 'cluster', 'images');
  const doneDir = join(STATE, 'imported');
  mkdirSync(doneDir, { recursive: true });
  // The optional vLLM image (images.sh vllm) goes in once it was built.
  for (const name of ['pause', 'spark', 'engine', ...(existsSync(join(dir, 'vllm.stamp')) ? ['vllm'] : [])]) {
    const tar = join(dir, `${name}.tar`);
    const stamp = readFileSync(join(dir, `${name}.stamp`), 'utf8').trim();
    const done = join(doneDir, name);
    if (existsSync(done) && readFileSync(done, 'utf8') === stamp) continue;
    const t0 = Date.now();
    run(ctr(l, 'images', 'import', '--no-unpack', tar), { timeoutMs: 600_000 });
    writeFileSync(done, stamp);
    log(`imported ${name} image in ${Date.now() - t0} ms`);
  }
}

async function applyAll(client: KubeClient, objects: object[]): Promise<void> {
  for (const o of objects) await client.apply(o as Parameters<KubeClient['apply']>[0]);
}

/** Builds (cached) the Go binaries `components` of scripts/cluster/build.sh. */
function build(...components: string[]): void {
  const t = Date.now();
  run(['bash', join(HERE, 'build.sh'), ...components], { timeoutMs: 4 * 3600_000 });
  log(`${components.join(', ')}: binaries ready in ${Date.now() - t} ms`);
}

/** The steps of `up`, in order; `up --until NAME` stops after NAME (to debug one layer). */
export const UP_STEPS = [
  'images',
  'network',
  'containerd',
  'etcd',
  'kube-apiserver',
  'objects',
  'kube-controller-manager',
  'kube-scheduler',
  'kubelet',
  'kube-proxy',
  'coredns',
  'operator-webhook',
  'operator-controller',
] as const;

async function up(lastStep: string = UP_STEPS[UP_STEPS.length - 1] ?? ''): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('the local cluster needs root (containerd, kubelet, iptables)');
  if (!(UP_STEPS as readonly string[]).includes(lastStep))
    throw new Error(`--until: expected one of ${UP_STEPS.join(', ')}, got \`${lastStep}\``);
  const last = UP_STEPS.indexOf(lastStep as (typeof UP_STEPS)[number]);
  const want = (step: (typeof UP_STEPS)[number]) => UP_STEPS.indexOf(step) <= last;
  const t0 = Date.now();
  run(['bash', join(HERE, 'deps.sh')], { timeoutMs: 600_000 });
  const l = layout0();
  const p = C.paths(l);
  for (const d of [p.logs, p.pids, p.cniConfDir, p.cniIpamDir, p.kubeletRoot, p.webhookCerts, join(STATE, 'containerd')])
    mkdirSync(d, { recursive: true });
  const pki = ensurePki(l);
  // Only rewritten when changed: kube-proxy (and others) exit when their config file is written to.
  const put = (file: string, text: string, mode?: number) => {
    if (existsSync(file) && readFileSync(file, 'utf8') === text) return;
    writeFileSync(file, text, mode !== undefined ? { mode } : {});
  };
  put(p.containerdConfig, C.containerdConfig(l));
  put(join(p.cniConfDir, '10-sparkinfer.conflist'), `${JSON.stringify(C.cniConfig(l), null, 2)}\n`);
  const kubeletCfg = C.kubeletConfig(l) as { authentication: { x509: { clientCAFile?: string } } };
  kubeletCfg.authentication.x509.clientCAFile = pki.caCert;
  put(p.kubeletConfig, JSON.stringify(kubeletCfg, null, 2));
  put(p.kubeProxyConfig, JSON.stringify(C.kubeProxyConfig(l), null, 2));
  put(p.corefile, C.corefile(l));
  put(p.resolvConf, C.hostResolvConf());
  put(p.kubeconfig, C.kubeconfig(pki.token, pki.caCert), 0o600);
  const cmds = C.commands(l, pki);
  const cmdOf = (name: string): string[] => {
    const argv = cmds[name];
    if (argv === undefined) throw new Error(`no command for ${name} (scripts/cluster/config.ts commands)`);
    return argv;
  };
  cmdOf('kube-apiserver').push(`--kubelet-client-certificate=${pki.kubeletClientCert}`, `--kubelet-client-key=${pki.kubeletClientKey}`);

  const ensure = async (name: string, ready: () => Promise<boolean> | boolean, timeoutMs: number, env?: Record<string, string>) => {
    const t = Date.now();
    if (running(name) === undefined) startProcess(name, cmdOf(name), env);
    await until(name, 'ready', ready, timeoutMs);
    log(`${name} ready in ${Date.now() - t} ms`);
  };

  if (want('images')) {
    const t = Date.now();
    run(['bash', join(HERE, 'images.sh')], { timeoutMs: 3600_000 });
    log(`images ready in ${Date.now() - t} ms`);
  }
  if (want('network')) ensureNetwork();
  if (want('containerd')) {
    await ensure('containerd', () => tryRun(ctr(l, 'version')), 60_000);
    await importImages(l);
  }
  if (want('etcd')) {
    build('apiserver');
    await ensure('etcd', async () => (await fetch(`${C.ETCD_CLIENT}/health`)).ok, 120_000);
  }
  const client = new KubeClient(access(l, pki), { attempts: 1, requestTimeoutMs: 5000 });
  try {
    if (want('kube-apiserver')) {
      await ensure(
        'kube-apiserver',
        async () => {
          for await (const line of client.lines('/readyz', { accept: '*/*' })) if (line === 'ok') return true;
          return false;
        },
        180_000,
      );
    }
    if (want('objects')) {
      for (const claim of [C.RUNS_CLAIM, C.MODELS_CLAIM]) {
        const dir = join(p.volumes, claim);
        mkdirSync(dir, { recursive: true, mode: 0o775 });
        chownSync(dir, C.SPARK_UID, C.SPARK_UID);
      }
      await applyAll(client, C.clusterObjects(l));
      // Every CRD the operator watches, from the module its binary is built from (Go checks its hash).
      for (const file of operatorCrds()) await client.apply(parseYaml(readFileSync(file, 'utf8')) as Parameters<KubeClient['apply']>[0]);
      await applyAll(client, C.webhookConfigurations());
    }
    if (want('kube-controller-manager')) {
      build('kube-controller-manager');
      await ensure('kube-controller-manager', () => tryRun(['curl', '-sfk', 'https://127.0.0.1:10257/healthz']), 120_000);
    }
    if (want('kube-scheduler')) {
      build('kube-scheduler');
      await ensure('kube-scheduler', () => tryRun(['curl', '-sfk', 'https://127.0.0.1:10259/healthz']), 120_000);
    }
    if (want('kubelet')) {
      build('kubelet');
      await ensure(
        'kubelet',
        async () => {
          const node = await client.find<{ status?: { conditions?: { type: string; status: string }[] } }>({
            apiVersion: 'v1',
            kind: 'Node',
            name: C.NODE_NAME,
          });
          return node?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
        },
        180_000,
      );
    }
    if (want('kube-proxy')) {
      build('kube-proxy');
      await ensure('kube-proxy', () => tryRun(['curl', '-sf', 'http://127.0.0.1:10256/healthz']), 120_000);
    }
    if (want('coredns')) {
      build('coredns');
      await ensure('coredns', () => tryRun(['bash', '-c', `exec 3<>/dev/tcp/${C.NODE_IP}/53`]), 60_000);
    }
    const opEnv = C.operatorEnv(l);
    if (want('operator-webhook')) {
      build('spark-operator');
      await ensure('operator-webhook', () => tryRun(['curl', '-sf', 'http://127.0.0.1:8091/readyz']), 120_000, opEnv);
    }
    if (want('operator-controller'))
      await ensure('operator-controller', () => tryRun(['curl', '-sf', 'http://127.0.0.1:8092/readyz']), 120_000, opEnv);
  } finally {
    await client.close();
  }
  log(`up (through ${lastStep}) in ${Date.now() - t0} ms`);
  process.stdout.write(`KUBECONFIG=${p.kubeconfig}\n`);
}

// ------------------------------------------------------------------ down

const STOP_ORDER = [
  'operator-controller',
  'operator-webhook',
  'coredns',
  'kube-proxy',
  'kubelet',
  'kube-scheduler',
  'kube-controller-manager',
  'kube-apiserver',
  'etcd',
];

async function down(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('the local cluster needs root to stop');
  const l = layout0();
  const p = C.paths(l);
  for (const name of STOP_ORDER) await stopProcess(name);
  if (existsSync(join(l.k8sBinDir, 'kube-proxy'))) run([join(l.k8sBinDir, 'kube-proxy'), '--cleanup'], { ok: () => true });
  // Every container and sandbox: kill the tasks, then containerd, then what outlived it.
  if (running('containerd') !== undefined) {
    const tasks = run(ctr(l, 'tasks', 'ls', '-q'), { ok: () => true })
      .out.split('\n')
      .filter(Boolean);
    for (const t of tasks) run(ctr(l, 'tasks', 'kill', '-s', 'SIGKILL', t), { ok: () => true });
    for (let i = 0; i < 50 && run(ctr(l, 'tasks', 'ls', '-q'), { ok: () => true }).out.trim() !== '' && tasks.length > 0; i++) {
      for (const t of tasks) run(ctr(l, 'tasks', 'rm', '-f', t), { ok: () => true });
      await delay(200);
    }
    for (const c of run(ctr(l, 'containers', 'ls', '-q'), { ok: () => true })
      .out.split('\n')
      .filter(Boolean))
      run(ctr(l, 'containers', 'rm', c), { ok: () => true });
  }
  await stopProcess('containerd');
  // containerd's shims outlive it by design; ours name our socket.
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    let cmd = '';
    try {
      cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    } catch {
      continue;
    }
    if (cmd.includes('containerd-shim') && cmd.includes(p.containerdSock)) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  }
  // containerd 1.6 keeps shim sockets and fifos in /run/containerd whatever its state dir; with no
  // containerd left running they are all ours (no other containerd ran), so they go too.
  const otherContainerd = readdirSync('/proc').some((d) => {
    try {
      return /^\d+$/.test(d) && readFileSync(`/proc/${d}/comm`, 'utf8').trim() === 'containerd';
    } catch {
      return false;
    }
  });
  if (!otherContainerd) {
    for (const d of ['s', 'fifo', 'runc']) rmSync(join('/run/containerd', d), { recursive: true, force: true });
    try {
      if (readdirSync('/run/containerd').length === 0) rmSync('/run/containerd', { recursive: true });
    } catch {
      /* absent */
    }
  }
  for (const ns of podNetns()) run(['ip', 'netns', 'delete', ns], { ok: () => true });
  for (let i = 0; i < 3; i++) for (const m of ourMounts()) run(['umount', m], { ok: () => true });
  for (const m of ourMounts()) run(['umount', '-l', m], { ok: () => true });
  removeNetwork();
  // Throw away cluster state, keep images (containerd's content store), PKI and logs.
  for (const d of [
    p.etcdData,
    p.kubeletRoot,
    p.cniIpamDir,
    p.containerdState,
    join(p.containerdRoot, 'io.containerd.grpc.v1.cri'),
    p.webhookCerts,
  ])
    rmSync(d, { recursive: true, force: true });
  log('down');
}

// ------------------------------------------------------------------ status

function status(): void {
  const names = ['containerd', ...STOP_ORDER.slice().reverse()];
  const procs = Object.fromEntries(names.map((n) => [n, running(n)?.pid ?? null]));
  process.stdout.write(
    `${JSON.stringify({ state_dir: STATE, kubeconfig: C.paths(layout0()).kubeconfig, processes: procs, bridge: tryRun(['ip', 'link', 'show', C.BRIDGE]) })}\n`,
  );
}

if (import.meta.main) {
  const verb = process.argv[2];
  try {
    if (verb === 'up') await up(process.argv[3] === '--until' ? process.argv[4] : undefined);
    else if (verb === 'down') await down();
    else if (verb === 'status') status();
    else {
      process.stderr.write('usage: npm run cluster -- up|down|status\n');
      process.exit(2);
    }
  } catch (err) {
    process.stderr.write(`cluster ${verb}: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  }
}
