/**
 * Row → request body, and reply → result fields, for one job. Built once per worker; `prepare` and
 * `attempt` are the per-row hot path.
 */
import type { ResolvedJob } from '../spec/resolved.ts';
import type { EngineClient } from '../engine/client.ts';
import { adapterFor } from '../engine/adapters.ts';
import { compilePrompt } from '../prompt/render.ts';
import type { InputRow } from './input.ts';
import type { Attempt, Prepared } from './pipeline.ts';
import type { ResultLine } from './protocol.ts';

export interface RequestBuilder {
  prepare(row: InputRow): Prepared;
  attempt(client: EngineClient, p: Prepared, signal: AbortSignal): Promise<Attempt>;
}

function failure(err: unknown, latencyMs: number): Attempt {
  const e = err as { code?: string; message?: string; status?: number };
  return {
    ok: false, latencyMs,
    error: { code: e.code ?? 'E_RUNTIME', message: e.message ?? String(err), ...(typeof e.status === 'number' ? { status: e.status } : {}), raw: err },
  };
}

/** Checks a JSON reply: E_LENGTH when max_tokens cut it, E_PARSE_JSON when it doesn't parse. */
function jsonFields(text: string | null, finishReason: string | null): Partial<ResultLine> {
  if (finishReason === 'length') return { error_code: 'E_LENGTH', error_message: 'max_tokens was reached before the JSON reply was complete' };
  try {
    return { json: JSON.stringify(JSON.parse(text ?? '')) };
  } catch (err) {
    return { error_code: 'E_PARSE_JSON', error_message: `the reply is not valid JSON: ${(err as Error).message}` };
  }
}

export function makeRequestBuilder(job: ResolvedJob, log: (m: string) => void): RequestBuilder {
  const adapter = adapterFor(job.run.engine_kind);
  const ignored = adapter.ignoredKeys(job.sampling);
  if (ignored.length > 0) log(`warning: engine kind ${job.run.engine_kind} ignores sampling keys: ${ignored.join(', ')}`);
  const prompt = compilePrompt(job);
  const isJson = job.response.format === 'json';

  if (job.task === 'embed') {
    return {
      prepare(row) {
        const r = prompt.render(row.row);
        const input = r.kind === 'completion' ? r.prompt : r.messages.map((m) => m.content).join('\n');
        return { path: '/embeddings', body: JSON.stringify(adapter.buildEmbeddingBody(job.model, [input])) };
      },
      async attempt(client, p, signal) {
        const t0 = performance.now();
        try {
          const res = await client.post(p.path, p.body, { signal });
          const vectors = adapter.parseEmbeddings(res.json);
          const usage = (res.json as { usage?: { prompt_tokens?: number } }).usage;
          return { ok: true, latencyMs: res.latencyMs, fields: { embedding: vectors[0] ?? null, prompt_tokens: usage?.prompt_tokens ?? null, completion_tokens: 0 } };
        } catch (err) {
          return failure(err, performance.now() - t0);
        }
      },
    };
  }

  const chat = job.prompt.api === 'chat';
  const path = chat ? '/chat/completions' : '/completions';
  return {
    prepare(row) {
      const r = prompt.render(row.row);
      const body = r.kind === 'chat'
        ? adapter.buildChatBody(job.model, r.messages, job.sampling, job.response)
        : adapter.buildCompletionBody(job.model, r.prompt, job.sampling, job.response);
      return { path, body: JSON.stringify(body) };
    },
    async attempt(client, p, signal) {
      const t0 = performance.now();
      try {
        const res = await client.post(p.path, p.body, { signal });
        const parsed = chat ? adapter.parseChat(res.json) : adapter.parseCompletion(res.json);
        const fields: Partial<ResultLine> = {
          text: parsed.text, reasoning: parsed.reasoning ?? null, finish_reason: parsed.finishReason,
          prompt_tokens: parsed.promptTokens, completion_tokens: parsed.completionTokens,
        };
        if (isJson) Object.assign(fields, jsonFields(parsed.text, parsed.finishReason));
        return { ok: true, latencyMs: res.latencyMs, fields };
      } catch (err) {
        return failure(err, performance.now() - t0);
      }
    },
  };
}
