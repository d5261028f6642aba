/**
 * Worker line protocol (docs/architecture.md, "Worker line protocol").
 *
 * stdin: one JSON object per line, built by the driver as
 *   to_json(struct(_k, <referenced columns>, _c)) with nulls kept, where
 *   - `_k` is the row key as a string,
 *   - each referenced column appears under its own name (Spark's JSON encoding),
 *   - `_c` is the carried columns as one opaque JSON string (or null) that the worker echoes unchanged.
 * stdout: one JSON object per line, in completion order, shaped as `ResultLine`.
 */
import type { ErrorCode } from '../errors.ts';
export const KEY_FIELD = '_k';
/**
 * Node flags the worker runs with; keep in sync with WORKER_NODE_FLAGS in
 * python/sparkinfer/transform.py (the TRANSFORM's USING command). A 16 MiB semi-space caps V8's
 * young generation, which otherwise grows to 128 MiB under the worker's allocation rate.
 */
export const WORKER_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=16'];
export const CARRY_FIELD = '_c';

export interface ResultLine {
  /** The row key, as received. */
  k: string;
  /** Carried columns, echoed unchanged. */
  c: string | null;
  text: string | null;
  reasoning: string | null;
  /** Parsed JSON reply as a JSON string (response.format json), else null. */
  json: string | null;
  embedding: number[] | null;
  finish_reason: string | null;
  prompt_tokens: number | null;
  completion_tokens: number | null;
  latency_ms: number | null;
  attempts: number;
  /** One of the closed list in src/errors.ts (docs/errors.md). */
  error_code: ErrorCode | null;
  error_message: string | null;
  model: string | null;
  /** The exact JSON body sent (only when output.include_request). */
  request: string | null;
  /**
   * `input.format: openai-batch` only: the engine's raw JSON reply (whitespace outside strings
   * removed, so it fits on one line). The driver writes it as `response.body` of the OpenAI Batch
   * output line. Absent on other jobs.
   */
  response?: string | null;
}
