/**
 * The local one-node cluster's layout and configuration files (npm run cluster; scripts/cluster/).
 * Pure: every function maps a {@link Layout} to file contents or to argv arrays; nothing here
 * touches the machine, so test/unit/cluster-config.test.ts checks all of it in milliseconds.
 *
 * Network plan (all on this machine):
 * - pods live on the bridge `sparkinfer0` (10.213.0.1/24, the node's address too); the whole pod
 *   range 10.213.0.0/16 has a `blackhole` route, so an address outside the bridge's /24 never
 *   leaves the machine;
 * - Services use 10.214.0.0/24, which has an `unreachable` route: only kube-proxy's DNAT (in
 *   PREROUTING, before routing) turns a Service address into a pod or node address;
 * - pods get routes for the two ranges only (no default route), masquerading is off, and the
 *   SPARKINFER-FORWARD chain drops anything forwarded between the bridge and another interface;
 * - the operator's webhook listens on every interface (it has no bind flag), so SPARKINFER-INPUT
 *   drops its port unless the packet comes in on loopback or the bridge.
 */
import { join } from 'node:path';

export interface Layout {
  /** Where the cluster keeps its state, logs and pids (`SPARKINFER_CLUSTER_DIR`). */
  stateDir: string;
  /** Folder of the Kubernetes binaries (scripts/cluster/build.sh). */
  k8sBinDir: string;
  corednsBin: string;
  operatorBin: string;
  /** CNI plugins of the Debian package. */
  cniBinDir: string;
  /** SPARK_HOME the operator's spark-submit runs from (the venv's pyspark). */
  sparkHome: string;
  javaHome?: string;
}

export const NODE_NAME = 'sparkinfer-node';
export const BRIDGE = 'sparkinfer0';
export const NODE_IP = '10.213.0.1';
export const POD_RANGE = '10.213.0.0/16';
export const NODE_POD_CIDR = '10.213.0.0/24';
export const SERVICE_RANGE = '10.214.0.0/24';
/** First address of the Service range: the `kubernetes` Service. */
export const KUBERNETES_SERVICE_IP = '10.214.0.1';
export const APISERVER_PORT = 6443;
export const ETCD_CLIENT = 'http://127.0.0.1:23790';
export const ETCD_PEER = 'http://127.0.0.1:23800';
export const WEBHOOK_PORT = 9443;
export const CLUSTER_DOMAIN = 'cluster.local';
export const PAUSE_IMAGE = 'localhost/sparkinfer/pause:1';
export const SPARK_IMAGE = 'localhost/sparkinfer/sparkinfer:dev';
export const ENGINE_IMAGE = 'localhost/sparkinfer/llama-server:cpu';
/** The optional vLLM CPU engine image (deploy/engine-vllm-cpu.Dockerfile), for `npm run test:cluster:vllm`. */
export const VLLM_IMAGE = 'localhost/sparkinfer/vllm:cpu';
/** Namespaces: the operator's own (webhook secret) and the one jobs run in. */
export const OPERATOR_NAMESPACE = 'spark-operator';
export const JOB_NAMESPACE = 'sparkinfer';
/** The job's default `kubernetes.service_account`, so jobs need no override here. */
export const SPARK_SERVICE_ACCOUNT = 'sparkinfer';
/** The claims a job mounts by default: run directories and the engine's model cache (hostPath PVs here). */
export const RUNS_CLAIM = 'sparkinfer-runs';
export const MODELS_CLAIM = 'sparkinfer-models';
/** uid/gid of the image's `spark` user, which writes the run directories (the manifests' runAsUser). */
export { SPARK_UID } from '../../src/k8s/render.ts';
export const SAFETY_CHAINS = { forward: 'SPARKINFER-FORWARD', input: 'SPARKINFER-INPUT' } as const;

export const paths = (l: Layout) => {
  const s = l.stateDir;
  return {
    logs: join(s, 'logs'),
    pids: join(s, 'pids'),
    pki: join(s, 'pki'),
    etcdData: join(s, 'etcd'),
    containerdRoot: join(s, 'containerd', 'root'),
    containerdState: join(s, 'containerd', 'state'),
    containerdConfig: join(s, 'containerd', 'config.toml'),
    containerdSock: join(s, 'containerd', 'containerd.sock'),
    cniConfDir: join(s, 'cni', 'net.d'),
    cniIpamDir: join(s, 'cni', 'ipam'),
    kubeletRoot: join(s, 'kubelet'),
    kubeletConfig: join(s, 'kubelet-config.yaml'),
    kubeProxyConfig: join(s, 'kube-proxy-config.yaml'),
    resolvConf: join(s, 'resolv.conf'),
    corefile: join(s, 'Corefile'),
    kubeconfig: join(s, 'kubeconfig'),
    tokens: join(s, 'pki', 'tokens.csv'),
    webhookCerts: join(s, 'operator', 'certs'),
    volumes: join(s, 'volumes'),
    operatorWork: join(s, 'operator'),
  };
};

export const apiserverUrl = (): string => `https://${NODE_IP}:${APISERVER_PORT}`;

/** containerd 1.6 (config version 2): its own socket and dirs, our pause image, cgroupfs, Debian's CNI plugins. */
export function containerdConfig(l: Layout): string {
  const p = paths(l);
  return `# Written by scripts/cluster (sparkinfer local cluster); do not edit.
version = 2
root = ${JSON.stringify(p.containerdRoot)}
state = ${JSON.stringify(p.containerdState)}

[grpc]
  address = ${JSON.stringify(p.containerdSock)}

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = ${JSON.stringify(PAUSE_IMAGE)}
  # kubelet asks for oom_score_adj -998 (sandboxes) and below; lowering it needs CAP_SYS_RESOURCE,
  # which a container-based build machine may not have. Clamp to containerd's own value instead.
  restrict_oom_score_adj = true
  enable_selinux = false
  disable_apparmor = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = ${JSON.stringify(join(p.containerdState, 'runc'))}
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = ${JSON.stringify(l.cniBinDir)}
    conf_dir = ${JSON.stringify(p.cniConfDir)}
    max_conf_num = 1
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = ""
`;
}

/** The pod network: one bridge, host-local addresses, routes for the cluster's ranges only. */
export function cniConfig(l: Layout): object {
  return {
    cniVersion: '1.0.0',
    name: 'sparkinfer',
    plugins: [
      {
        type: 'bridge',
        bridge: BRIDGE,
        isGateway: true,
        ipMasq: false,
        hairpinMode: true,
        ipam: {
          type: 'host-local',
          dataDir: paths(l).cniIpamDir,
          ranges: [[{ subnet: NODE_POD_CIDR, gateway: NODE_IP }]],
          // No default route: a pod can only address the pod and Service ranges.
          routes: [{ dst: POD_RANGE }, { dst: SERVICE_RANGE }],
        },
      },
    ],
  };
}

export function kubeletConfig(l: Layout): object {
  const p = paths(l);
  return {
    apiVersion: 'kubelet.config.k8s.io/v1beta1',
    kind: 'KubeletConfiguration',
    address: NODE_IP,
    port: 10250,
    readOnlyPort: 0,
    healthzBindAddress: '127.0.0.1',
    healthzPort: 10248,
    authentication: { anonymous: { enabled: false }, webhook: { enabled: true }, x509: {} },
    authorization: { mode: 'Webhook' },
    // No systemd here, and cgroup v1: containerd 1.6 cannot report its driver, so kubelet uses this.
    cgroupDriver: 'cgroupfs',
    failCgroupV1: false,
    clusterDNS: [NODE_IP],
    clusterDomain: CLUSTER_DOMAIN,
    containerRuntimeEndpoint: `unix://${p.containerdSock}`,
    resolvConf: p.resolvConf,
    failSwapOn: false,
    // A shared developer machine: evict only when really short.
    evictionHard: { 'memory.available': '200Mi', 'nodefs.available': '2%', 'imagefs.available': '2%' },
    imageGCHighThresholdPercent: 99,
    imageGCLowThresholdPercent: 98,
    maxPods: 40,
    serializeImagePulls: false,
    staticPodPath: '',
    podPidsLimit: -1,
  };
}

export function kubeProxyConfig(l: Layout): object {
  return {
    apiVersion: 'kubeproxy.config.k8s.io/v1alpha1',
    kind: 'KubeProxyConfiguration',
    mode: 'iptables',
    clientConnection: { kubeconfig: paths(l).kubeconfig },
    clusterCIDR: POD_RANGE,
    bindAddress: '127.0.0.1',
    healthzBindAddress: '127.0.0.1:10256',
    metricsBindAddress: '127.0.0.1:10249',
    // NodePorts only on the node's bridge address, never on the machine's real interfaces.
    nodePortAddresses: [`${NODE_IP}/32`],
    conntrack: { maxPerCore: 0 },
    iptables: { masqueradeAll: false, localhostNodePorts: false },
  };
}

/** CoreDNS on the node's address: cluster names only, no upstream (nothing outside is resolved). */
export function corefile(l: Layout): string {
  return `.:53 {
    bind ${NODE_IP}
    errors
    kubernetes ${CLUSTER_DOMAIN} in-addr.arpa ip6.arpa {
        kubeconfig ${paths(l).kubeconfig}
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 5
    }
    cache 5
}
`;
}

/** The resolv.conf kubelet hands to pods with dnsPolicy Default: no resolver outside the cluster. */
export const hostResolvConf = (): string => `nameserver ${NODE_IP}\noptions ndots:1\n`;

export function kubeconfig(token: string, caFile: string): string {
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '- name: sparkinfer-local',
    `  cluster: {server: "${apiserverUrl()}", certificate-authority: "${caFile}"}`,
    'users:',
    '- name: sparkinfer-admin',
    `  user: {token: "${token}"}`,
    'contexts:',
    '- name: sparkinfer-local',
    `  context: {cluster: sparkinfer-local, user: sparkinfer-admin, namespace: ${JOB_NAMESPACE}}`,
    'current-context: sparkinfer-local',
    '',
  ].join('\n');
}

/** argv of each process the cluster runs, in start order. */
export function commands(
  l: Layout,
  f: { saKey: string; saPub: string; caCert: string; apiCert: string; apiKey: string },
): Record<string, string[]> {
  const p = paths(l);
  const bin = (n: string) => join(l.k8sBinDir, n);
  return {
    containerd: ['containerd', '--config', p.containerdConfig],
    etcd: [
      bin('etcd'),
      '--name=sparkinfer',
      `--data-dir=${p.etcdData}`,
      `--listen-client-urls=${ETCD_CLIENT}`,
      `--advertise-client-urls=${ETCD_CLIENT}`,
      `--listen-peer-urls=${ETCD_PEER}`,
      `--initial-advertise-peer-urls=${ETCD_PEER}`,
      `--initial-cluster=sparkinfer=${ETCD_PEER}`,
      '--listen-metrics-urls=http://127.0.0.1:23810',
      '--unsafe-no-fsync',
      '--log-level=warn',
    ],
    'kube-apiserver': [
      bin('kube-apiserver'),
      `--etcd-servers=${ETCD_CLIENT}`,
      `--bind-address=${NODE_IP}`,
      `--advertise-address=${NODE_IP}`,
      `--secure-port=${APISERVER_PORT}`,
      `--tls-cert-file=${f.apiCert}`,
      `--tls-private-key-file=${f.apiKey}`,
      `--client-ca-file=${f.caCert}`,
      `--token-auth-file=${p.tokens}`,
      '--authorization-mode=Node,RBAC',
      `--service-account-key-file=${f.saPub}`,
      `--service-account-signing-key-file=${f.saKey}`,
      `--service-account-issuer=https://kubernetes.default.svc.${CLUSTER_DOMAIN}`,
      `--service-cluster-ip-range=${SERVICE_RANGE}`,
      '--kubelet-preferred-address-types=InternalIP',
      '--profiling=false',
      '--v=1',
    ],
    'kube-controller-manager': [
      bin('kube-controller-manager'),
      `--kubeconfig=${p.kubeconfig}`,
      '--bind-address=127.0.0.1',
      '--leader-elect=false',
      `--service-account-private-key-file=${f.saKey}`,
      `--root-ca-file=${f.caCert}`,
      '--use-service-account-credentials=true',
      // The node's pod range is fixed in the CNI config, so no node IPAM (cloud controllers are off by default).
      `--service-cluster-ip-range=${SERVICE_RANGE}`,
      '--controllers=*,-node-ipam-controller',
      '--profiling=false',
      '--v=1',
    ],
    'kube-scheduler': [
      bin('kube-scheduler'),
      `--kubeconfig=${p.kubeconfig}`,
      `--authentication-kubeconfig=${p.kubeconfig}`,
      `--authorization-kubeconfig=${p.kubeconfig}`,
      '--bind-address=127.0.0.1',
      '--leader-elect=false',
      '--profiling=false',
      '--v=1',
    ],
    kubelet: [
      bin('kubelet'),
      `--config=${p.kubeletConfig}`,
      `--kubeconfig=${p.kubeconfig}`,
      `--root-dir=${p.kubeletRoot}`,
      `--cert-dir=${join(p.kubeletRoot, 'pki')}`,
      `--hostname-override=${NODE_NAME}`,
      `--node-ip=${NODE_IP}`,
      '--v=1',
    ],
    'kube-proxy': [bin('kube-proxy'), `--config=${p.kubeProxyConfig}`, `--hostname-override=${NODE_NAME}`, '--v=1'],
    coredns: [l.corednsBin, '-conf', p.corefile],
    'operator-webhook': [
      l.operatorBin,
      'webhook',
      'start',
      `--kubeconfig=${p.kubeconfig}`,
      `--namespaces=${JOB_NAMESPACE}`,
      `--webhook-port=${WEBHOOK_PORT}`,
      `--webhook-cert-dir=${p.webhookCerts}`,
      `--webhook-secret-namespace=${OPERATOR_NAMESPACE}`,
      '--webhook-secret-name=spark-operator-webhook-certs',
      '--webhook-svc-name=spark-operator-webhook-svc',
      `--webhook-svc-namespace=${OPERATOR_NAMESPACE}`,
      '--mutating-webhook-name=spark-operator-webhook',
      '--validating-webhook-name=spark-operator-webhook',
      '--health-probe-bind-address=127.0.0.1:8091',
      '--metrics-bind-address=0',
      '--leader-election=false',
    ],
    'operator-controller': [
      l.operatorBin,
      'controller',
      'start',
      `--kubeconfig=${p.kubeconfig}`,
      `--namespaces=${JOB_NAMESPACE}`,
      '--controller-threads=2',
      '--enable-ui-service=false',
      '--health-probe-bind-address=127.0.0.1:8092',
      '--metrics-bind-address=0',
      '--pprof-bind-address=0',
      '--leader-election=false',
    ],
  };
}

/** Environment of the operator controller: its spark-submit runs on this machine against our apiserver. */
export function operatorEnv(l: Layout): Record<string, string> {
  return {
    SPARK_HOME: l.sparkHome,
    KUBERNETES_SERVICE_HOST: NODE_IP,
    KUBERNETES_SERVICE_PORT: String(APISERVER_PORT),
    KUBECONFIG: paths(l).kubeconfig,
    ...(l.javaHome !== undefined ? { JAVA_HOME: l.javaHome } : {}),
  };
}

/** The webhook configurations the operator's webhook patches with its CA (it does not create them). */
export function webhookConfigurations(): object[] {
  const rules = (resource: string, group: string, version: string, ops: string[]) => [
    { apiGroups: [group], apiVersions: [version], operations: ops, resources: [resource] },
  ];
  const url = (path: string) => ({ url: `https://localhost:${WEBHOOK_PORT}${path}` });
  const base = { admissionReviewVersions: ['v1'], sideEffects: 'None', failurePolicy: 'Fail', timeoutSeconds: 10 };
  return [
    {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'MutatingWebhookConfiguration',
      metadata: { name: 'spark-operator-webhook' },
      webhooks: [
        {
          ...base,
          name: 'mutate--v1-pod.sparkoperator.k8s.io',
          clientConfig: url('/mutate--v1-pod'),
          rules: rules('pods', '', 'v1', ['CREATE']),
          namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': JOB_NAMESPACE } },
          objectSelector: { matchLabels: { 'sparkoperator.k8s.io/launched-by-spark-operator': 'true' } },
        },
        {
          ...base,
          name: 'mutate-sparkoperator-k8s-io-v1beta2-sparkapplication.sparkoperator.k8s.io',
          clientConfig: url('/mutate-sparkoperator-k8s-io-v1beta2-sparkapplication'),
          rules: rules('sparkapplications', 'sparkoperator.k8s.io', 'v1beta2', ['CREATE', 'UPDATE']),
          namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': JOB_NAMESPACE } },
        },
      ],
    },
    {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingWebhookConfiguration',
      metadata: { name: 'spark-operator-webhook' },
      webhooks: [
        {
          ...base,
          name: 'validate-sparkoperator-k8s-io-v1beta2-sparkapplication.sparkoperator.k8s.io',
          clientConfig: url('/validate-sparkoperator-k8s-io-v1beta2-sparkapplication'),
          rules: rules('sparkapplications', 'sparkoperator.k8s.io', 'v1beta2', ['CREATE', 'UPDATE']),
          namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': JOB_NAMESPACE } },
        },
      ],
    },
  ];
}

/** Namespaces, the Spark service account, what the driver may do (create executors, their Service), the volumes. */
export function clusterObjects(l: Layout): object[] {
  const volume = (claim: string) => [
    {
      apiVersion: 'v1',
      kind: 'PersistentVolume',
      metadata: { name: `${JOB_NAMESPACE}-${claim}` },
      spec: {
        capacity: { storage: '20Gi' },
        accessModes: ['ReadWriteMany'],
        persistentVolumeReclaimPolicy: 'Retain',
        storageClassName: '',
        hostPath: { path: join(paths(l).volumes, claim), type: 'Directory' },
        claimRef: { namespace: JOB_NAMESPACE, name: claim },
      },
    },
    {
      apiVersion: 'v1',
      kind: 'PersistentVolumeClaim',
      metadata: { name: claim, namespace: JOB_NAMESPACE },
      spec: {
        accessModes: ['ReadWriteMany'],
        storageClassName: '',
        volumeName: `${JOB_NAMESPACE}-${claim}`,
        resources: { requests: { storage: '20Gi' } },
      },
    },
  ];
  return [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: OPERATOR_NAMESPACE } },
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: JOB_NAMESPACE } },
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: SPARK_SERVICE_ACCOUNT, namespace: JOB_NAMESPACE } },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: { name: 'spark-driver', namespace: JOB_NAMESPACE },
      rules: [
        {
          apiGroups: [''],
          resources: ['pods', 'services', 'configmaps', 'persistentvolumeclaims'],
          verbs: ['create', 'get', 'list', 'watch', 'delete', 'deletecollection', 'patch', 'update'],
        },
      ],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: 'spark-driver', namespace: JOB_NAMESPACE },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'spark-driver' },
      subjects: [{ kind: 'ServiceAccount', name: SPARK_SERVICE_ACCOUNT, namespace: JOB_NAMESPACE }],
    },
    ...volume(RUNS_CLAIM),
    ...volume(MODELS_CLAIM),
  ];
}

/** The routes that keep pod and Service packets on this machine whatever else is missing. */
export function safetyRoutes(): string[][] {
  return [
    ['route', 'replace', 'blackhole', POD_RANGE],
    ['route', 'replace', 'unreachable', SERVICE_RANGE],
  ];
}

/** iptables rules (after `-A CHAIN`) of the two safety chains, and the jumps into them. */
export function safetyRules(): { chain: string; parent: string; rules: string[][] }[] {
  return [
    {
      chain: SAFETY_CHAINS.forward,
      parent: 'FORWARD',
      rules: [
        ['-i', BRIDGE, '-o', BRIDGE, '-j', 'ACCEPT'],
        ['-i', BRIDGE, '-j', 'DROP'],
        ['-o', BRIDGE, '-j', 'DROP'],
      ],
    },
    {
      chain: SAFETY_CHAINS.input,
      parent: 'INPUT',
      rules: [
        ['-i', 'lo', '-j', 'RETURN'],
        ['-i', BRIDGE, '-j', 'RETURN'],
        ['-p', 'tcp', '--dport', String(WEBHOOK_PORT), '-j', 'DROP'],
      ],
    },
  ];
}
