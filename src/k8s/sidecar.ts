/**
 * The engine sidecar of every GPU executor: a **native sidecar** (an init container with
 * `restartPolicy: Always`, Kubernetes >= 1.29). The kubelet starts it first and starts the Spark
 * executor only after its startupProbe passed, so the worker never polls for a port; it keeps
 * running beside the executor and is stopped after it.
 */
import { SpecError } from '../errors.ts';
import type { ResolvedJob } from '../jobfile/resolved.ts';
import { cpuCores, DEFAULT_VLLM_IMAGE, type K8sSpec } from '../jobfile/kubernetes.ts';

export type Obj = Record<string, unknown>;

export const ENGINE_CONTAINER = 'engine';
export const MODEL_CACHE_VOLUME = 'model-cache';
export const SHM_VOLUME = 'dshm';
const PROBE_PERIOD_S = 10;

/** `[{name, valueFrom: {secretKeyRef}}]`: the only way a secret reaches a pod. Values are never read. */
export function secretEnv(refs: K8sSpec['secrets']): Obj[] {
  return refs.map((r) => ({ name: r.env, valueFrom: { secretKeyRef: { name: r.secret, key: r.key } } }));
}

export function plainEnv(env: Record<string, string>): Obj[] {
  return Object.entries(env).map(([name, value]) => ({ name, value }));
}

/** The model the engine loads: explicit, else the job's launch model of the same engine, else the served name. */
export function engineModel(job: ResolvedJob, k: K8sSpec): string {
  if (k.engine.model !== undefined) return k.engine.model;
  const launch = job.engine.launch;
  if (launch === undefined) return job.model;
  if (launch.kind === k.engine.kind) return launch.model;
  // A local llama-server model (a GGUF) means nothing to vLLM: say so now, not after a 20-minute startup.
  throw new SpecError(
    `the job launches ${launch.kind} with \`${launch.model}\` locally, but the cluster engine is ${k.engine.kind}; set \`kubernetes.engine.model\` to what ${k.engine.kind} should load (e.g. a Hugging Face repo id)`,
  );
}

/** Flags sparkinfer sets itself; the same flag in `engine.args` would fight them. */
const OWNED_FLAGS: Record<K8sSpec['engine']['kind'], Record<string, string>> = {
  vllm: {
    '--model': '`kubernetes.engine.model`',
    '--served-model-name': "the job's `model`",
    '--port': '`kubernetes.engine.port`',
    '--host': "sparkinfer (0.0.0.0, for the kubelet's probes)",
    '--tensor-parallel-size': '`kubernetes.gpus_per_executor`',
    '-tp': '`kubernetes.gpus_per_executor`',
  },
  'llama-server': {
    '--model': '`kubernetes.engine.model`',
    '-m': '`kubernetes.engine.model`',
    '--alias': "the job's `model`",
    '--port': '`kubernetes.engine.port`',
    '--host': "sparkinfer (0.0.0.0, for the kubelet's probes)",
  },
  openai: {},
};

function checkArgs(k: K8sSpec): void {
  const owned = OWNED_FLAGS[k.engine.kind];
  k.engine.args.forEach((a, i) => {
    const flag = a.split('=')[0] ?? a;
    const by = owned[flag];
    if (by !== undefined) throw new SpecError(`kubernetes.engine.args[${i}]: \`${a}\` is set by ${by}; remove it from the args`);
  });
}

/** The engine's command and arguments (an argv: nothing reaches a shell). */
export function engineArgv(job: ResolvedJob, k: K8sSpec): { command?: string[]; args: string[] } {
  checkArgs(k);
  const port = String(k.engine.port);
  const model = engineModel(job, k);
  switch (k.engine.kind) {
    case 'vllm':
      // The stock image's entrypoint is `vllm serve`, which takes the model positionally (`--model` is deprecated there).
      return {
        command: ['vllm', 'serve'],
        args: [
          model,
          '--served-model-name',
          job.model,
          '--host',
          '0.0.0.0',
          '--port',
          port,
          ...(k.gpus_per_executor > 1 ? ['--tensor-parallel-size', String(k.gpus_per_executor)] : []),
          ...k.engine.args,
        ],
      };
    case 'llama-server': {
      const parallel =
        k.engine.parallel ?? (job.engine.launch?.kind === 'llama-server' ? job.engine.launch.parallel : 8 * k.tasks_per_engine);
      return {
        args: [
          '--model',
          model,
          '--alias',
          job.model,
          '--host',
          '0.0.0.0',
          '--port',
          port,
          '--metrics',
          '--parallel',
          String(parallel),
          ...(k.gpus_per_executor > 0 ? ['--n-gpu-layers', '999'] : cpuThreads(k)),
          ...(job.task === 'embed' ? ['--embeddings'] : []),
          ...k.engine.args,
        ],
      };
    }
    case 'openai':
      return { args: [...k.engine.args] };
  }
}

/**
 * `--threads` for a CPU llama-server: llama.cpp starts a thread per core of the node, so two engine
 * pods on one node oversubscribe it (on the local cluster one ran 5x slower than its peer). The
 * engine's CPU request, at least 1, unless engine.args sets it.
 */
function cpuThreads(k: K8sSpec): string[] {
  if (k.engine.args.some((a) => a === '-t' || a === '--threads' || a.startsWith('--threads='))) return [];
  return ['--threads', String(Math.max(1, Math.floor(cpuCores(k.engine.cpu))))];
}

function probe(k: K8sSpec, periodSeconds: number, failureThreshold: number, timeoutSeconds: number): Obj {
  return { httpGet: { path: k.engine.health_path, port: k.engine.port }, periodSeconds, failureThreshold, timeoutSeconds };
}

/**
 * Whether the engine gets a memory-backed /dev/shm (`engine.shm_size`); a container's default is
 * 64 MiB. vLLM always: its engine core and API server exchange data through shared memory and
 * refuse to start with under 160 MiB free, on one device too (found on the local cluster). Any
 * engine with tensor parallelism: NCCL exchanges data through it.
 */
function needsShm(k: K8sSpec): boolean {
  return k.engine.kind === 'vllm' || k.gpus_per_executor > 1;
}

/** The pod volumes the engine needs (added to `spec.volumes`). */
export function engineVolumes(k: K8sSpec): Obj[] {
  const c = k.engine.model_cache;
  const cache: Obj =
    c.type === 'pvc'
      ? { name: MODEL_CACHE_VOLUME, persistentVolumeClaim: { claimName: c.claim_name, ...(c.read_only ? { readOnly: true } : {}) } }
      : { name: MODEL_CACHE_VOLUME, hostPath: { path: c.path, type: c.read_only ? 'Directory' : 'DirectoryOrCreate' } };
  const vols = [cache];
  if (needsShm(k)) vols.push({ name: SHM_VOLUME, emptyDir: { medium: 'Memory', sizeLimit: `${k.engine.shm_size}Mi` } });
  return vols;
}

/**
 * Mounts of the engine volumes in the Spark executor container. The operator's webhook adds a
 * volume to a pod only when the Spark container mounts it, so the executor mounts them too (read-only).
 */
export function executorEngineMounts(k: K8sSpec): Obj[] {
  const mounts: Obj[] = [{ name: MODEL_CACHE_VOLUME, mountPath: k.engine.model_cache.mount_path, readOnly: true }];
  if (needsShm(k)) mounts.push({ name: SHM_VOLUME, mountPath: '/dev/shm' });
  return mounts;
}

/** The engine container, for the executor's `initContainers`. */
export function engineSidecar(job: ResolvedJob, k: K8sSpec, reservedEnv: ReadonlySet<string>): Obj {
  const e = k.engine;
  const hfHome = e.hf_home ?? `${e.model_cache.mount_path.replace(/\/+$/, '')}/hf`;
  for (const name of [...Object.keys(e.env), ...e.secrets.map((s) => s.env)]) {
    if (name === 'HF_HOME' || reservedEnv.has(name))
      throw new SpecError(
        `kubernetes.engine: \`${name}\` is set by sparkinfer${name === 'HF_HOME' ? '; use `kubernetes.engine.hf_home`' : ''}`,
      );
  }
  const gpus = k.gpus_per_executor;
  const mem = `${e.memory}Mi`;
  // A CPU engine (gpus_per_executor: 0) asks for no GPU at all, not for zero of them.
  const gpu = gpus > 0 ? { 'nvidia.com/gpu': gpus } : {};
  const argv = engineArgv(job, k);
  const mounts: Obj[] = [
    { name: MODEL_CACHE_VOLUME, mountPath: e.model_cache.mount_path, ...(e.model_cache.read_only ? { readOnly: true } : {}) },
  ];
  if (needsShm(k)) mounts.push({ name: SHM_VOLUME, mountPath: '/dev/shm' });
  return {
    name: ENGINE_CONTAINER,
    image: e.image ?? DEFAULT_VLLM_IMAGE,
    imagePullPolicy: k.image_pull_policy,
    ...(argv.command !== undefined ? { command: argv.command } : {}),
    args: argv.args,
    // Native sidecar: started before the executor, kept running beside it, stopped after it.
    restartPolicy: 'Always',
    ports: [{ name: 'engine', containerPort: e.port, protocol: 'TCP' }],
    env: [{ name: 'HF_HOME', value: hfHome }, ...plainEnv(e.env), ...secretEnv(e.secrets)],
    resources: {
      requests: { cpu: e.cpu, memory: mem, ...gpu },
      // No CPU limit: throttling the engine's scheduler thread costs throughput.
      limits: { memory: mem, ...gpu },
    },
    // Model download + load + CUDA graph capture: the executor waits for this, up to startup_timeout.
    startupProbe: probe(k, PROBE_PERIOD_S, Math.max(1, Math.ceil(e.startup_timeout / (PROBE_PERIOD_S * 1000))), 5),
    readinessProbe: probe(k, PROBE_PERIOD_S, 3, 5),
    // A wedged engine is restarted; the worker's outage pause rides it out without losing rows.
    livenessProbe: probe(k, 30, 4, 10),
    volumeMounts: mounts,
    // An engine that exits before it is healthy leaves its last log lines in the pod's status, where
    // the driver reads them (python/sparkinfer/sidecar_watch.py) to say why the run cannot start.
    terminationMessagePolicy: 'FallbackToLogsOnError',
    securityContext: { allowPrivilegeEscalation: false },
  };
}
