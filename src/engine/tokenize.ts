/**
 * Prompt tokens of a request body, counted by the engine's own tokenizer and nothing generated
 * (`sparkinfer estimate`). The body is the exact one a run would send (the worker's request
 * builders make it), so the count is what the engine reports as `usage.prompt_tokens`:
 *   - llama-server: a chat body goes to `POST /apply-template` (the server's own chat template,
 *     the same parse as /v1/chat/completions) and its prompt to `POST /tokenize` with
 *     `add_special: true`, as the server tokenizes a request; a completion's prompt and each
 *     embedding input go to `/tokenize` directly;
 *   - vLLM: `POST /tokenize` with `{model, messages}` (chat: the generation prompt added, no
 *     special tokens, vLLM's chat defaults) or `{model, prompt}`, which answers `count`.
 * A generic OpenAI server has no tokenizer endpoint: `tokenizerOf` says so before anything runs.
 */
import type { EngineClient, RequestOptions } from './client.ts';
import type { EngineKind } from './adapters.ts';
import { BadResponseError, excerpt } from './errors.ts';
import { InputError, SpecError } from '../errors.ts';

/** Why an engine kind cannot count tokens, or undefined when it can. */
export function tokenizerProblem(kind: EngineKind): string | undefined {
  return kind === 'openai'
    ? 'a generic OpenAI-compatible server has no tokenizer endpoint; set `engine.kind` to `llama-server` or `vllm` (the engine must answer POST /tokenize)'
    : undefined;
}

type Body = Record<string, unknown>;

function isRecord(v: unknown): v is Body {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Chat keys that change the rendered prompt, passed on to vLLM's /tokenize when a body has them. */
const VLLM_CHAT_KEYS = ['tools', 'chat_template', 'chat_template_kwargs', 'add_generation_prompt', 'continue_final_message'] as const;

function uncountable(what: string): InputError {
  return new InputError(`cannot count the prompt tokens of this request: ${what}`);
}

/** The token count in a /tokenize answer: vLLM's `count`, else the length of `tokens`. */
function countIn(json: unknown, path: string): number {
  if (isRecord(json)) {
    if (typeof json.count === 'number') return json.count;
    if (Array.isArray(json.tokens)) return json.tokens.length;
  }
  throw new BadResponseError(`unexpected answer from ${path}: ${excerpt(JSON.stringify(json) ?? String(json))}`);
}

async function post(client: EngineClient, path: string, body: Body, opts: RequestOptions): Promise<unknown> {
  return (await client.postRoot(path, JSON.stringify(body), opts)).json;
}

/** llama-server's /tokenize of one text, special tokens added as the server adds them to a request. */
async function llamaTokens(client: EngineClient, content: string, opts: RequestOptions): Promise<number> {
  return countIn(await post(client, '/tokenize', { content, add_special: true }, opts), '/tokenize');
}

/**
 * Prompt tokens of one request: `path` below `/v1` (`/chat/completions`, `/completions`,
 * `/embeddings`) and its JSON body. An embeddings body with several inputs counts them all.
 * @throws the engine client's errors (the retry classifier handles them), or E_INPUT for a body
 *   this cannot read (a prompt given as token ids, say)
 */
export async function countPromptTokens(
  client: EngineClient,
  kind: EngineKind,
  path: string,
  bodyJson: string,
  opts: RequestOptions = {},
): Promise<number> {
  const problem = tokenizerProblem(kind);
  if (problem !== undefined) throw new SpecError(problem);
  let body: unknown;
  try {
    body = JSON.parse(bodyJson);
  } catch {
    throw uncountable('the body is not JSON');
  }
  if (!isRecord(body)) throw uncountable('the body is not a JSON object');
  if (path === '/chat/completions') {
    if (!Array.isArray(body.messages)) throw uncountable('a chat body without `messages`');
    if (kind === 'llama-server') {
      // The whole body: /apply-template parses it as /v1/chat/completions does (tools, template kwargs).
      const r = await post(client, '/apply-template', body, opts);
      if (!isRecord(r) || typeof r.prompt !== 'string')
        throw new BadResponseError(`unexpected answer from /apply-template: ${excerpt(JSON.stringify(r) ?? String(r))}`);
      return llamaTokens(client, r.prompt, opts);
    }
    const req: Body = { model: body.model, messages: body.messages };
    for (const k of VLLM_CHAT_KEYS) if (body[k] !== undefined) req[k] = body[k];
    return countIn(await post(client, '/tokenize', req, opts), '/tokenize');
  }
  if (path === '/completions') {
    if (typeof body.prompt !== 'string') throw uncountable('a completion prompt that is not one string');
    if (kind === 'llama-server') return llamaTokens(client, body.prompt, opts);
    return countIn(await post(client, '/tokenize', { model: body.model, prompt: body.prompt }, opts), '/tokenize');
  }
  if (path === '/embeddings') {
    const input = body.input;
    const texts =
      typeof input === 'string' ? [input] : Array.isArray(input) && input.every((x) => typeof x === 'string') ? input : undefined;
    if (texts === undefined) throw uncountable('an embeddings input that is not text');
    let n = 0;
    for (const t of texts as string[]) {
      n +=
        kind === 'llama-server'
          ? await llamaTokens(client, t, opts)
          : countIn(await post(client, '/tokenize', { model: body.model, prompt: t }, opts), '/tokenize');
    }
    return n;
  }
  throw uncountable(`no tokenizer for ${path}`);
}
