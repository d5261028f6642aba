/**
 * The job file's `kubernetes:` section: everything `render --target k8s` needs beyond the job
 * itself. Defaults are the ones a platform team would accept: a dedicated service account, GPU
 * tolerations, dynamic allocation that gives GPUs back, bounded retries, pinned images.
 *
 * Part of the job file's schema (src/jobfile/schema.ts imports it); src/k8s/ reads it. Kept free of
 * imports from `schema.ts` so the module graph has no cycle.
 */
import { z } from 'zod';
import { parseDuration } from './units.ts';
import { SPARKINFER_VERSION } from './version.ts';

export { SPARKINFER_VERSION };

/**
 * The sparkinfer image (Spark + Node 24 + the bundled worker + the Python driver, deploy/Dockerfile).
 * The tag follows the package version; override with `kubernetes.image` or the CLI.
 */
export const DEFAULT_IMAGE = `ghcr.io/sparkinfer/sparkinfer:${SPARKINFER_VERSION}`;
/** The stock vLLM OpenAI-compatible server image, pinned (never `latest`). */
export const DEFAULT_VLLM_IMAGE = 'vllm/vllm-openai:v0.33.0';
/** Matches the pyspark pinned by scripts/setup.sh and the Dockerfile's base image. */
export const DEFAULT_SPARK_VERSION = '4.0.1';

/** A duration with a unit (`30s`, `10m`), parsed to milliseconds, as in the rest of the job file. */
const Duration = z.string({ error: 'expected a duration with a unit, like "30s" or "10m"' }).transform((s, ctx) => {
  const ms = parseDuration(s);
  if (ms === undefined) {
    ctx.addIssue({ code: 'custom', message: `expected a duration with a unit (ms, s, m, h), like "10m", got ${JSON.stringify(s)}` });
    return z.NEVER;
  }
  return ms;
});

const MEMORY_UNITS_MIB: Record<string, number> = { k: 1 / 1024, m: 1, g: 1024, t: 1024 * 1024 };

/** Parses `512m`, `512Mi`, `4g`, `4Gi`, `1.5g` to MiB (rounded up); undefined when invalid. A bare number is invalid. */
export function parseMemoryMiB(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)([kmgt])(i|ib|b)?$/i.exec(text.trim());
  if (m === null) return undefined;
  const mib = Number(m[1]) * (MEMORY_UNITS_MIB[(m[2] ?? '').toLowerCase()] ?? Number.NaN);
  return Number.isFinite(mib) && mib > 0 ? Math.ceil(mib) : undefined;
}

/** A memory size with a unit (`512m`, `4g`, `4Gi`), parsed to MiB. */
const Memory = z.string({ error: 'expected a memory size with a unit, like "4g" or "512Mi"' }).transform((s, ctx) => {
  const mib = parseMemoryMiB(s);
  if (mib === undefined) {
    ctx.addIssue({
      code: 'custom',
      message: `expected a memory size with a unit (k, m, g, t; Mi/Gi also accepted), like "4g", got ${JSON.stringify(s)}`,
    });
    return z.NEVER;
  }
  return mib;
});

/** Kubernetes CPU quantity: `2`, `500m`, `1.5`. */
const Cpu = z
  .union([z.number().positive(), z.string().regex(/^(\d+(\.\d+)?|\d+m)$/, 'expected a CPU quantity like "2", "1.5" or "500m"')])
  .transform(String);

/** `2` → 2, `1.5` → 1.5, `500m` → 0.5 (Cpu validates quantities to these forms). */
export function cpuCores(q: string): number {
  return q.endsWith('m') ? Number(q.slice(0, -1)) / 1000 : Number(q);
}

const EnvName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'expected an environment variable name');
/** DNS-1123 label: Kubernetes object names such as a PVC, a secret, a namespace or a service account. */
const DnsLabel = z
  .string()
  .regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, 'expected a Kubernetes name: lowercase letters, digits and dashes, at most 63 characters');
const DnsSubdomain = z
  .string()
  .max(253)
  .regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, 'expected a Kubernetes name: lowercase letters, digits, dots and dashes');

/** A secret reference: the pod gets env `env` from `secretKeyRef {name: secret, key}`. Values never appear in a manifest. */
export const SecretRef = z.strictObject({
  /** Environment variable set in the container. */
  env: EnvName,
  /** Name of the Kubernetes Secret. */
  secret: DnsSubdomain,
  /** Key inside the Secret. */
  key: z.string().regex(/^[-._a-zA-Z0-9]+$/, 'expected a Secret key: letters, digits, `-`, `_` and `.`'),
});

/** Names that look like secrets must come through `secrets`, never as plain `env` values. */
const SECRET_LIKE = /(^|_)(API_?KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIALS?)($|_)/i;

const PlainEnv = z
  .record(EnvName, z.string())
  .default({})
  .superRefine((env, ctx) => {
    for (const k of Object.keys(env)) {
      if (SECRET_LIKE.test(k))
        ctx.addIssue({
          code: 'custom',
          path: [k],
          message: `\`${k}\` looks like a secret: reference it with \`secrets: [{env: ${k}, secret: NAME, key: KEY}]\` instead of a plain value`,
        });
    }
  });

export const Toleration = z.strictObject({
  key: z.string().optional(),
  operator: z.enum(['Exists', 'Equal']).optional(),
  value: z.string().optional(),
  effect: z.enum(['NoSchedule', 'PreferNoSchedule', 'NoExecute']).optional(),
  tolerationSeconds: z.number().int().optional(),
});

/** GPU nodes are usually tainted `nvidia.com/gpu:NoSchedule` (GKE, EKS and the GPU operator do it). */
export const GPU_TOLERATION = { key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' } as const;

export const ModelCacheSpec = z
  .strictObject({
    /** `pvc` (default, shared ReadWriteMany or ReadOnlyMany claim) or `hostPath` (a per-node cache directory). */
    type: z.enum(['pvc', 'hostPath']).default('pvc'),
    /** PVC name for `type: pvc`. Default `sparkinfer-models`. */
    claim_name: DnsSubdomain.default('sparkinfer-models'),
    /** Node directory for `type: hostPath`. */
    path: z.string().startsWith('/', 'expected an absolute path').optional(),
    /** Where the cache appears in the engine container. Default `/models`. */
    mount_path: z.string().startsWith('/', 'expected an absolute path').default('/models'),
    /** Mount the cache read-only (pre-populated caches). Default false: the engine may download into it. */
    read_only: z.boolean().default(false),
  })
  .superRefine((c, ctx) => {
    if (c.type === 'hostPath' && c.path === undefined)
      ctx.addIssue({ code: 'custom', path: ['path'], message: 'expected `path` (a node directory) for `model_cache.type: hostPath`' });
  });

export const K8sEngineSpec = z.strictObject({
  /** Engine served by the sidecar. Default `vllm`. */
  kind: z.enum(['vllm', 'llama-server', 'openai']).default('vllm'),
  /** Engine image. Default {@link DEFAULT_VLLM_IMAGE} for `vllm`; `llama-server` and `openai` need one (a CUDA build of your choice). */
  image: z.string().min(1).optional(),
  /** Model to load (HF repo id or a path under `model_cache.mount_path`). Default: `engine.launch.model` of a vllm launch, else the job's `model`. */
  model: z.string().min(1).optional(),
  /** Extra engine arguments (argv, never a shell string), appended after the generated ones. */
  args: z.array(z.string()).default([]),
  /** Port the engine listens on inside the pod; the worker is wired to `http://127.0.0.1:<port>/v1`. Default 8000. */
  port: z.number().int().min(1024).max(65535).default(8000),
  /** Health endpoint probed by the kubelet. Default `/health` (vLLM and llama-server). */
  health_path: z.string().startsWith('/').default('/health'),
  /** How long the engine may take to become healthy (model download + load + warm-up). Default 20m. */
  startup_timeout: Duration.prefault('20m'),
  /** CPU request of the engine container. Default 4. */
  cpu: Cpu.default('4'),
  /** Memory request and limit of the engine container. Default 32g. */
  memory: Memory.prefault('32g'),
  /** Size of the memory-backed `/dev/shm` of a vLLM engine (its processes share memory, 160 MiB at least) or any engine with tensor parallelism (NCCL uses it). Default 8g. */
  shm_size: Memory.prefault('8g'),
  /** llama-server slots (`--parallel`). Default: `engine.launch.parallel` of the job, else 8 per task. */
  parallel: z.number().int().positive().optional(),
  model_cache: ModelCacheSpec.prefault({}),
  /** `HF_HOME` for the engine. Default `<model_cache.mount_path>/hf`. */
  hf_home: z.string().startsWith('/').optional(),
  /** Plain (non-secret) environment variables of the engine container. */
  env: PlainEnv,
  /** Secret environment variables of the engine container (e.g. `HF_TOKEN`, `VLLM_API_KEY`). */
  secrets: z.array(SecretRef).default([]),
});

export const KubernetesSpec = z
  .strictObject({
    /** Namespace of the SparkApplication and its ConfigMap. Default `default`. */
    namespace: DnsLabel.default('default'),
    /** The sparkinfer image for driver and executors. Default {@link DEFAULT_IMAGE}. */
    image: z.string().min(1).default(DEFAULT_IMAGE),
    image_pull_policy: z.enum(['Always', 'IfNotPresent', 'Never']).default('IfNotPresent'),
    /** Names of image pull secrets. */
    image_pull_secrets: z.array(DnsSubdomain).default([]),
    /** Service account of driver and executors (the driver creates executor pods with it). Default `sparkinfer`. */
    service_account: DnsSubdomain.default('sparkinfer'),
    /** Spark version of the image. Default 4.0.1. */
    spark_version: z
      .string()
      .regex(/^\d+\.\d+\.\d+$/, 'expected a Spark version like "4.0.1"')
      .default(DEFAULT_SPARK_VERSION),
    driver: z
      .strictObject({
        /** Driver cores. Default 1. */
        cores: z.number().int().positive().default(1),
        /** Kubernetes CPU request of the driver container (e.g. `500m` on a small node). Default: `cores`. */
        core_request: Cpu.optional(),
        /** Driver JVM heap. Default 2g. */
        memory: Memory.prefault('2g'),
      })
      .prefault({}),
    executors: z
      .strictObject({
        /** Lower bound of dynamic allocation. Default 0: every GPU goes back when work runs out. */
        min: z.number().int().min(0).default(0),
        /** Upper bound of dynamic allocation (= GPUs / gpus_per_executor at most). Default 2. */
        max: z.number().int().positive().default(2),
        /** Executors requested at start. Default: `max` (inference needs them all as soon as it starts). */
        initial: z.number().int().min(0).optional(),
        /** Executor cores (Spark task slots). Default: `tasks_per_engine`. */
        cores: z.number().int().positive().optional(),
        /** Kubernetes CPU request of the executor container; tasks mostly wait on the engine. Default: `cores`. */
        core_request: Cpu.optional(),
        /** Executor JVM heap. Default 4g. */
        memory: Memory.prefault('4g'),
        /** Base off-heap overhead; the workers' memory is added to it. Default: max(384m, 10% of memory). */
        memory_overhead: Memory.optional(),
      })
      .prefault({})
      .superRefine((e, ctx) => {
        if (e.min > e.max) ctx.addIssue({ code: 'custom', path: ['min'], message: `expected \`min\` <= \`max\` (${e.max}), got ${e.min}` });
        if (e.initial !== undefined && (e.initial < e.min || e.initial > e.max))
          ctx.addIssue({
            code: 'custom',
            path: ['initial'],
            message: `expected \`initial\` between \`min\` (${e.min}) and \`max\` (${e.max}), got ${e.initial}`,
          });
      }),
    /**
     * GPUs per executor, all given to the engine sidecar. Above 1 turns on tensor parallelism;
     * 0 is a CPU engine (e.g. llama-server on CPU nodes): no GPU is requested. Default 1.
     */
    gpus_per_executor: z.number().int().min(0).default(1),
    /** Spark tasks that feed one engine concurrently (= executor cores). Default 4. */
    tasks_per_engine: z.number().int().positive().default(4),
    /** Memory of one worker process (one per task), counted in the executor's memoryOverhead. Default 256m. */
    worker_memory: Memory.prefault('256m'),
    engine: K8sEngineSpec.prefault({}),
    /** ReadWriteMany PVC holding the run directories (ledger, stats, logs), mounted on driver and executors. */
    run_volume: z
      .strictObject({
        /** PVC name. Default `sparkinfer-runs`. */
        claim_name: DnsSubdomain.default('sparkinfer-runs'),
        /** Mount path; runs live in `<mount_path>/<job name>/<run id>`. Default `/var/lib/sparkinfer/runs`. */
        mount_path: z.string().startsWith('/', 'expected an absolute path').default('/var/lib/sparkinfer/runs'),
      })
      .prefault({}),
    /** Gang-schedule with Volcano in this queue (`batchScheduler: volcano`). */
    volcano: z.strictObject({ queue: DnsSubdomain.default('default') }).optional(),
    /** Application retries after a failure (restartPolicy OnFailure). Default 3. */
    retries: z.number().int().min(0).default(3),
    /** Wait between application retries. Default 1m. */
    retry_interval: Duration.prefault('1m'),
    /** `spark.task.maxFailures`: attempts per task. Default 4. */
    task_max_failures: z.number().int().positive().default(4),
    /** Labels on the SparkApplication and its pods. */
    labels: z.record(z.string(), z.string()).default({}),
    /** Annotations on the SparkApplication and its pods. */
    annotations: z.record(z.string(), z.string()).default({}),
    /** Node selector of executor pods (GPU nodes), e.g. `{nvidia.com/gpu.product: NVIDIA-H100-80GB-HBM3}`. */
    node_selector: z.record(z.string(), z.string()).default({}),
    /** Tolerations of executor pods. Default: the `nvidia.com/gpu` NoSchedule taint. */
    tolerations: z.array(Toleration).default([{ ...GPU_TOLERATION }]),
    /** PriorityClass of driver and executor pods. */
    priority_class: DnsSubdomain.optional(),
    /** Secret environment variables of driver and executors (the worker's `engine.api_key_env`, storage credentials). */
    secrets: z.array(SecretRef).default([]),
    /** Plain (non-secret) environment variables of driver and executors. */
    env: PlainEnv,
    /** `spark.dynamicAllocation.shuffleTracking.timeout`: executors holding shuffle data give their GPUs back after it. Default 10m. */
    shuffle_tracking_timeout: Duration.prefault('10m'),
    /** Dynamic allocation: idle executors (and GPUs) are released after this. Default 60s. */
    executor_idle_timeout: Duration.prefault('60s'),
    /** Delete the SparkApplication (and its pods) this long after it finishes (`timeToLiveSeconds`). Default: kept. */
    ttl: Duration.optional(),
    /** `one` (default) or `two`: a CPU-only prepare application, then a GPU infer application. */
    phases: z.enum(['one', 'two']).default('one'),
    /** Executors of the prepare application (`phases: two`): CPU only. */
    prepare_executors: z
      .strictObject({
        max: z.number().int().positive().default(4),
        cores: z.number().int().positive().default(4),
        memory: Memory.prefault('8g'),
      })
      .prefault({}),
  })
  .superRefine((k, ctx) => {
    if (k.engine.kind !== 'vllm' && k.engine.image === undefined)
      ctx.addIssue({
        code: 'custom',
        path: ['engine', 'image'],
        message: `expected \`image\` for \`engine.kind: ${k.engine.kind}\` (only vllm has a default image)`,
      });
    const seen = new Set<string>();
    k.secrets.forEach((s, i) => {
      if (seen.has(s.env)) ctx.addIssue({ code: 'custom', path: ['secrets', i, 'env'], message: `\`${s.env}\` is listed twice` });
      seen.add(s.env);
      if (s.env in k.env)
        ctx.addIssue({ code: 'custom', path: ['secrets', i, 'env'], message: `\`${s.env}\` is both a secret and a plain env variable` });
    });
  });

export type KubernetesSpecInput = z.input<typeof KubernetesSpec>;
export type K8sSpec = z.output<typeof KubernetesSpec>;
