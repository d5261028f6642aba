/**
 * The worker's count mode (`sparkinfer estimate`, argv `count` after job.json): each row's body is
 * rendered by the job's own request builder (request.ts), exactly as a run would send it, and the
 * engine's tokenizer counts its prompt tokens (src/engine/tokenize.ts). Nothing is generated and
 * nothing reaches the ledger: a count is not a result. The result line carries `prompt_tokens`
 * (and `completion_tokens` null), or the row's error code.
 */
import type { ResolvedJob } from '../jobfile/resolved.ts';
import { countPromptTokens } from '../engine/tokenize.ts';
import { FixedWindow } from '../scheduler/window.ts';
import { attemptFailure, type RequestBuilder } from './builder.ts';
import { makeRequestBuilder } from './request.ts';

/** The worker argument that selects count mode (python/sparkinfer/transform.py COUNT_MODE). */
export const COUNT_MODE = 'count';

/**
 * Counts in flight per worker. Tokenizing is cheap for the engine (llama-server answers it on its
 * HTTP threads, not its slots), so a fixed window, not the adaptive one, which reads generation signals.
 */
export const COUNT_WINDOW = 16;

export function countWindow(): FixedWindow {
  return new FixedWindow(COUNT_WINDOW);
}

export function makeCountBuilder(job: ResolvedJob, log: (m: string) => void): RequestBuilder {
  const inner = makeRequestBuilder(job, log);
  const kind = job.run.engine_kind;
  return {
    prepare: (row) => inner.prepare(row),
    async attempt(client, p, signal) {
      const t0 = performance.now();
      try {
        const n = await countPromptTokens(client, kind, p.path, p.body, { signal });
        return { ok: true, latencyMs: performance.now() - t0, fields: { prompt_tokens: n, completion_tokens: null } };
      } catch (err) {
        return attemptFailure(err, performance.now() - t0);
      }
    },
  };
}
