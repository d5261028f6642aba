/**
 * The job file's `engine` section: the engine kind, a launched engine (`launch`) and the client's
 * settings (concurrency, timeouts, retries, prefix order, rate limit). Part of the job schema
 * (schema.ts, which re-exports it); split out to keep each file to one section of the contract.
 */
import { z } from 'zod';
import { Duration } from './durations.ts';
export const EngineKind = z.enum(['llama-server', 'vllm', 'openai']);

/** The adapter a job talks to: `engine.kind`, else the launched kind, else the generic `openai`. */
export function engineKindOf(job: {
  engine: { kind?: z.infer<typeof EngineKind> | undefined; launch?: { kind: 'llama-server' | 'vllm' } | undefined };
}): z.infer<typeof EngineKind> {
  return job.engine.kind ?? job.engine.launch?.kind ?? 'openai';
}

export const LaunchSpec = z.strictObject({
  /** Which engine to start locally. */
  kind: z.enum(['llama-server', 'vllm']),
  /** `smollm2-135m-instruct` (the demo model that setup fetches) or a path to a model file/dir. */
  model: z.string().min(1),
  /** Extra engine arguments, as an argv list (never a shell string). */
  args: z.array(z.string()).default([]),
  /** Engine slots (llama-server `--parallel`). Default 8. */
  parallel: z.number().int().positive().default(8),
  /** Engine threads (llama-server `--threads`). Default: all cores but max(1, cores / 8) (launch/command.ts `defaultEngineThreads`). */
  threads: z.number().int().positive().optional(),
  /** Context size per slot in tokens (llama-server's `--ctx-size` is slots × this). Default 2048. */
  ctx_per_slot: z.number().int().positive().default(2048),
  /** How many times a crashed engine is restarted in one run. Default 3. */
  max_restarts: z.number().int().min(0).default(3),
  /** Start an embeddings-only instance (`--embeddings`). Set automatically for `task: embed`. */
  embeddings: z.boolean().optional(),
});

export const EngineSpec = z
  .strictObject({
    /** OpenAI-compatible base URL including `/v1`. Ignored (filled in) when `launch` is set. */
    endpoint: z.url().optional(),
    /** Which adapter to use. Default: the launched kind, else `openai` (generic). */
    kind: EngineKind.optional(),
    /** Start an engine for this run. */
    launch: LaunchSpec.optional(),
    /** In-flight requests per worker: `auto` (adaptive) or a fixed number. Default auto. */
    concurrency: z.union([z.literal('auto'), z.number().int().positive()]).default('auto'),
    /** Lower bound for `auto`. Default 1. */
    concurrency_min: z.number().int().positive().default(1),
    /** Upper bound for `auto`. Default 512. */
    concurrency_max: z.number().int().positive().default(512),
    /** Per-request timeout (headers and body). Default 10m. */
    request_timeout: Duration.prefault('10m'),
    /** How long to wait for `/health` at start. Default 10m. */
    startup_timeout: Duration.prefault('10m'),
    /** How long a worker waits for an engine that stopped answering. Default 10m. */
    outage_timeout: Duration.prefault('10m'),
    /** Retries per request for retryable failures. Default 4. */
    retries: z.number().int().min(0).default(4),
    /**
     * Shared prompt prefixes (docs/prefix-plan.md): `auto` makes Spark place rows that share a
     * prefix (the prompt's columns but the last) in one partition, and the worker dispatch them as
     * the engine's cache wants (one group per slot on llama-server, a group at a time on vLLM);
     * prefix-free data is left alone. `off` keeps Spark's order and the FIFO. Default `auto`: the
     * full bench g run (bench/results/2026-12-05-full-g-*) met every target, prefix-free data at
     * 0.98 of `off`.
     */
    prefix_order: z.enum(['auto', 'off']).default('auto'),
    /** `task: embed`: rows sent together in one /v1/embeddings request (`input: [..]`). Default 16. */
    embed_batch: z.number().int().positive().max(2048).default(16),
    /**
     * A known rate limit on the endpoint (docs/scheduler.md, "Rate limits"): `requests_per_minute`
     * (requests) and/or `tokens_per_minute` (prompt plus completion tokens), each a number above 0,
     * at least one. Each worker paces its sends to its share: the limit divided by the workers of
     * its host that use the endpoint (its share board); workers on several hosts share it through
     * the host's refusals. Default: none; the worker still follows the limits a host states in its
     * headers (`retry-after`, `x-ratelimit-*`).
     */
    rate_limit: z
      .strictObject({
        requests_per_minute: z.number().positive().optional(),
        tokens_per_minute: z.number().positive().optional(),
      })
      .refine((r) => r.requests_per_minute !== undefined || r.tokens_per_minute !== undefined, {
        message: 'expected `requests_per_minute` or `tokens_per_minute` (or both)',
      })
      .optional(),
    /** Name of the environment variable holding the API key. The key itself never goes in the job file. */
    api_key_env: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'expected an environment variable name')
      .optional(),
  })
  .superRefine((e, ctx) => {
    if (e.endpoint === undefined && e.launch === undefined)
      ctx.addIssue({ code: 'custom', path: ['endpoint'], message: 'expected `endpoint` or `launch`' });
    if (e.concurrency_min > e.concurrency_max)
      ctx.addIssue({
        code: 'custom',
        path: ['concurrency_min'],
        message: `expected \`concurrency_min\` <= \`concurrency_max\` (${e.concurrency_max}), got ${e.concurrency_min}`,
      });
  });
