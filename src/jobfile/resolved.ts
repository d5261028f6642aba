/**
 * The resolved job: what the CLI writes as `job.json` into the run directory and ships to the
 * driver and to every worker (`--files`). It is the validated job (defaults applied, durations in
 * milliseconds) plus a `run` block that only the CLI can know. The Python driver reads the same file.
 */
import type { Job } from './schema.ts';

/**
 * The one column an `openai-batch` input hands to the worker: each line's raw text (the driver
 * reads the lines into it, src/worker/openai-batch.ts sends the body from it). It is the `run.columns`
 * of such a job.
 */
export const BATCH_LINE_COLUMN = '_line';

/** A resolved chat template, as shipped in job.json (read by src/prompt/chat-template.ts). */
export interface ChatTemplateSource {
  /** The Jinja template text. */
  template: string;
  bos_token: string;
  eos_token: string;
  /** Where it came from, for logs and messages: `gguf:/path/model.gguf`, `file:/path/t.jinja`. */
  source: string;
}

export interface RunInfo {
  /** `<name>-<yyyymmddhhmmss>-<4 hex>`; also the Kubernetes application suffix. */
  id: string;
  /** Absolute run directory: `<resume.dir>/<run id>`. */
  dir: string;
  /** Absolute root of all runs for this output (holds the lock and the ledgers of earlier runs). */
  root: string;
  /**
   * Columns the driver packs for the worker: those the templates reference, in first-use order
   * (checked against the input schema); for an `openai-batch` input, only `_line` (BATCH_LINE_COLUMN).
   */
  columns: string[];
  /**
   * The output's result columns after the key and the included ones, in order, with their Spark
   * types as DDL (src/plan/output-columns.ts). Written for every target (run, Kubernetes,
   * `validate --json` for infer()); the driver refuses a job.json without it (an older CLI's).
   * Optional only for the worker's hand-made job.json files of tests: the worker never reads it.
   */
  result_columns?: Array<{ name: string; ddl: string }>;
  /** Resolved engine endpoint (`…/v1`), filled in for launched engines. */
  endpoint: string;
  /** Adapter to use. */
  engine_kind: 'llama-server' | 'vllm' | 'openai';
  /** Stop after this many input rows (`--limit`). */
  limit?: number;
  /** Ignore existing ledgers (`--fresh`). */
  fresh: boolean;
  /** Re-infer rows whose ledger result is an error (`--retry-errors`). */
  retry_errors: boolean;
  /** Stable hash of what determines results (input, prompt, model, sampling, response, task). */
  fingerprint: string;
  /** `prompt.chat_template` resolved by the CLI: template text and BOS/EOS (docs/batch-kinds.md). */
  chat_template?: ChatTemplateSource;
  /** When the CLI started this run (epoch ms): `limits.max_wall` counts from here. */
  started_at?: number;
  /**
   * `sparkinfer estimate` (src/job/estimate.ts): count every row's prompt tokens and infer a
   * sample of `sample` rows picked by `seed`, instead of the whole run (python/sparkinfer/estimate.py).
   */
  estimate?: { sample: number; seed: number };
  /**
   * A traced run (docs/observability.md "Traces"): where the spans go, the fraction of requests
   * traced, and the run span's `traceparent`, the parent of every task span.
   */
  traces?: { endpoint: string; sample_ratio: number; traceparent: string };
}

export type ResolvedJob = Job & { run: RunInfo };
