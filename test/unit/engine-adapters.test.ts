import { test } from 'node:test';
import assert from 'node:assert/strict';
import { adapterFor, makeBodyEncoder, type ChatMessage, type EngineKind } from '../../src/engine/adapters.ts';
import { BadResponseError } from '../../src/engine/errors.ts';

const sampling = {
  // Deliberately out of canonical order, with a pass-through key and an undefined one.
  stop: ['\n\n'],
  top_k: 40,
  seed: 7,
  min_p: 0.05,
  chat_template_kwargs: { enable_thinking: false },
  repetition_penalty: 1.1,
  temperature: 0.2,
  ignore_eos: true,
  max_tokens: 64,
  top_p: 0.9,
  presence_penalty: undefined,
};
const messages = [
  { role: 'system', content: 'Be brief.' },
  { role: 'user', content: 'Hi' },
] as const;
const schema = { type: 'object', properties: { a: { type: 'string' } }, required: ['a'] };

test('llama-server: repetition_penalty becomes repeat_penalty; keys in a stable order', () => {
  const a = adapterFor('llama-server');
  const body = a.buildChatBody('m', messages, sampling);
  assert.deepEqual(Object.keys(body), [
    'model',
    'messages',
    'max_tokens',
    'temperature',
    'top_p',
    'top_k',
    'min_p',
    'repeat_penalty',
    'seed',
    'stop',
    'ignore_eos',
    'chat_template_kwargs',
  ]);
  assert.equal(body.repeat_penalty, 1.1);
  assert.equal('repetition_penalty' in body, false);
  assert.equal('presence_penalty' in body, false);
  assert.deepEqual(a.ignoredKeys(sampling), []);
  // An explicit repeat_penalty wins; the OpenAI-style name is then reported as ignored.
  const both = { repetition_penalty: 1.3, repeat_penalty: 1.05 };
  assert.deepEqual(a.buildCompletionBody('m', 'p', both), { model: 'm', prompt: 'p', repeat_penalty: 1.05 });
  assert.deepEqual(a.ignoredKeys(both), ['repetition_penalty']);
});

test('bodies serialize identically whatever order the sampling keys came in', () => {
  const reversed = Object.fromEntries(Object.entries(sampling).reverse());
  for (const kind of ['llama-server', 'vllm', 'openai'] as const) {
    const a = adapterFor(kind);
    assert.equal(JSON.stringify(a.buildChatBody('m', messages, sampling)), JSON.stringify(a.buildChatBody('m', messages, reversed)), kind);
  }
});

test('vLLM: passes top_k, min_p, repetition_penalty and ignore_eos through', () => {
  const a = adapterFor('vllm');
  const body = a.buildCompletionBody('m', 'Once', sampling);
  assert.deepEqual(body, {
    model: 'm',
    prompt: 'Once',
    max_tokens: 64,
    temperature: 0.2,
    top_p: 0.9,
    top_k: 40,
    min_p: 0.05,
    repetition_penalty: 1.1,
    seed: 7,
    stop: ['\n\n'],
    ignore_eos: true,
    chat_template_kwargs: { enable_thinking: false },
  });
  assert.deepEqual(a.ignoredKeys(sampling), []);
});

test('generic OpenAI: drops non-OpenAI keys and reports them', () => {
  const a = adapterFor('openai');
  const body = a.buildChatBody('gpt', messages, sampling);
  for (const k of ['top_k', 'min_p', 'repetition_penalty', 'ignore_eos']) assert.equal(k in body, false, k);
  assert.equal(body.temperature, 0.2);
  assert.deepEqual(body.messages, [
    { role: 'system', content: 'Be brief.' },
    { role: 'user', content: 'Hi' },
  ]);
  assert.deepEqual(a.ignoredKeys(sampling), ['top_k', 'min_p', 'repetition_penalty', 'ignore_eos']);
  assert.deepEqual(a.ignoredKeys({ temperature: 1 }), []);
});

test('sampling.extra is merged into the body as written, after the known keys, for every engine kind', () => {
  const s = { temperature: 0.5, extra: { top_k: 5, mirostat: 2, repetition_penalty: 1.2 } };
  for (const kind of ['llama-server', 'vllm', 'openai'] as const) {
    const a = adapterFor(kind);
    const body = a.buildCompletionBody('m', 'p', s);
    // Not renamed (llama-server would send repeat_penalty) and not dropped (openai drops top_k at the top level).
    assert.deepEqual(body, { model: 'm', prompt: 'p', temperature: 0.5, mirostat: 2, repetition_penalty: 1.2, top_k: 5 }, kind);
    assert.deepEqual(Object.keys(body), ['model', 'prompt', 'temperature', 'mirostat', 'repetition_penalty', 'top_k'], kind);
    assert.deepEqual(a.ignoredKeys(s), [], kind);
    const enc = makeBodyEncoder(a, 'm', s);
    assert.equal(enc.chat(messages), JSON.stringify(a.buildChatBody('m', messages, s)), kind);
  }
});

test('structured output per engine', () => {
  const json = { format: 'json', schema } as const;
  assert.deepEqual(adapterFor('vllm').buildChatBody('m', messages, {}, json).response_format, {
    type: 'json_schema',
    json_schema: { name: 'output', schema, strict: true },
  });
  assert.deepEqual(adapterFor('llama-server').buildChatBody('m', messages, {}, json).response_format, {
    type: 'json_schema',
    json_schema: { schema },
  });
  assert.deepEqual(adapterFor('openai').buildCompletionBody('m', 'p', {}, json).response_format, {
    type: 'json_schema',
    json_schema: { name: 'output', schema, strict: true },
  });
  const text = adapterFor('vllm').buildChatBody('m', messages, { max_tokens: 5 }, { format: 'text' });
  assert.deepEqual(Object.keys(text), ['model', 'messages', 'max_tokens']);
  // response_format comes last, after sampling.
  assert.equal(Object.keys(adapterFor('vllm').buildChatBody('m', messages, { seed: 1 }, json)).at(-1), 'response_format');
  assert.throws(() => adapterFor('vllm').buildChatBody('m', messages, {}, { format: 'json' }), /response.schema/);
});

test('embedding bodies', () => {
  assert.deepEqual(adapterFor('llama-server').buildEmbeddingBody('e', ['a', 'b']), {
    model: 'e',
    input: ['a', 'b'],
    encoding_format: 'float',
  });
});

test('parseChat reads content, reasoning_content or reasoning, finish reason and usage', () => {
  for (const kind of ['llama-server', 'vllm', 'openai'] as EngineKind[]) {
    const a = adapterFor(kind);
    assert.deepEqual(
      a.parseChat({
        choices: [{ index: 0, message: { role: 'assistant', content: 'Paris', reasoning_content: 'The capital…' }, finish_reason: 'stop' }],
        usage: { prompt_tokens: 12, completion_tokens: 3, total_tokens: 15 },
      }),
      { text: 'Paris', reasoning: 'The capital…', finishReason: 'stop', promptTokens: 12, completionTokens: 3 },
    );
    assert.deepEqual(
      a.parseChat({ choices: [{ message: { content: 'x', reasoning: 'r', reasoning_content: null }, finish_reason: 'length' }] }),
      { text: 'x', reasoning: 'r', finishReason: 'length', promptTokens: null, completionTokens: null },
    );
    assert.equal(a.parseChat({ choices: [{ message: { content: null }, finish_reason: 'tool_calls' }] }).text, null);
    assert.equal(a.parseChat({ choices: [{ message: { content: 'x', reasoning_content: '' } }] }).reasoning, null);
  }
});

test('parseCompletion reads choices[0].text', () => {
  const a = adapterFor('vllm');
  assert.deepEqual(
    a.parseCompletion({ choices: [{ text: ' upon a time', finish_reason: 'length' }], usage: { prompt_tokens: 1, completion_tokens: 4 } }),
    { text: ' upon a time', reasoning: null, finishReason: 'length', promptTokens: 1, completionTokens: 4 },
  );
});

test('malformed answers throw BadResponseError (E_BAD_RESPONSE)', () => {
  const a = adapterFor('llama-server');
  const bad: unknown[] = [
    null,
    [],
    'text',
    {},
    { choices: [] },
    { choices: [{}] },
    { choices: [{ message: 'x' }] },
    { error: { message: 'boom' } },
  ];
  for (const j of bad) {
    assert.throws(
      () => a.parseChat(j),
      (e: unknown) => e instanceof BadResponseError && e.code === 'E_BAD_RESPONSE',
      JSON.stringify(j),
    );
  }
  assert.throws(() => a.parseCompletion({ choices: [{ text: 5 }] }), BadResponseError);
  assert.throws(() => a.parseCompletion({ choices: [{ message: { content: 'chat shape' } }] }), BadResponseError);
});

test('parseEmbeddings orders by index and checks shape and count', () => {
  const a = adapterFor('vllm');
  assert.deepEqual(
    a.parseEmbeddings(
      {
        data: [
          { index: 1, embedding: [3, 4] },
          { index: 0, embedding: [1, 2] },
        ],
      },
      2,
    ),
    [
      [1, 2],
      [3, 4],
    ],
  );
  assert.throws(() => a.parseEmbeddings({ data: [{ index: 0, embedding: [1] }] }, 2), /expected 2 embeddings, got 1/);
  assert.throws(() => a.parseEmbeddings({ data: [{ index: 0, embedding: [[1, 2]] }] }), /flat number array/);
  assert.throws(() => a.parseEmbeddings({ data: [{ index: 0, embedding: 'AAAA' }] }), BadResponseError);
  assert.throws(() => a.parseEmbeddings({ object: 'list' }), /`data` array/);
});

test('adapterFor rejects unknown kinds', () => {
  assert.throws(() => adapterFor('tgi' as EngineKind), /got `tgi`/);
});

test('makeBodyEncoder: byte-identical to JSON.stringify of the built body, for every kind and response', () => {
  const rows: ChatMessage[][] = [
    [],
    [...messages],
    [{ role: 'user', content: 'quote " backslash \\ newline \n tab \t \u2028 \ud83d\ude00 \u0001' }],
    [
      { role: 'assistant', content: '' },
      { role: 'user', content: 'x'.repeat(5000) },
    ],
  ];
  const samplings = [sampling, {}, { temperature: 0 }, { model: 'other', max_tokens: 3 }, { messages: 'x', prompt: 'y' }];
  for (const kind of ['llama-server', 'vllm', 'openai'] as EngineKind[]) {
    const a = adapterFor(kind);
    for (const s of samplings) {
      for (const response of [undefined, { format: 'text' as const }, { format: 'json' as const, schema }]) {
        const enc = makeBodyEncoder(a, 'm"odel', s, response);
        for (const r of rows) {
          assert.equal(enc.chat(r), JSON.stringify(a.buildChatBody('m"odel', r, s, response)), `${kind} ${JSON.stringify(s)} chat`);
          const prompt = r.map((m) => m.content).join('\n');
          assert.equal(
            enc.completion(prompt),
            JSON.stringify(a.buildCompletionBody('m"odel', prompt, s, response)),
            `${kind} ${JSON.stringify(s)} completion`,
          );
        }
      }
    }
  }
  // A response block the plain build rejects still throws per row, not when the encoder is made.
  const enc = makeBodyEncoder(adapterFor('vllm'), 'm', {}, { format: 'json' });
  assert.throws(() => enc.chat([...messages]), /response\.schema/);
});

test('cached prompt tokens: usage.prompt_tokens_details, else llama-server timings.cache_n, else absent', () => {
  const a = adapterFor('llama-server');
  const reply = (extra: Record<string, unknown>): unknown => ({
    choices: [{ message: { content: 'x' }, finish_reason: 'length' }],
    usage: { prompt_tokens: 1660, completion_tokens: 16 },
    ...extra,
  });
  // What the demo llama-server build answered on a repeated document (bench g's probe, 2026-12-05).
  assert.equal(a.parseChat(reply({ timings: { cache_n: 1651, prompt_n: 9 } })).cachedPromptTokens, 1651);
  assert.equal(
    a.parseChat({
      ...(reply({}) as object),
      usage: { prompt_tokens: 1660, completion_tokens: 16, prompt_tokens_details: { cached_tokens: 1600 } },
      timings: { cache_n: 1651 },
    }).cachedPromptTokens,
    1600,
  );
  assert.equal('cachedPromptTokens' in adapterFor('vllm').parseChat(reply({})), false);
});
