/**
 * The local cluster's configuration (scripts/cluster/config.ts), checked without starting
 * anything: the network plan keeps every pod and Service packet on this machine, every listener
 * binds loopback or the node's bridge address, and the runtime settings this machine needs
 * (cgroupfs, cgroup v1, our pause image, Debian's CNI plugins) are the ones written.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as C from '../../scripts/cluster/config.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const L: C.Layout = {
  stateDir: '/var/lib/sparkinfer-cluster',
  k8sBinDir: '/cache/k8s/v1.37.2',
  corednsBin: '/cache/coredns',
  operatorBin: '/cache/spark-operator',
  cniBinDir: '/usr/lib/cni',
  sparkHome: '/venv/pyspark',
  javaHome: '/usr/lib/jvm/java-17',
};

const toInt = (ip: string): number => ip.split('.').reduce((a, o) => a * 256 + Number(o), 0);
/** Whether CIDR `inner` lies inside CIDR `outer`. */
function within(inner: string, outer: string): boolean {
  const [ia, ib] = inner.split('/') as [string, string];
  const [oa, ob] = outer.split('/') as [string, string];
  if (Number(ib) < Number(ob)) return false;
  const mask = Number(ob) === 0 ? 0 : (~0 << (32 - Number(ob))) >>> 0;
  return (toInt(ia) & mask) >>> 0 === (toInt(oa) & mask) >>> 0;
}

test('within() is a real containment check', () => {
  assert.ok(within('10.213.0.0/24', '10.213.0.0/16'));
  assert.ok(!within('10.214.0.0/24', '10.213.0.0/16'));
  assert.ok(!within('10.0.0.0/8', '10.213.0.0/16'));
});

test('pod and Service ranges are private, disjoint, and each has a route that keeps it on the machine', () => {
  assert.ok(within(C.POD_RANGE, '10.0.0.0/8') && within(C.SERVICE_RANGE, '10.0.0.0/8'));
  assert.ok(!within(C.SERVICE_RANGE, C.POD_RANGE) && !within(C.POD_RANGE, C.SERVICE_RANGE));
  assert.ok(within(C.NODE_POD_CIDR, C.POD_RANGE), 'the bridge /24 is more specific than the blackhole route');
  assert.ok(within(`${C.NODE_IP}/32`, C.NODE_POD_CIDR) && within(`${C.KUBERNETES_SERVICE_IP}/32`, C.SERVICE_RANGE));
  const routes = C.safetyRoutes();
  assert.deepEqual(
    routes.map((r) => [r[2], r[3]]).sort(),
    [
      ['blackhole', C.POD_RANGE],
      ['unreachable', C.SERVICE_RANGE],
    ].sort(),
  );
  for (const r of routes) assert.equal(r[1], 'replace', 'idempotent: up may run twice');
});

test('pods get no default route and no masquerade; forwarding off the bridge is dropped', () => {
  const cni = C.cniConfig(L) as {
    plugins: {
      type: string;
      bridge: string;
      ipMasq: boolean;
      isGateway: boolean;
      ipam: { dataDir: string; ranges: { subnet: string; gateway: string }[][]; routes: { dst: string }[] };
    }[];
  };
  const br = cni.plugins.find((p) => p.type === 'bridge');
  assert.ok(br !== undefined);
  assert.equal(br.bridge, C.BRIDGE);
  assert.equal(br.ipMasq, false, 'no SNAT: a pod packet could not leave even if routed');
  assert.deepEqual(br.ipam.ranges, [[{ subnet: C.NODE_POD_CIDR, gateway: C.NODE_IP }]]);
  for (const r of br.ipam.routes)
    assert.ok(within(r.dst, C.POD_RANGE) || within(r.dst, C.SERVICE_RANGE), `route ${r.dst} leads outside the cluster`);
  assert.ok(br.ipam.dataDir.startsWith(L.stateDir), 'address leases live in the state dir that down removes');
  const fwd = C.safetyRules().find((s) => s.parent === 'FORWARD');
  assert.ok(fwd !== undefined);
  assert.deepEqual(fwd.rules[0], ['-i', C.BRIDGE, '-o', C.BRIDGE, '-j', 'ACCEPT']);
  assert.ok(
    fwd.rules.some((r) => r.join(' ') === `-i ${C.BRIDGE} -j DROP`) && fwd.rules.some((r) => r.join(' ') === `-o ${C.BRIDGE} -j DROP`),
  );
  const input = C.safetyRules().find((s) => s.parent === 'INPUT');
  assert.ok(
    input?.rules.some((r) => r.includes(String(C.WEBHOOK_PORT)) && r.at(-1) === 'DROP'),
    'the webhook (all interfaces) is reachable only from lo and the bridge',
  );
});

test('every listener binds loopback or the node bridge address, never all interfaces', () => {
  const cmds = C.commands(L, { saKey: '/k', saPub: '/p', caCert: '/ca', apiCert: '/c', apiKey: '/k2' });
  const ok = (addr: string) => addr.startsWith('127.0.0.1') || addr.startsWith(C.NODE_IP) || addr === '0';
  for (const [name, argv] of Object.entries(cmds)) {
    for (const a of argv) {
      const m =
        /^--(?:bind-address|health-probe-bind-address|metrics-bind-address|pprof-bind-address|listen-[a-z-]+-urls?|advertise-address)=(?:https?:\/\/)?(.*)$/.exec(
          a,
        );
      if (m !== null) assert.ok(ok(m[1] ?? ''), `${name}: ${a}`);
      assert.ok(!a.includes('0.0.0.0'), `${name}: ${a}`);
    }
  }
  const kubelet = C.kubeletConfig(L) as Record<string, unknown>;
  assert.equal(kubelet.address, C.NODE_IP);
  assert.equal(kubelet.readOnlyPort, 0);
  assert.equal(kubelet.healthzBindAddress, '127.0.0.1');
  const proxy = C.kubeProxyConfig(L) as Record<string, unknown>;
  assert.deepEqual(proxy.nodePortAddresses, [`${C.NODE_IP}/32`], "NodePorts never on the machine's own interfaces");
  assert.ok(String(proxy.healthzBindAddress).startsWith('127.0.0.1') && String(proxy.metricsBindAddress).startsWith('127.0.0.1'));
  const core = C.corefile(L);
  assert.match(core, new RegExp(`^\\s*bind ${C.NODE_IP.replace(/\./g, '\\.')}$`, 'm'));
  assert.doesNotMatch(core, /\bforward\b/, 'no upstream resolver: nothing outside the cluster is looked up');
  assert.equal(C.hostResolvConf(), `nameserver ${C.NODE_IP}\noptions ndots:1\n`);
});

test('runtime settings for this machine: cgroupfs on cgroup v1, our pause image, Debian CNI plugins, our own socket', () => {
  const toml = C.containerdConfig(L);
  assert.match(toml, new RegExp(`sandbox_image = "${C.PAUSE_IMAGE}"`));
  assert.match(toml, /SystemdCgroup = false/);
  assert.match(toml, /restrict_oom_score_adj = true/, 'runc cannot lower oom_score_adj without CAP_SYS_RESOURCE');
  assert.match(toml, /Root = "\/var\/lib\/sparkinfer-cluster\/containerd\/state\/runc"/, 'runc state in our dir, not /run/containerd');
  assert.match(toml, /bin_dir = "\/usr\/lib\/cni"/);
  assert.match(
    toml,
    /address = "\/var\/lib\/sparkinfer-cluster\/containerd\/containerd.sock"/,
    "never the machine's default /run/containerd",
  );
  const kubelet = C.kubeletConfig(L) as Record<string, unknown>;
  assert.equal(kubelet.cgroupDriver, 'cgroupfs');
  assert.equal(kubelet.failCgroupV1, false, 'kubelet >= 1.35 refuses cgroup v1 otherwise');
  assert.deepEqual(kubelet.clusterDNS, [C.NODE_IP]);
  assert.equal(kubelet.containerRuntimeEndpoint, `unix://${C.paths(L).containerdSock}`);
  // The image references the cluster uses are the ones images.sh builds.
  const images = readFileSync(join(ROOT, 'scripts', 'cluster', 'images.sh'), 'utf8');
  for (const ref of [C.PAUSE_IMAGE, C.SPARK_IMAGE, C.ENGINE_IMAGE]) assert.ok(images.includes(`ref=${ref}`), `images.sh builds ${ref}`);
});

test('the operator: webhook at https://localhost:9443 for the job namespace, spark-submit against our apiserver', () => {
  const [mwc, vwc] = C.webhookConfigurations() as {
    kind: string;
    webhooks: {
      clientConfig: { url: string };
      failurePolicy: string;
      namespaceSelector: unknown;
      objectSelector?: { matchLabels: Record<string, string> };
      rules: { resources: string[] }[];
    }[];
  }[];
  assert.equal(mwc?.kind, 'MutatingWebhookConfiguration');
  assert.equal(vwc?.kind, 'ValidatingWebhookConfiguration');
  const pods = mwc?.webhooks.find((w) => w.rules[0]?.resources.includes('pods'));
  assert.equal(pods?.clientConfig.url, `https://localhost:${C.WEBHOOK_PORT}/mutate--v1-pod`);
  assert.deepEqual(pods?.objectSelector?.matchLabels, { 'sparkoperator.k8s.io/launched-by-spark-operator': 'true' });
  assert.equal(pods?.failurePolicy, 'Fail', 'as in production: no webhook, no executor pods');
  for (const w of [...(mwc?.webhooks ?? []), ...(vwc?.webhooks ?? [])])
    assert.deepEqual(w.namespaceSelector, { matchLabels: { 'kubernetes.io/metadata.name': C.JOB_NAMESPACE } });
  const env = C.operatorEnv(L);
  assert.equal(env.SPARK_HOME, L.sparkHome);
  assert.equal(`https://${env.KUBERNETES_SERVICE_HOST}:${env.KUBERNETES_SERVICE_PORT}`, C.apiserverUrl());
  const cmds = C.commands(L, { saKey: '/k', saPub: '/p', caCert: '/ca', apiCert: '/c', apiKey: '/k2' });
  assert.ok(cmds['operator-controller']?.includes(`--namespaces=${C.JOB_NAMESPACE}`));
  assert.ok(cmds['operator-webhook']?.includes(`--webhook-port=${C.WEBHOOK_PORT}`));
  assert.ok(cmds['operator-webhook']?.includes(`--webhook-secret-namespace=${C.OPERATOR_NAMESPACE}`));
  const objs = C.clusterObjects(L) as { kind: string; metadata: { name: string; namespace?: string }; spec?: Record<string, any> }[];
  for (const claim of [C.RUNS_CLAIM, C.MODELS_CLAIM]) {
    const pvc = objs.find((o) => o.kind === 'PersistentVolumeClaim' && o.metadata.name === claim);
    const pv = objs.find((o) => o.kind === 'PersistentVolume' && o.metadata.name === pvc?.spec?.volumeName);
    assert.deepEqual(pvc?.spec?.accessModes, ['ReadWriteMany'], `${claim}: shared by driver and executors`);
    assert.ok(String(pv?.spec?.hostPath?.path).startsWith(C.paths(L).volumes), `${claim}: a directory in the state dir`);
    assert.deepEqual(pv?.spec?.claimRef, { namespace: C.JOB_NAMESPACE, name: claim }, 'bound to its claim only');
  }
  assert.ok(
    objs.some((o) => o.kind === 'ServiceAccount' && o.metadata.name === 'sparkinfer'),
    'the job default service account',
  );
  const ns = C.clusterObjects(L)
    .filter((o) => (o as { kind: string }).kind === 'Namespace')
    .map((o) => (o as { metadata: { name: string } }).metadata.name);
  assert.deepEqual(ns.sort(), [C.JOB_NAMESPACE, C.OPERATOR_NAMESPACE].sort());
});
