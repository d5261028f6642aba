/**
 * `sparkinfer render JOB --target k8s`: a ConfigMap holding job.json and one SparkApplication
 * (`sparkoperator.k8s.io/v1beta2`, kubeflow spark-operator >= 2 with its webhook), or two with
 * `phases: two`. Pure: no cluster, no environment, no clock. Secrets are only ever referenced
 * (`secretKeyRef`); the renderer never reads an environment variable's value.
 *
 * Contracts with the image (deploy/Dockerfile) and the driver:
 * - the driver runs `driver.py --job /etc/sparkinfer/job.json --worker <bundle> [--phase prepare|infer]`;
 *   with `--worker` it ships job.json and the bundle to executors itself (`SparkContext.addFile`),
 *   because spark-submit skips `local://` files and runs inside the operator, not beside the files;
 * - the worker's endpoint is `SPARKINFER_ENDPOINT` (= job.json's `run.endpoint`), the sidecar's port on 127.0.0.1;
 * - run directories live on a ReadWriteMany volume, at `<mount_path>/<job name>/<run id>`.
 */
import { posix } from 'node:path';
import { Document } from 'yaml';
import { SpecError } from '../errors.ts';
import { storageConf } from '../spark/storage.ts';
import { tableConf } from '../spark/tables.ts';
import type { ResolvedJob } from '../jobfile/resolved.ts';
import { JOB_LABEL, PHASE_LABEL, RUN_ID_LABEL, dnsLabel, labelValue, runNames, type Phase, type RunNames } from './names.ts';
import { engineSidecar, engineVolumes, executorEngineMounts, plainEnv, secretEnv, type Obj } from './sidecar.ts';
import { cpuCores, KubernetesSpec, SPARKINFER_VERSION, type K8sSpec } from '../jobfile/kubernetes.ts';

export const DRIVER_FILE = 'local:///opt/sparkinfer/python/sparkinfer/driver.py';
export const JOB_DIR = '/etc/sparkinfer';
export const JOB_JSON = `${JOB_DIR}/job.json`;
export const WORKER_BUNDLE = '/opt/sparkinfer/dist/sparkinfer-worker.mjs';
export const NODE_BIN = '/usr/local/bin/node';
/** The `spark` user of the sparkinfer image (deploy/Dockerfile). */
export const SPARK_UID = 185;
export const RUNS_VOLUME = 'sparkinfer-runs';
/** What a driver under the operator gets as its master; job.json says so too, so nothing overrides it with `local`. */
export const K8S_MASTER = 'k8s://https://kubernetes.default.svc:443';
/** Spark's default pattern plus keys such as OPENAI_API_KEY or HF_TOKEN (UI, event log, REST API). */
export const REDACTION_REGEX = '(?i)secret|password|token|access[.]key|api[_.-]?key|_key$';

/** Environment variables sparkinfer sets on driver, executors and engine; the job may not set them. */
const RESERVED_ENV = new Set(['SPARKINFER_ENDPOINT', 'SPARKINFER_NODE', 'SPARKINFER_PHASE', 'SPARK_HOME', 'PYSPARK_PYTHON', 'JAVA_HOME']);

export interface RenderOptions {
  /** Overrides `kubernetes.namespace` (CLI). */
  namespace?: string;
  /** Overrides `kubernetes.image` (CLI). */
  image?: string;
}

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace: string; labels: Record<string, string>; annotations?: Record<string, string> };
  [k: string]: unknown;
}

export interface RenderedRun {
  names: RunNames;
  namespace: string;
  /** The job.json the pods read (endpoint, run directory and master rewritten for the cluster). */
  jobJson: ResolvedJob;
  configMap: K8sObject;
  /** In submission order: one, or prepare then infer. */
  apps: K8sObject[];
  /** `observability.prometheus.pod_monitor`: the Prometheus Operator's PodMonitor for the driver pods (metrics.ts). */
  podMonitor?: K8sObject;
}

/** The job's `kubernetes:` section with defaults and CLI overrides applied. */
export function k8sSpecOf(job: { kubernetes?: K8sSpec | undefined }, opts: RenderOptions = {}): K8sSpec {
  const k = job.kubernetes ?? KubernetesSpec.parse({});
  const out: K8sSpec = { ...k };
  if (opts.namespace !== undefined) {
    if (!/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(opts.namespace))
      throw new SpecError(`expected the namespace to be a Kubernetes name, got \`${opts.namespace}\``);
    out.namespace = opts.namespace;
  }
  if (opts.image !== undefined) {
    if (opts.image.trim() === '') throw new SpecError('expected an image reference, got ``');
    out.image = opts.image;
  }
  return out;
}

const mib = (n: number): string => `${n}m`;

/** A path a pod can read: a URI (s3a://, hdfs://, gs://, abfss://, file:) or an absolute path. */
function checkPodPath(field: string, p: string | undefined): void {
  if (p === undefined || /^[a-z][a-z0-9+.-]*:/i.test(p) || p.startsWith('/')) return;
  throw new SpecError(
    `${field} is \`${p}\`, a relative path, which means nothing inside a pod; use a URI (s3a://…, hdfs://…) or an absolute path on a mounted volume`,
  );
}

function checkJob(job: ResolvedJob, k: K8sSpec): void {
  checkPodPath('input.path', job.input.path);
  checkPodPath('output.path', job.output.path);
  const keyEnv = job.engine.api_key_env;
  if (keyEnv !== undefined && !k.secrets.some((s) => s.env === keyEnv)) {
    throw new SpecError(
      `engine.api_key_env is \`${keyEnv}\`, but kubernetes.secrets has no entry for it; add \`{env: ${keyEnv}, secret: NAME, key: KEY}\` (the key is read from a Secret, never inlined)`,
    );
  }
  for (const name of [...Object.keys(k.env), ...k.secrets.map((s) => s.env)]) {
    if (RESERVED_ENV.has(name)) throw new SpecError(`kubernetes: \`${name}\` is set by sparkinfer and cannot be overridden`);
  }
  if (k.executors.max * k.gpus_per_executor > 4096)
    throw new SpecError(`kubernetes: ${k.executors.max} executors × ${k.gpus_per_executor} GPUs is not a plausible request`);
}

/** The job.json of the pods: the sidecar endpoint, the run directory on the run volume, the k8s master. */
export function k8sJobJson(job: ResolvedJob, k: K8sSpec): ResolvedJob {
  const endpoint = `http://127.0.0.1:${k.engine.port}/v1`;
  const { launch: _launch, ...engine } = job.engine;
  const root = posix.join(k.run_volume.mount_path, job.name);
  return {
    ...job,
    engine: { ...engine, endpoint, kind: k.engine.kind },
    spark: { ...job.spark, master: K8S_MASTER },
    resume: { ...job.resume, dir: root },
    run: { ...job.run, endpoint, engine_kind: k.engine.kind, root, dir: posix.join(root, job.run.id) },
    kubernetes: k,
    // A Prometheus elsewhere in the cluster scrapes the driver pod: it listens on every address.
    ...(job.observability?.prometheus !== undefined
      ? { observability: { ...job.observability, prometheus: { ...job.observability.prometheus, host: '0.0.0.0' } } }
      : {}),
  };
}

function runLabels(job: ResolvedJob, k: K8sSpec, phase?: Phase): Record<string, string> {
  return {
    ...k.labels,
    'app.kubernetes.io/name': 'sparkinfer',
    'app.kubernetes.io/managed-by': 'sparkinfer',
    'app.kubernetes.io/version': labelValue(SPARKINFER_VERSION),
    [JOB_LABEL]: labelValue(job.name),
    [RUN_ID_LABEL]: labelValue(job.run.id),
    ...(phase !== undefined ? { [PHASE_LABEL]: phase } : {}),
  };
}

/** Spark's default overhead (10%, at least 384 MiB) plus one worker process per task slot. */
export function executorOverheadMiB(k: K8sSpec, cores: number): number {
  const base = k.executors.memory_overhead ?? Math.max(384, Math.ceil(k.executors.memory * 0.1));
  return base + cores * k.worker_memory;
}

interface Sizing {
  cores: number;
  memory: number;
  overhead: number;
  min: number;
  max: number;
  initial: number;
  gpu: boolean;
}

function sizing(k: K8sSpec, phase: Phase | undefined): Sizing {
  if (phase === 'prepare') {
    const p = k.prepare_executors;
    return {
      cores: p.cores,
      memory: p.memory,
      overhead: Math.max(384, Math.ceil(p.memory * 0.1)),
      min: 0,
      max: p.max,
      initial: 0,
      gpu: false,
    };
  }
  const cores = k.executors.cores ?? k.tasks_per_engine;
  return {
    cores,
    memory: k.executors.memory,
    overhead: executorOverheadMiB(k, cores),
    min: k.executors.min,
    max: k.executors.max,
    initial: k.executors.initial ?? k.executors.max,
    gpu: true,
  };
}

function sparkConf(job: ResolvedJob, k: K8sSpec, z: Sizing): Record<string, string> {
  const conf: Record<string, string> = {
    'spark.ui.showConsoleProgress': 'false',
    // Inference must run once per row per attempt: never speculate a task that talks to the engine.
    'spark.speculation': 'false',
    'spark.sql.adaptive.enabled': 'true',
    'spark.redaction.regex': REDACTION_REGEX,
    'spark.task.maxFailures': String(k.task_max_failures),
    'spark.dynamicAllocation.enabled': 'true',
    // No external shuffle service on Kubernetes; tracking with a finite timeout lets executors
    // that hold shuffle data go, and their GPUs with them.
    'spark.dynamicAllocation.shuffleTracking.enabled': 'true',
    'spark.dynamicAllocation.shuffleTracking.timeout': `${k.shuffle_tracking_timeout}ms`,
    'spark.dynamicAllocation.executorIdleTimeout': `${k.executor_idle_timeout}ms`,
    'spark.dynamicAllocation.minExecutors': String(z.min),
    'spark.dynamicAllocation.maxExecutors': String(z.max),
    'spark.dynamicAllocation.initialExecutors': String(z.initial),
    'spark.executorEnv.SPARKINFER_NODE': NODE_BIN,
  };
  if (z.gpu) conf['spark.executorEnv.SPARKINFER_ENDPOINT'] = `http://127.0.0.1:${k.engine.port}/v1`;
  // s3a:// credentials chain, the `storage:` section, the S3A committer; a delta or iceberg
  // output's SQL extensions (the image carries all their jars).
  Object.assign(conf, storageConf(job), tableConf(job));
  for (const [key, v] of Object.entries(job.spark.conf)) {
    // A secret in a Spark conf ends up in the manifest, the UI and the event log.
    if (/^spark\.(executorEnv|kubernetes\.(driverEnv|executorEnv))\./.test(key) && /(KEY|TOKEN|SECRET|PASSWORD)/i.test(key)) {
      throw new SpecError(`spark.conf.${key}: secrets must come from kubernetes.secrets (secretKeyRef), not from a Spark conf`);
    }
    conf[key] = String(v);
  }
  return conf;
}

function driverSpec(job: ResolvedJob, k: K8sSpec, cm: string): Obj {
  const annotations = { ...k.annotations, ...scrapeAnnotations(job) };
  const prom = job.observability?.prometheus;
  return {
    cores: k.driver.cores,
    ...(k.driver.core_request !== undefined ? { coreRequest: k.driver.core_request } : {}),
    memory: mib(k.driver.memory),
    serviceAccount: k.service_account,
    ...(Object.keys(annotations).length > 0 ? { annotations } : {}),
    ...(prom !== undefined ? { ports: [{ name: METRICS_PORT_NAME, containerPort: prom.port, protocol: 'TCP' }] } : {}),
    ...(k.priority_class !== undefined ? { priorityClassName: k.priority_class } : {}),
    configMaps: [{ name: cm, path: JOB_DIR }],
    env: [{ name: 'SPARKINFER_NODE', value: NODE_BIN }, ...plainEnv(k.env), ...secretEnv(k.secrets)],
    volumeMounts: [{ name: RUNS_VOLUME, mountPath: k.run_volume.mount_path }],
    podSecurityContext: { runAsNonRoot: true, runAsUser: SPARK_UID, runAsGroup: SPARK_UID, fsGroup: SPARK_UID },
    securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
  };
}

function executorSpec(job: ResolvedJob, k: K8sSpec, z: Sizing, gpuPod: boolean): Obj {
  return {
    cores: z.cores,
    ...(gpuPod && k.executors.core_request !== undefined ? { coreRequest: k.executors.core_request } : {}),
    memory: mib(z.memory),
    memoryOverhead: mib(z.overhead),
    serviceAccount: k.service_account,
    ...(Object.keys(k.annotations).length > 0 ? { annotations: { ...k.annotations } } : {}),
    ...(k.priority_class !== undefined ? { priorityClassName: k.priority_class } : {}),
    env: [{ name: 'SPARKINFER_NODE', value: NODE_BIN }, ...plainEnv(k.env), ...secretEnv(k.secrets)],
    volumeMounts: [{ name: RUNS_VOLUME, mountPath: k.run_volume.mount_path }, ...(gpuPod ? executorEngineMounts(k) : [])],
    ...(gpuPod ? { initContainers: [engineSidecar(job, k, RESERVED_ENV)] } : {}),
    ...(gpuPod && Object.keys(k.node_selector).length > 0 ? { nodeSelector: { ...k.node_selector } } : {}),
    ...(gpuPod && k.tolerations.length > 0 ? { tolerations: k.tolerations.map((t) => ({ ...t })) } : {}),
    // Pod-wide: only the group, so the run volume is writable; the stock engine image may need root.
    podSecurityContext: { fsGroup: SPARK_UID },
    securityContext: {
      runAsNonRoot: true,
      runAsUser: SPARK_UID,
      runAsGroup: SPARK_UID,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
    },
  };
}

/** The driver's container port for `observability.prometheus` (an IANA service name, ≤ 15 characters). */
export const METRICS_PORT_NAME = 'metrics';

/** The `prometheus.io/*` annotations that annotation-based scrape configs read, when the job serves metrics. */
function scrapeAnnotations(job: ResolvedJob): Record<string, string> {
  const prom = job.observability?.prometheus;
  if (prom === undefined) return {};
  return { 'prometheus.io/scrape': 'true', 'prometheus.io/port': String(prom.port), 'prometheus.io/path': '/metrics' };
}

/**
 * The Prometheus Operator's PodMonitor for the run's driver pods (`spark-role: driver`, and the
 * operator's app-name label of each of the run's applications), scraping the `metrics` port.
 */
function podMonitor(job: ResolvedJob, k: K8sSpec, names: RunNames): K8sObject | undefined {
  const prom = job.observability?.prometheus;
  if (prom === undefined || !prom.pod_monitor) return undefined;
  return {
    apiVersion: 'monitoring.coreos.com/v1',
    kind: 'PodMonitor',
    metadata: { name: dnsLabel(`${names.base}-metrics`), namespace: k.namespace, labels: runLabels(job, k) },
    spec: {
      selector: {
        matchLabels: { 'spark-role': 'driver' },
        matchExpressions: [{ key: 'sparkoperator.k8s.io/app-name', operator: 'In', values: names.apps.map((a) => a.name) }],
      },
      podMetricsEndpoints: [{ port: METRICS_PORT_NAME, path: '/metrics' }],
    },
  };
}

/** Volcano's reservation before the driver starts: driver plus the executors needed to make progress. */
function gangResources(k: K8sSpec, z: Sizing, gpuPod: boolean): Record<string, string | number> {
  const executors = Math.max(1, z.min);
  const driverMem = k.driver.memory + Math.max(384, Math.ceil(k.driver.memory * 0.1));
  const execCpu =
    (gpuPod && k.executors.core_request !== undefined ? cpuCores(k.executors.core_request) : z.cores) +
    (gpuPod ? cpuCores(k.engine.cpu) : 0);
  const execMem = z.memory + z.overhead + (gpuPod ? k.engine.memory : 0);
  const cpu = (k.driver.core_request !== undefined ? cpuCores(k.driver.core_request) : k.driver.cores) + executors * execCpu;
  return {
    cpu: Number.isInteger(cpu) ? String(cpu) : `${Math.ceil(cpu * 1000)}m`,
    memory: `${driverMem + executors * execMem}Mi`,
    ...(gpuPod && k.gpus_per_executor > 0 ? { 'nvidia.com/gpu': executors * k.gpus_per_executor } : {}),
  };
}

function sparkApplication(job: ResolvedJob, k: K8sSpec, names: RunNames, app: RunNames['apps'][number]): K8sObject {
  const z = sizing(k, app.phase);
  const gpuPod = app.phase !== 'prepare';
  const retryS = Math.max(1, Math.round(k.retry_interval / 1000));
  const volumes: Obj[] = [
    { name: RUNS_VOLUME, persistentVolumeClaim: { claimName: k.run_volume.claim_name } },
    ...(gpuPod ? engineVolumes(k) : []),
  ];
  return {
    apiVersion: 'sparkoperator.k8s.io/v1beta2',
    kind: 'SparkApplication',
    metadata: {
      name: app.name,
      namespace: k.namespace,
      labels: runLabels(job, k, app.phase),
      ...(Object.keys(k.annotations).length > 0 ? { annotations: { ...k.annotations } } : {}),
    },
    spec: {
      type: 'Python',
      mode: 'cluster',
      sparkVersion: k.spark_version,
      image: k.image,
      imagePullPolicy: k.image_pull_policy,
      ...(k.image_pull_secrets.length > 0 ? { imagePullSecrets: [...k.image_pull_secrets] } : {}),
      mainApplicationFile: DRIVER_FILE,
      arguments: ['--job', JOB_JSON, '--worker', WORKER_BUNDLE, ...(app.phase !== undefined ? ['--phase', app.phase] : [])],
      sparkConf: sparkConf(job, k, z),
      restartPolicy: {
        type: 'OnFailure',
        onFailureRetries: k.retries,
        onFailureRetryInterval: retryS,
        onSubmissionFailureRetries: k.retries,
        onSubmissionFailureRetryInterval: retryS,
      },
      dynamicAllocation: {
        enabled: true,
        initialExecutors: z.initial,
        minExecutors: z.min,
        maxExecutors: z.max,
        shuffleTrackingEnabled: true,
        shuffleTrackingTimeout: k.shuffle_tracking_timeout,
      },
      ...(k.volcano !== undefined
        ? {
            batchScheduler: 'volcano',
            batchSchedulerOptions: {
              queue: k.volcano.queue,
              ...(k.priority_class !== undefined ? { priorityClassName: k.priority_class } : {}),
              resources: gangResources(k, z, gpuPod),
            },
          }
        : {}),
      ...(k.ttl !== undefined ? { timeToLiveSeconds: Math.max(1, Math.round(k.ttl / 1000)) } : {}),
      volumes,
      driver: driverSpec(job, k, names.configMap),
      executor: executorSpec(job, k, z, gpuPod),
    },
  };
}

/** Renders a run: names, the pods' job.json, the ConfigMap and the SparkApplication(s). @throws SpecError */
export function renderRun(job: ResolvedJob, opts: RenderOptions = {}): RenderedRun {
  const k = k8sSpecOf(job, opts);
  checkJob(job, k);
  const names = runNames(job.name, job.run.id, k.phases);
  const jobJson = k8sJobJson(job, k);
  const configMap: K8sObject = {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: names.configMap, namespace: k.namespace, labels: runLabels(job, k) },
    data: { 'job.json': `${JSON.stringify(jobJson, null, 2)}\n` },
  };
  const apps = names.apps.map((a) => sparkApplication(job, k, names, a));
  const monitor = podMonitor(job, k, names);
  return { names, namespace: k.namespace, jobJson, configMap, apps, ...(monitor !== undefined ? { podMonitor: monitor } : {}) };
}

/** The objects to apply, in order: the ConfigMap, the SparkApplication(s), then the PodMonitor when asked for. */
export function renderK8s(job: ResolvedJob, opts: RenderOptions = {}): K8sObject[] {
  const r = renderRun(job, opts);
  return [r.configMap, ...r.apps, ...(r.podMonitor !== undefined ? [r.podMonitor] : [])];
}

/** Multi-document YAML of {@link renderK8s}, for `kubectl apply --server-side -f -`. */
export function renderK8sYaml(job: ResolvedJob, opts: RenderOptions = {}): string {
  const objects = renderK8s(job, opts);
  return objects
    .map((o, i) => {
      const doc = new Document(o);
      if (i === 0)
        doc.commentBefore = ` sparkinfer ${SPARKINFER_VERSION}: run ${job.run.id}. Apply with: kubectl apply --server-side -f FILE`;
      return doc.toString({ lineWidth: 0 });
    })
    .join('---\n');
}
