/**
 * The job file schema. This is the single source of truth for the job file: the CLI, the worker
 * and the Python driver (through the resolved `job.json`) all read what this schema produces.
 * Every field carries its default and its unit in JSDoc / `.describe()`.
 */
import { z } from 'zod';
import { KubernetesSpec } from './kubernetes.ts';
import { runDirProblem } from './uri.ts';
import { stageRules, stagesSpec } from './stages-schema.ts';
import { ObservabilitySpec } from './observability-schema.ts';

export { Duration } from './durations.ts';
import { Duration } from './durations.ts';

const Identifier = z.string().min(1);

export const InputFormat = z.enum(['json', 'parquet', 'csv', 'orc', 'text', 'table', 'sql', 'openai-batch']);
export const OutputFormat = z.enum(['parquet', 'json', 'csv', 'orc', 'table', 'openai-batch', 'delta', 'iceberg']);
export const OutputMode = z.enum(['error', 'overwrite', 'append', 'incremental']);
export const Task = z.enum(['generate', 'embed']);

export const InputSpec = z
  .strictObject({
    /** Input format. `json` reads JSON Lines. */
    format: InputFormat,
    /** File or directory path (file formats). */
    path: z.string().min(1).optional(),
    /** Table name (`format: table`). */
    table: z.string().min(1).optional(),
    /** Spark SQL query (`format: sql`). */
    query: z.string().min(1).optional(),
    /** Reader options passed to Spark's DataFrameReader, e.g. `{header: "true"}` for CSV. */
    options: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).default({}),
    /** A unique key column. Without it, a stable `_key` is derived from the row's content. `openai-batch`: always `custom_id`. */
    key: Identifier.optional(),
    /** `openai-batch` only: send each line's own `model` instead of the job's. Default false. */
    keep_model: z.boolean().default(false),
  })
  .superRefine((v, ctx) => {
    const need = v.format === 'table' ? 'table' : v.format === 'sql' ? 'query' : 'path';
    if (v[need] === undefined)
      ctx.addIssue({ code: 'custom', path: [need], message: `expected \`${need}\` for input format \`${v.format}\`` });
    if (v.format === 'openai-batch' && v.key !== undefined && v.key !== 'custom_id')
      ctx.addIssue({
        code: 'custom',
        path: ['key'],
        message: `the key of an \`openai-batch\` input is \`custom_id\`; remove \`key\` (got ${JSON.stringify(v.key)})`,
      });
    if (v.keep_model && v.format !== 'openai-batch')
      ctx.addIssue({
        code: 'custom',
        path: ['keep_model'],
        message: '`keep_model` is for `format: openai-batch` (other inputs have no model of their own)',
      });
  })
  // OpenAI Batch lines are keyed by their custom_id (it must be unique, like any key).
  .transform((v) => (v.format === 'openai-batch' ? { ...v, key: 'custom_id' } : v));

export const ChatMessage = z.strictObject({
  role: z.enum(['system', 'user', 'assistant']),
  /** A Jinja template over the row's columns. */
  content: z.string(),
});

export const PromptSpec = z
  .strictObject({
    /** `chat` sends /v1/chat/completions; `completions` sends /v1/completions. Default: chat. */
    api: z.enum(['chat', 'completions']).default('chat'),
    /** System message template (chat). */
    system: z.string().optional(),
    /** User message template (chat). */
    user: z.string().optional(),
    /** Full message list (chat); each content is a template. Exclusive with system/user. */
    messages: z.array(ChatMessage).min(1).optional(),
    /** Raw prompt template (completions). */
    text: z.string().optional(),
    /** HF chat template file or `gguf` (completions API only): renders the chat client-side. */
    chat_template: z.string().optional(),
  })
  .superRefine((p, ctx) => {
    const chatLike = p.system !== undefined || p.user !== undefined || p.messages !== undefined;
    if (p.messages !== undefined && (p.system !== undefined || p.user !== undefined)) {
      ctx.addIssue({ code: 'custom', path: ['messages'], message: 'expected either `messages` or `system`/`user`, not both' });
    }
    if (p.api === 'chat') {
      if (p.text !== undefined)
        ctx.addIssue({ code: 'custom', path: ['text'], message: '`text` is for `api: completions`; use `user` (and `system`) for chat' });
      if (p.user === undefined && p.messages === undefined)
        ctx.addIssue({ code: 'custom', path: ['user'], message: 'expected `user` or `messages` for `api: chat`' });
      if (p.chat_template !== undefined)
        ctx.addIssue({ code: 'custom', path: ['chat_template'], message: '`chat_template` needs `api: completions`' });
    } else if (p.chat_template !== undefined) {
      if (!chatLike)
        ctx.addIssue({ code: 'custom', path: ['user'], message: 'expected `user` or `messages` to render with `chat_template`' });
      if (p.text !== undefined)
        ctx.addIssue({ code: 'custom', path: ['text'], message: 'expected either `text` or chat messages with `chat_template`, not both' });
    } else {
      if (p.text === undefined)
        ctx.addIssue({
          code: 'custom',
          path: ['text'],
          message: 'expected `text` for `api: completions` (or `user` with `chat_template`)',
        });
      if (chatLike) ctx.addIssue({ code: 'custom', path: ['user'], message: 'chat fields need `api: chat` or a `chat_template`' });
    }
  });

export const SamplingSpec = z
  .looseObject({
    temperature: z.number().min(0).optional(),
    top_p: z.number().gt(0).max(1).optional(),
    top_k: z.number().int().optional(),
    min_p: z.number().min(0).max(1).optional(),
    /** Maximum completion tokens. Default 256. */
    max_tokens: z.number().int().positive().default(256),
    repetition_penalty: z.number().positive().optional(),
    presence_penalty: z.number().optional(),
    frequency_penalty: z.number().optional(),
    seed: z.number().int().optional(),
    stop: z.union([z.string(), z.array(z.string())]).optional(),
    /** Generate exactly max_tokens (benchmarks). llama-server and vLLM honour it. */
    ignore_eos: z.boolean().optional(),
    /**
     * Engine-specific body fields, merged into every request as written (no renaming, never
     * dropped, no warning): `extra: { mirostat: 2 }`. Other keys of `sampling` that the engine
     * kind does not document are sent too, but `validate` and `run` warn about them
     * (src/engine/sampling-keys.ts).
     */
    extra: z.record(z.string(), z.unknown()).optional(),
  })
  .superRefine((s, ctx) => {
    const all = s as Record<string, unknown>;
    const extra: Record<string, unknown> = s.extra ?? {};
    const check = (k: string, v: unknown, path: (string | number)[]): void => {
      if ((k === 'n' || k === 'best_of') && v !== undefined && v !== 1)
        ctx.addIssue({ code: 'custom', path, message: `\`${k}\` > 1 is not supported: sparkinfer writes one result per row` });
      if (['stream', 'logprobs', 'top_logprobs', 'echo'].includes(k) && v !== undefined && v !== false && v !== null)
        ctx.addIssue({ code: 'custom', path, message: `\`${k}\` is not supported in batch jobs` });
    };
    for (const k of ['n', 'best_of', 'stream', 'logprobs', 'top_logprobs', 'echo']) check(k, all[k], [k]);
    for (const [k, v] of Object.entries(extra)) {
      check(k, v, ['extra', k]);
      if (k in all && k !== 'extra')
        ctx.addIssue({ code: 'custom', path: ['extra', k], message: `\`${k}\` is set in \`sampling\` already; keep one` });
      if (['model', 'messages', 'prompt', 'input'].includes(k))
        ctx.addIssue({ code: 'custom', path: ['extra', k], message: `\`${k}\` is set by sparkinfer from the job; remove it` });
    }
  });

export const ResponseSpec = z
  .strictObject({
    /** `text` (default) or `json` (constrained decoding, validated against `schema`). */
    format: z.enum(['text', 'json']).default('text'),
    /** JSON Schema for `format: json`: the supported subset is in docs/batch-kinds.md. The `json` column's struct type comes from it. */
    schema: z.record(z.string(), z.unknown()).optional(),
    /** `task: embed`: the embedding length every row must have (checked, not sent). Default: the first vector each worker receives sets it. */
    embedding_dim: z.number().int().positive().optional(),
  })
  .superRefine((r, ctx) => {
    if (r.format === 'json' && r.schema === undefined)
      ctx.addIssue({ code: 'custom', path: ['schema'], message: 'expected a JSON schema for `format: json`' });
    if (r.format !== 'json' && r.schema !== undefined)
      ctx.addIssue({ code: 'custom', path: ['schema'], message: '`schema` needs `format: json`' });
    // Whether sparkinfer supports the schema itself is a rule of src/response/: src/validate/rules.ts adds it.
  });

export { EngineKind, engineKindOf, EngineSpec, LaunchSpec } from './engine-schema.ts';
import { EngineSpec } from './engine-schema.ts';

export const OutputSpec = z
  .strictObject({
    format: OutputFormat.default('parquet'),
    path: z.string().min(1).optional(),
    table: z.string().min(1).optional(),
    /** `error` (default): refuse to write over an existing output. `incremental` (delta, iceberg): infer only new, changed and failed rows, one MERGE (docs/storage.md). */
    mode: OutputMode.default('error'),
    /** `output.mode: incremental`: keys gone from the input are deleted from the table (`delete`, the default) or kept. */
    on_missing: z.enum(['delete', 'keep']).optional(),
    /** Input columns copied to the output unchanged. */
    include: z.array(Identifier).default([]),
    /** Add a `request` column holding the exact JSON body sent. */
    include_request: z.boolean().default(false),
    partition_by: z.array(Identifier).default([]),
    /** Output file count: `auto` (Spark's) or a number of files. */
    files: z.union([z.literal('auto'), z.number().int().positive()]).default('auto'),
  })
  .superRefine((o, ctx) => {
    const need = o.format === 'table' ? 'table' : 'path';
    if (o[need] === undefined)
      ctx.addIssue({ code: 'custom', path: [need], message: `expected \`${need}\` for output format \`${o.format}\`` });
    if (o.mode === 'incremental' && o.format !== 'delta' && o.format !== 'iceberg')
      ctx.addIssue({
        code: 'custom',
        path: ['mode'],
        message: '`incremental` needs `output.format: delta` or `iceberg` (a table to merge into)',
      });
    if (o.on_missing !== undefined && o.mode !== 'incremental')
      ctx.addIssue({ code: 'custom', path: ['on_missing'], message: '`on_missing` is for `output.mode: incremental`' });
  });

/** S3A credential keys: a job file is copied into the run directory (job.json), so keys never go in it. */
const S3A_SECRET_CONF = /^spark\.hadoop\.fs\.s3a\.(bucket\.[^.]+\.)?(access\.key|secret\.key|session\.token)$/;

export const SparkSpec = z.strictObject({
  /** Spark master. Default `local[*,4]`: all cores, 4 attempts per task. */
  master: z.string().default('local[*,4]'),
  /** Inference partitions: `auto` or a number. */
  partitions: z.union([z.literal('auto'), z.number().int().positive()]).default('auto'),
  /** Extra Spark configuration (`spark.*` keys). S3 credentials are refused here: they come from the AWS environment (docs/storage.md). */
  conf: z
    .record(z.string(), z.union([z.string(), z.number(), z.boolean()]))
    .default({})
    .superRefine((c, ctx) => {
      for (const k of Object.keys(c)) {
        if (S3A_SECRET_CONF.test(k))
          ctx.addIssue({
            code: 'custom',
            path: [k],
            message:
              'S3 credentials do not go in the job file (it is copied into the run directory): set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN), or AWS_PROFILE, in the environment',
          });
      }
    }),
  /** Enable Hive support (metastore tables). */
  hive: z.boolean().default(false),
});

export const ResumeSpec = z.strictObject({
  /**
   * Run directory root (ledger, logs, stats): a local path, or one every executor mounts. Default:
   * `<output.path>.sparkinfer` beside a local output; `sparkinfer-runs/<output>` beside the job file
   * for an output on a URI store (s3a://, hdfs://) or a table.
   */
  dir: z
    .string()
    .min(1)
    .superRefine((d, ctx) => {
      const problem = runDirProblem(d);
      if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
    })
    .optional(),
});

/** S3-compatible stores (s3a://): the few fs.s3a.* options every such job sets; any other goes in `spark.conf` as `spark.hadoop.fs.s3a.…`. Credentials never go here: they come from the AWS environment (docs/storage.md). */
export const StorageSpec = z.strictObject({
  /** `fs.s3a.endpoint`: the store's URL, e.g. `https://minio.example.com:9000`. Default: AWS S3. */
  endpoint: z
    .string()
    .regex(/^https?:\/\/[^\s/]+(\/.*)?$/, 'expected an http:// or https:// URL')
    .optional(),
  /** `fs.s3a.endpoint.region`, e.g. `eu-west-1`. */
  region: z.string().min(1).optional(),
  /** `fs.s3a.path.style.access`: `true` for most S3-compatible servers (bucket in the path, not the host name). */
  path_style: z.boolean().optional(),
});

export const LimitsSpec = z.strictObject({
  /** Fail the job when more than this fraction of rows failed. Default 0.01. */
  max_failed_fraction: z.number().min(0).max(1).default(0.01),
  /** The budget applies only after this many rows have finished. Default 100. */
  min_rows_for_budget: z.number().int().min(0).default(100),
  /** Spend budgets of one run (docs/reliability.md "Spend budgets"): once reached, the run stops dispatching, keeps what finished in the ledger, writes no output and exits 1; the same command continues. */
  max_completion_tokens: z.number().int().positive().optional(),
  max_prompt_tokens: z.number().int().positive().optional(),
  /** Wall time of one run, e.g. `30m`. */
  max_wall: Duration.optional(),
});

/** A price: a finite number from 0 up (in the user's currency; sparkinfer prints it as given). */
const Price = z.number().min(0);

/**
 * `sparkinfer estimate`'s prices (README "Estimating a job"). Optional, read by the CLI only, and
 * not part of the job's identity (like `limits`). With a price the projection prints a cost.
 */
export const EstimateSpec = z
  .strictObject({
    /** What the run's engines cost together per hour of wall time, e.g. `2.5` for one GPU at 2.5 an hour. */
    price_per_hour: Price.optional(),
    /** Price of a million prompt tokens (an API priced per token). */
    price_per_million_prompt_tokens: Price.optional(),
    /** Price of a million completion tokens. */
    price_per_million_completion_tokens: Price.optional(),
  })
  .superRefine((e, ctx) => {
    if (
      e.price_per_hour === undefined &&
      e.price_per_million_prompt_tokens === undefined &&
      e.price_per_million_completion_tokens === undefined
    )
      ctx.addIssue({
        code: 'custom',
        message: 'expected a price: `price_per_hour`, `price_per_million_prompt_tokens` or `price_per_million_completion_tokens`',
      });
  });

/** The `kubernetes:` section (render/submit --target k8s): src/jobfile/kubernetes.ts. */
export { KubernetesSpec };

/** The job's fields, with `response` as given (src/validate/ passes one with its own rules added). */
function jobObject(response: typeof ResponseSpec) {
  return z.strictObject({
    /** Job name: letters, digits and dashes (used in run ids and Kubernetes names). */
    name: z.string().regex(/^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$/, 'expected lowercase letters, digits and dashes, at most 40 characters'),
    task: Task.default('generate'),
    input: InputSpec,
    /** Required, except for `input.format: openai-batch`, whose lines carry their own request bodies, and a job with `stages:`. */
    prompt: PromptSpec.optional(),
    /** Several prompts over the same rows, in order (docs/stages.md); exclusive with `prompt`. */
    stages: stagesSpec(PromptSpec, SamplingSpec, response).optional(),
    /** Model name sent as `model`; launched engines serve under this name. */
    model: z.string().min(1),
    sampling: SamplingSpec.prefault({}),
    response: response.prefault({}),
    engine: EngineSpec,
    output: OutputSpec,
    spark: SparkSpec.prefault({}),
    resume: ResumeSpec.prefault({}),
    /** Object-store settings (s3a://); see docs/storage.md. */
    storage: StorageSpec.optional(),
    limits: LimitsSpec.prefault({}),
    /** Prices for `sparkinfer estimate`'s cost line. */
    estimate: EstimateSpec.optional(),
    kubernetes: KubernetesSpec.optional(),
    observability: ObservabilitySpec.prefault({}),
  });
}

/** The job as zod sees it before the defaults of the top-level transform (prompt still optional). */
export type JobBeforeDefaults = z.output<ReturnType<typeof jobObject>>;
/** A rule over the whole job that needs code above src/jobfile/ (src/validate/rules.ts). */
export type JobRule = (j: JobBeforeDefaults, ctx: z.core.$RefinementCtx) => void;

/**
 * The job schema with extra rules: `response` for the response section, `rule` for the whole job.
 * `JobSpec` is the schema alone; src/validate/ builds the one the loader uses, with every rule.
 */
export function jobSchema(response: typeof ResponseSpec = ResponseSpec, rule?: JobRule) {
  return (
    jobObject(response)
      .superRefine((j, ctx) => {
        const taken = new Set(RESULT_COLUMNS);
        j.output.include.forEach((c, i) => {
          if (taken.has(c))
            ctx.addIssue({
              code: 'custom',
              path: ['output', 'include', i],
              message: `\`${c}\` collides with a result column; rename it in the input`,
            });
        });
        kindChecks(j, ctx);
        stageRules(j, RESULT_COLUMNS, ctx);
        rule?.(j, ctx);
      })
      // An openai-batch job (and a staged one: its prompts are in `stages`) has no prompt of its own; downstream code sees an empty chat prompt.
      .transform((j): Omit<typeof j, 'prompt'> & { prompt: NonNullable<typeof j.prompt> } => ({
        ...j,
        prompt: j.prompt ?? { api: 'chat' },
      }))
  );
}

/** The job file's schema, without the rules of src/validate/ (those need code above this folder). */
export const JobSpec = jobSchema();

/** Cross-section rules of the batch kinds (docs/batch-kinds.md): structured output, embeddings, OpenAI Batch files. */
function kindChecks(j: JobBeforeDefaults, ctx: z.core.$RefinementCtx): void {
  const issue = (path: (string | number)[], message: string): void => ctx.addIssue({ code: 'custom', path, message });
  const batchIn = j.input.format === 'openai-batch';
  if (batchIn) {
    if (j.prompt !== undefined) issue(['prompt'], 'an `openai-batch` input carries its own request bodies; remove `prompt`');
    if (j.task !== 'generate') issue(['task'], "with an `openai-batch` input each line's `url` picks the endpoint; remove `task`");
    if (j.response.format !== 'text')
      issue(['response', 'format'], 'with an `openai-batch` input each body carries its own `response_format`; remove `response`');
  } else if (j.prompt === undefined && j.stages === undefined) {
    // Shaped like zod's own "missing field" issue, so the loader reports it (or its typo) the same way.
    ctx.addIssue({ code: 'invalid_type', expected: 'object', input: undefined, path: ['prompt'], message: 'missing required field' });
  }
  if (j.output.format === 'openai-batch') {
    if (!batchIn)
      issue(['output', 'format'], '`output.format: openai-batch` needs `input.format: openai-batch` (each line answers a custom_id)');
    if (j.output.mode === 'append')
      issue(['output', 'mode'], '`openai-batch` output is one set of lines per run; use `error` or `overwrite`');
    if (j.output.include.length > 0) issue(['output', 'include'], '`openai-batch` output lines have a fixed shape; remove `include`');
    if (j.output.partition_by.length > 0) issue(['output', 'partition_by'], '`openai-batch` output cannot be partitioned');
    if (j.output.include_request)
      issue(['output', 'include_request'], '`openai-batch` output lines have a fixed shape; remove `include_request`');
  }
  if (j.response.format === 'json' && j.output.format === 'csv')
    issue(
      ['output', 'format'],
      '`output.format: csv` cannot hold the `json` struct column of `response.format: json`; use parquet, orc or json',
    );
  if (j.task === 'embed' && j.response.format === 'json')
    issue(['response', 'format'], '`task: embed` returns vectors; `response.format: json` is for `task: generate`');
  if (j.task !== 'embed' && j.response.embedding_dim !== undefined)
    issue(['response', 'embedding_dim'], '`embedding_dim` is for `task: embed`');
}

/** Result columns the output always has (besides the key and included columns). */
export const RESULT_COLUMNS: readonly string[] = [
  'text',
  'reasoning',
  'json',
  'embedding',
  'finish_reason',
  'prompt_tokens',
  'completion_tokens',
  'latency_ms',
  'attempts',
  'error_code',
  'error_message',
  'model',
  'run_id',
  'request',
];

export type JobSpecInput = z.input<typeof JobSpec>;
export type Job = z.output<typeof JobSpec>;
