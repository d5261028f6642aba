/**
 * Engine adapters: request bodies and response parsing for llama-server, vLLM and generic
 * OpenAI-compatible servers. Bodies are plain objects whose key order is fixed, so
 * `JSON.stringify(body)` is byte-stable for the same inputs (the `request` column, fingerprints).
 */
import { BadResponseError, excerpt } from './errors.ts';
import { badArgument } from '../checks.ts';

export type EngineKind = 'llama-server' | 'vllm' | 'openai';

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

/** The job's `sampling` block: known keys, whatever else the user passes through, and `extra` (merged as written). */
export type Sampling = Readonly<Record<string, unknown>>;

/** The job's `response` block. */
export interface ResponseFormat {
  format: 'text' | 'json';
  schema?: Record<string, unknown> | undefined;
}

export interface Generation {
  text: string | null;
  /** `message.reasoning_content` (llama-server, vLLM) or `message.reasoning`; null when absent or empty. */
  reasoning: string | null;
  finishReason: string | null;
  promptTokens: number | null;
  completionTokens: number | null;
  /**
   * Prompt tokens the engine served from its prefix cache, when it says:
   * `usage.prompt_tokens_details.cached_tokens` (OpenAI; vLLM with `--enable-prompt-tokens-details`;
   * recent llama-server), else llama-server's `timings.cache_n`. Absent when the engine does not tell.
   */
  cachedPromptTokens?: number;
}

export type RequestBody = Record<string, unknown>;

export interface EngineAdapter {
  readonly kind: EngineKind;
  /** Paths below the `/v1` endpoint. */
  readonly paths: { readonly chat: string; readonly completions: string; readonly embeddings: string };
  buildChatBody(model: string, messages: readonly ChatMessage[], sampling: Sampling, response?: ResponseFormat): RequestBody;
  buildCompletionBody(model: string, prompt: string, sampling: Sampling, response?: ResponseFormat): RequestBody;
  buildEmbeddingBody(model: string, inputs: readonly string[]): RequestBody;
  /** Sampling keys this engine will not receive; the caller warns about them once per job. */
  ignoredKeys(sampling: Sampling): string[];
  parseChat(json: unknown): Generation;
  parseCompletion(json: unknown): Generation;
  /** Vectors in input order (sorted by `index`). */
  parseEmbeddings(json: unknown, expectedCount?: number): number[][];
}

/** The order sampling keys are written in; unknown pass-through keys follow, sorted by name. */
const SAMPLING_ORDER: readonly string[] = [
  'max_tokens',
  'temperature',
  'top_p',
  'top_k',
  'min_p',
  'repetition_penalty',
  'repeat_penalty',
  'presence_penalty',
  'frequency_penalty',
  'seed',
  'stop',
  'ignore_eos',
];

/** Keys that the OpenAI API does not define; a generic server may reject them, so they are dropped. */
const NON_OPENAI_KEYS: ReadonlySet<string> = new Set(['top_k', 'min_p', 'repetition_penalty', 'repeat_penalty', 'ignore_eos']);

/** Present sampling keys in the canonical order; `extra` is not a key of the body (see samplingFields). */
function orderedKeys(sampling: Sampling): string[] {
  const present = Object.keys(sampling).filter((k) => sampling[k] !== undefined && k !== 'extra');
  const known = SAMPLING_ORDER.filter((k) => present.includes(k));
  const extra = present.filter((k) => !SAMPLING_ORDER.includes(k)).sort();
  return [...known, ...extra];
}

interface Dialect {
  /** Engine name for a sampling key, or undefined to drop it. */
  rename(key: string, sampling: Sampling): string | undefined;
  /** Body fields that ask for constrained JSON decoding. */
  responseFormat(schema: Record<string, unknown>, api: 'chat' | 'completion'): RequestBody;
}

const openAiFormat = (schema: Record<string, unknown>): RequestBody => ({
  response_format: { type: 'json_schema', json_schema: { name: 'output', schema, strict: true } },
});

const DIALECTS: Record<EngineKind, Dialect> = {
  'llama-server': {
    // llama-server reads `repeat_penalty`; an explicit `repeat_penalty` wins over the OpenAI-style name.
    rename: (k, s) => (k === 'repetition_penalty' ? (s.repeat_penalty !== undefined ? undefined : 'repeat_penalty') : k),
    // Chat reads response_format.json_schema.schema (no name needed); /v1/completions ignores
    // response_format and reads a top-level `json_schema` instead.
    responseFormat: (schema, api) =>
      api === 'chat' ? { response_format: { type: 'json_schema', json_schema: { schema } } } : { json_schema: schema },
  },
  vllm: {
    // vLLM takes top_k, min_p, repetition_penalty and ignore_eos as extra body parameters.
    rename: (k) => (k === 'repeat_penalty' ? undefined : k),
    // Both /v1/chat/completions and /v1/completions take response_format (structured outputs backend).
    responseFormat: openAiFormat,
  },
  openai: {
    rename: (k) => (NON_OPENAI_KEYS.has(k) ? undefined : k),
    responseFormat: openAiFormat,
  },
};

/**
 * The body's sampling fields: the known keys renamed for the engine (or dropped), then
 * `sampling.extra`'s keys as written, sorted by name, never renamed or dropped.
 */
function samplingFields(d: Dialect, sampling: Sampling): RequestBody {
  const out: RequestBody = {};
  for (const k of orderedKeys(sampling)) {
    const name = d.rename(k, sampling);
    if (name !== undefined) out[name] = sampling[k];
  }
  const extra = sampling.extra;
  if (typeof extra === 'object' && extra !== null && !Array.isArray(extra)) {
    const e = extra as Record<string, unknown>;
    for (const k of Object.keys(e).sort()) if (e[k] !== undefined) out[k] = e[k];
  }
  return out;
}

function withResponse(d: Dialect, body: RequestBody, response: ResponseFormat | undefined, api: 'chat' | 'completion'): RequestBody {
  if (response?.format !== 'json') return body;
  if (response.schema === undefined) throw badArgument('Expected `response.schema` for `response.format: json`');
  return { ...body, ...d.responseFormat(response.schema, api) };
}

/** Returns the adapter for an engine kind. */
export function adapterFor(kind: EngineKind): EngineAdapter {
  const d = DIALECTS[kind];
  if (d === undefined) throw badArgument(`Expected engine kind \`llama-server\`, \`vllm\` or \`openai\`, got \`${String(kind)}\``);
  return {
    kind,
    paths: { chat: '/chat/completions', completions: '/completions', embeddings: '/embeddings' },
    buildChatBody: (model, messages, sampling, response) =>
      withResponse(
        d,
        { model, messages: messages.map((m) => ({ role: m.role, content: m.content })), ...samplingFields(d, sampling) },
        response,
        'chat',
      ),
    buildCompletionBody: (model, prompt, sampling, response) =>
      withResponse(d, { model, prompt, ...samplingFields(d, sampling) }, response, 'completion'),
    buildEmbeddingBody: (model, inputs) => ({ model, input: [...inputs], encoding_format: 'float' }),
    ignoredKeys: (sampling) => orderedKeys(sampling).filter((k) => d.rename(k, sampling) === undefined),
    parseChat: (json) => parseGeneration(json, 'chat'),
    parseCompletion: (json) => parseGeneration(json, 'completion'),
    parseEmbeddings,
  };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function bad(what: string, json: unknown): BadResponseError {
  let shown: string;
  try {
    shown = excerpt(JSON.stringify(json) ?? String(json));
  } catch {
    shown = String(json);
  }
  return new BadResponseError(`unexpected engine response: ${what}: ${shown}`);
}

function optString(v: unknown): string | null {
  return typeof v === 'string' ? v : null;
}

function optCount(v: unknown): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

function parseGeneration(json: unknown, api: 'chat' | 'completion'): Generation {
  if (!isRecord(json)) throw bad('expected a JSON object', json);
  // Some servers answer 200 with an error object; treat it as a failed attempt, not as text.
  if (json.error !== undefined && json.choices === undefined) throw bad('error object in a 2xx answer', json);
  const choices = json.choices;
  const first: unknown = Array.isArray(choices) ? choices[0] : undefined;
  if (!isRecord(first)) throw bad('expected `choices[0]`', json);
  let text: string | null;
  let reasoning: string | null = null;
  if (api === 'chat') {
    const message = first.message;
    if (!isRecord(message)) throw bad('expected `choices[0].message`', json);
    text = optString(message.content);
    reasoning = optString(message.reasoning_content) || optString(message.reasoning) || null;
  } else {
    text = optString(first.text);
    if (text === null && first.text !== null) throw bad('expected `choices[0].text`', json);
  }
  const usage = isRecord(json.usage) ? json.usage : {};
  const details = isRecord(usage.prompt_tokens_details) ? usage.prompt_tokens_details : {};
  const timings = isRecord(json.timings) ? json.timings : {};
  const cached = optCount(details.cached_tokens) ?? optCount(timings.cache_n);
  return {
    text,
    reasoning,
    finishReason: optString(first.finish_reason),
    promptTokens: optCount(usage.prompt_tokens),
    completionTokens: optCount(usage.completion_tokens),
    ...(cached !== null ? { cachedPromptTokens: cached } : {}),
  };
}

function parseEmbeddings(json: unknown, expectedCount?: number): number[][] {
  if (!isRecord(json) || !Array.isArray(json.data)) throw bad('expected `data` array', json);
  const items = json.data.map((item: unknown, i: number) => {
    if (!isRecord(item)) throw bad(`expected an object at data[${i}]`, json);
    const vec = item.embedding;
    if (!Array.isArray(vec) || vec.length === 0 || !vec.every((x) => typeof x === 'number')) {
      throw bad(`expected a flat number array at data[${i}].embedding`, json);
    }
    return { index: typeof item.index === 'number' ? item.index : i, vec: vec as number[] };
  });
  items.sort((a, b) => a.index - b.index);
  if (expectedCount !== undefined && items.length !== expectedCount) {
    throw bad(`expected ${expectedCount} embeddings, got ${items.length}`, { data_length: items.length });
  }
  return items.map((x) => x.vec);
}

/**
 * Renders request bodies for one job without rebuilding the constant part per row: the model,
 * sampling and response fields are serialized once and the row's messages (or prompt) spliced in.
 * The output is byte-identical to `JSON.stringify(adapter.build…Body(…))`; that is checked here on
 * probe rows, and each encoder falls back to the plain build when it would differ (e.g. a
 * pass-through sampling key that collides with `model` or `messages`).
 */
export function makeBodyEncoder(
  adapter: EngineAdapter,
  model: string,
  sampling: Sampling,
  response?: ResponseFormat,
): {
  chat(messages: readonly ChatMessage[]): string;
  completion(prompt: string): string;
} {
  const slowChat = (messages: readonly ChatMessage[]): string => JSON.stringify(adapter.buildChatBody(model, messages, sampling, response));
  const slowCompletion = (prompt: string): string => JSON.stringify(adapter.buildCompletionBody(model, prompt, sampling, response));
  const frame = (api: 'chat' | 'completion'): { head: string; tail: string } | undefined => {
    const field = api === 'chat' ? 'messages' : 'prompt';
    let probe: RequestBody;
    try {
      probe =
        api === 'chat' ? adapter.buildChatBody(model, [], sampling, response) : adapter.buildCompletionBody(model, '', sampling, response);
    } catch {
      return undefined; // the plain build throws per row, as before
    }
    const keys = Object.keys(probe);
    if (keys[0] !== 'model' || keys[1] !== field) return undefined;
    const rest: RequestBody = { ...probe };
    delete rest.model;
    delete rest[field];
    const restJson = JSON.stringify(rest);
    return { head: `{"model":${JSON.stringify(model)},"${field}":`, tail: restJson === '{}' ? '}' : `,${restJson.slice(1)}` };
  };
  const probes: ChatMessage[][] = [
    [],
    [
      { role: 'system', content: 's "q" \\ \n\u2028' },
      { role: 'user', content: 'u\u00e9\ud83d\ude00' },
    ],
  ];
  let chat = slowChat;
  const cf = frame('chat');
  if (cf !== undefined) {
    const { head, tail } = cf;
    const fast = (messages: readonly ChatMessage[]): string => {
      let s = '[';
      for (let i = 0; i < messages.length; i++) {
        const m = messages[i] as ChatMessage;
        if (typeof m.role !== 'string' || typeof m.content !== 'string') return slowChat(messages);
        s += `${i === 0 ? '' : ','}{"role":${JSON.stringify(m.role)},"content":${JSON.stringify(m.content)}}`;
      }
      return `${head}${s}]${tail}`;
    };
    if (probes.every((p) => fast(p) === slowChat(p))) chat = fast;
  }
  let completion = slowCompletion;
  const pf = frame('completion');
  if (pf !== undefined) {
    const { head, tail } = pf;
    const fast = (prompt: string): string =>
      typeof prompt === 'string' ? `${head}${JSON.stringify(prompt)}${tail}` : slowCompletion(prompt);
    if (
      probes.every((p) => {
        const t = p.map((m) => m.content).join('|');
        return fast(t) === slowCompletion(t);
      })
    )
      completion = fast;
  }
  return { chat, completion };
}
