/**
 * Row → request body, and reply → result fields, for one job. Built once per worker; `prepare` and
 * `attempt` are the per-row hot path. Three kinds (docs/batch-kinds.md):
 *   - generate: chat or completions (a client-side chat template renders chats to completions),
 *     with structured output checked by src/response when `response.format: json`;
 *   - embed: rows batched into /v1/embeddings requests (embed-batch.ts);
 *   - OpenAI Batch input lines, sent as they are (openai-batch.ts).
 */
import type { ResolvedJob } from '../jobfile/resolved.ts';
import { adapterFor, makeBodyEncoder } from '../engine/adapters.ts';
import { compilePrompt } from '../prompt/render.ts';
import { makeJsonReplyChecker } from '../response/reply.ts';
import type { ResultLine } from './protocol.ts';
import { makeEmbedBuilder } from './embed-batch.ts';
import { makeBatchFileBuilder } from './openai-batch.ts';
import { attemptFailure, type RequestBuilder } from './builder.ts';
import { InternalError } from '../errors.ts';
import { prefixKeyOf } from './prefix-order.ts';

export type { RequestBuilder } from './builder.ts';

export function makeRequestBuilder(job: ResolvedJob, log: (m: string) => void): RequestBuilder {
  const adapter = adapterFor(job.run.engine_kind);
  if (job.input.format === 'openai-batch') return makeBatchFileBuilder(job, adapter);
  if (job.task === 'embed') return makeEmbedBuilder(job, adapter, log);
  // A staged job has no prompt of its own: each stage builds its requests (stages.ts, one builder per stage).
  if (job.stages !== undefined) return stagedJobBuilder();
  const ignored = adapter.ignoredKeys(job.sampling);
  if (ignored.length > 0) log(`warning: engine kind ${job.run.engine_kind} ignores sampling keys: ${ignored.join(', ')}`);
  const prompt = compilePrompt(job, { chatTemplate: job.run.chat_template });
  if (job.run.chat_template !== undefined)
    log(`chat template from ${job.run.chat_template.source}: chats are rendered here and sent to /v1/completions`);
  const checker = job.response.format === 'json' ? makeJsonReplyChecker(job.response.schema) : undefined;
  // A client-side chat template renders the chat to one prompt: the completions API.
  const chat = job.prompt.api === 'chat';
  const path = chat ? adapter.paths.chat : adapter.paths.completions;
  // The constant part of every body (model, sampling, response format) is serialized once.
  const encode = makeBodyEncoder(adapter, job.model, job.sampling, job.response);
  // engine.prefix_order: auto groups rows by their prefix columns' values (prefix-order.ts).
  const groupOf = job.engine.prefix_order === 'auto' ? prefixKeyOf(job.run.columns) : undefined;
  return {
    prepare(row) {
      const r = prompt.render(row.row);
      const body = r.kind === 'chat' ? encode.chat(r.messages) : encode.completion(r.prompt);
      return groupOf !== undefined ? { path, body, group: groupOf(row.row) } : { path, body };
    },
    async attempt(client, p, signal) {
      const t0 = performance.now();
      try {
        const res = await client.post(p.path, p.body, { signal, traceparent: p.traceparent });
        const parsed = chat ? adapter.parseChat(res.json) : adapter.parseCompletion(res.json);
        const fields: Partial<ResultLine> = {
          text: parsed.text,
          reasoning: parsed.reasoning ?? null,
          finish_reason: parsed.finishReason,
          prompt_tokens: parsed.promptTokens,
          completion_tokens: parsed.completionTokens,
        };
        if (checker !== undefined) Object.assign(fields, checker.check(parsed.text, parsed.finishReason));
        return {
          ok: true,
          latencyMs: res.latencyMs,
          fields,
          ...(parsed.cachedPromptTokens !== undefined ? { cachedPromptTokens: parsed.cachedPromptTokens } : {}),
          ...(res.rateLimit !== undefined ? { rateLimit: res.rateLimit } : {}),
        };
      } catch (err) {
        return attemptFailure(err, performance.now() - t0);
      }
    },
  };
}

/** The job-level builder of a staged job: never used, each stage has its own (stages.ts). */
function stagedJobBuilder(): RequestBuilder {
  const fail = (): never => {
    throw new InternalError('a staged job builds its requests per stage (src/worker/stages.ts)');
  };
  return { prepare: fail, attempt: fail };
}
