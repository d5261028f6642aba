/**
 * `task: embed`: several rows per /v1/embeddings request (`input: [..]`).
 *
 * The pipeline sends rows one by one into its in-flight window; the batcher coalesces the rows
 * that arrive in the same turn of the event loop (one pump of the window) into requests of at
 * most `engine.embed_batch` inputs. Each row still settles on its own: a failed request fails its
 * rows, which the pipeline retries (re-batched) or reports per row like any other attempt.
 *
 * One bad input must not fail its neighbours: when a multi-row request is refused for something
 * a row can cause (a 4xx, or llama-server's 500 "input is too large to process"), every row of it
 * is sent again on its own, so only the culprit gets the per-row error.
 *
 * Per-row `prompt_tokens`: engines report usage per request only, so a request's total is split
 * across its rows in proportion to input length (the sum is exact, the split is an estimate).
 */
import type { EngineClient } from '../engine/client.ts';
import type { EngineAdapter } from '../engine/adapters.ts';
import { ContextLengthError, HttpError } from '../engine/errors.ts';
import type { ResolvedJob } from '../jobfile/resolved.ts';
import { compilePrompt } from '../prompt/render.ts';
import { attemptFailure, type RequestBuilder } from './builder.ts';
import type { Attempt, Prepared } from './pipeline.ts';
import { checkInt } from '../checks.ts';

export interface EmbedResult {
  vector: number[];
  promptTokens: number | null;
  latencyMs: number;
}

export interface EmbedBatcherOptions {
  /** Most inputs per request (`engine.embed_batch`). */
  maxInputs: number;
  /** Sends one request; resolves with vectors in input order and the request's prompt tokens. */
  post(inputs: string[], signal: AbortSignal): Promise<{ vectors: number[][]; promptTokens: number | null; latencyMs: number }>;
  /** Runs `fn` after the current turn (default `setImmediate`): rows sent in one pump share a request. */
  schedule?(fn: () => void): void;
}

interface Pending {
  input: string;
  signal: AbortSignal;
  resolve(r: EmbedResult): void;
  reject(err: unknown): void;
}

/** An error one row can cause: retrying it alone isolates the culprit. */
export function isRowFault(err: unknown): boolean {
  if (err instanceof ContextLengthError) return true;
  if (!(err instanceof HttpError)) return false;
  if (err.status >= 400 && err.status < 500) return err.status !== 408 && err.status !== 409 && err.status !== 429;
  return err.status === 500 && TOO_LARGE.test(err.bodyExcerpt);
}

// llama-server answers 500 when an input exceeds its physical batch (`--ubatch-size`).
const TOO_LARGE = /too large to process|increase the physical batch size/i;

/** llama-server's "too large" 500 for a single input is the row's fault, like a context overflow. */
function asRowError(err: unknown): unknown {
  if (err instanceof HttpError && err.status === 500 && TOO_LARGE.test(err.bodyExcerpt))
    return new ContextLengthError(err.status, err.bodyExcerpt);
  return err;
}

export class EmbedBatcher {
  readonly #o: EmbedBatcherOptions;
  #pending: Pending[] = [];
  #scheduled = false;
  /** Requests sent (for tests and the log). */
  requests = 0;

  constructor(o: EmbedBatcherOptions) {
    checkInt('maxInputs', o.maxInputs, 1);
    this.#o = o;
  }

  /** Embeds one input; it travels with the other inputs submitted in the same turn. */
  submit(input: string, signal: AbortSignal): Promise<EmbedResult> {
    return new Promise((resolve, reject) => {
      this.#pending.push({ input, signal, resolve, reject });
      if (this.#pending.length >= this.#o.maxInputs) this.#flush();
      else if (!this.#scheduled) {
        this.#scheduled = true;
        (this.#o.schedule ?? setImmediate)(() => {
          this.#scheduled = false;
          this.#flush();
        });
      }
    });
  }

  #flush(): void {
    while (this.#pending.length > 0) {
      const group = this.#pending.splice(0, this.#o.maxInputs);
      void this.#send(group);
    }
  }

  async #send(group: Pending[]): Promise<void> {
    this.requests++;
    const signal = group.length === 1 ? (group[0] as Pending).signal : AbortSignal.any(group.map((p) => p.signal));
    let res: Awaited<ReturnType<EmbedBatcherOptions['post']>>;
    try {
      res = await this.#o.post(
        group.map((p) => p.input),
        signal,
      );
    } catch (err) {
      if (group.length > 1 && isRowFault(err)) {
        await Promise.all(group.map((p) => this.#send([p])));
        return;
      }
      const e = group.length === 1 ? asRowError(err) : err;
      for (const p of group) p.reject(e);
      return;
    }
    const shares = splitTokens(
      res.promptTokens,
      group.map((p) => p.input.length),
    );
    group.forEach((p, i) => {
      p.resolve({ vector: res.vectors[i] as number[], promptTokens: shares[i] ?? null, latencyMs: res.latencyMs });
    });
  }
}

/** Splits a total in proportion to weights, in whole numbers that add up to the total. */
export function splitTokens(total: number | null, weights: readonly number[]): Array<number | null> {
  if (total === null) return weights.map(() => null);
  if (weights.length === 1) return [total];
  const sum = weights.reduce((a, b) => a + b, 0);
  const raw = weights.map((w) => (sum === 0 ? total / weights.length : (total * w) / sum));
  const out = raw.map(Math.floor);
  let left = total - out.reduce((a, b) => a + b, 0);
  // Largest remainders get the leftover units.
  const order = raw.map((r, i) => ({ i, frac: r - Math.floor(r) })).sort((a, b) => b.frac - a.frac || a.i - b.i);
  for (const { i } of order) {
    if (left <= 0) break;
    out[i] = (out[i] as number) + 1;
    left--;
  }
  return out;
}

/** The request builder for `task: embed`. */
export function makeEmbedBuilder(job: ResolvedJob, adapter: EngineAdapter, log: (m: string) => void): RequestBuilder {
  const prompt = compilePrompt(job, { chatTemplate: job.run.chat_template });
  let batcher: EmbedBatcher | undefined;
  const fixedDim = job.response.embedding_dim;
  let dim = fixedDim;
  // The input text of each prepared row (a batched request's body holds several rows).
  const inputs = new WeakMap<Prepared, string>();
  const batcherFor = (client: EngineClient): EmbedBatcher =>
    (batcher ??= new EmbedBatcher({
      maxInputs: job.engine.embed_batch ?? 16, // a hand-written job.json (PySpark `infer`) may leave it out
      post: async (inputs, signal) => {
        const body = JSON.stringify(adapter.buildEmbeddingBody(job.model, inputs));
        const res = await client.post(adapter.paths.embeddings, body, { signal });
        const vectors = adapter.parseEmbeddings(res.json, inputs.length);
        const usage = (res.json as { usage?: { prompt_tokens?: unknown } }).usage;
        return { vectors, promptTokens: typeof usage?.prompt_tokens === 'number' ? usage.prompt_tokens : null, latencyMs: res.latencyMs };
      },
    }));
  return {
    prepare(row) {
      const r = prompt.render(row.row);
      const input = r.kind === 'completion' ? r.prompt : r.messages.map((m) => m.content).join('\n');
      // `body` is what the row would send alone (the `request` column); batches are built at send time.
      const prepared: Prepared = { path: adapter.paths.embeddings, body: JSON.stringify(adapter.buildEmbeddingBody(job.model, [input])) };
      inputs.set(prepared, input);
      return prepared;
    },
    async attempt(client, p, signal): Promise<Attempt> {
      const t0 = performance.now();
      const input = inputs.get(p) ?? '';
      try {
        const r = await batcherFor(client).submit(input, signal);
        if (dim === undefined) {
          dim = r.vector.length;
          log(`embedding dimension ${dim} (from the first vector; set response.embedding_dim to pin it)`);
        }
        const fields = { embedding: r.vector, prompt_tokens: r.promptTokens, completion_tokens: 0 };
        if (r.vector.length !== dim) {
          const why = fixedDim !== undefined ? 'response.embedding_dim' : 'the first vector this worker received';
          return {
            ok: true,
            latencyMs: r.latencyMs,
            fields: {
              ...fields,
              error_code: 'E_EMBEDDING_DIM',
              error_message: `embedding has ${r.vector.length} dimensions, expected ${dim} (${why})`,
            },
          };
        }
        return { ok: true, latencyMs: r.latencyMs, fields };
      } catch (err) {
        return attemptFailure(err, performance.now() - t0);
      }
    },
  };
}
