/**
 * The token counter (src/engine/tokenize.ts) against stand-in servers that answer like vLLM's and
 * llama-server's /tokenize (vLLM cannot run here; the real llama-server is in
 * test/e2e/estimate.test.ts): which endpoints a body goes to, with what, and how the count is read.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { serve } from '../helpers/http-server.ts';
import { EngineClient } from '../../src/engine/client.ts';
import { countPromptTokens, tokenizerProblem } from '../../src/engine/tokenize.ts';

/** A stand-in: records each request, answers `reply(path, body)` as JSON. */
async function standIn(reply: (path: string, body: Record<string, unknown>) => unknown) {
  const seen: Array<{ path: string; body: Record<string, unknown> }> = [];
  const server = await serve((req, res, raw) => {
    const body = JSON.parse(raw) as Record<string, unknown>;
    seen.push({ path: req.url ?? '', body });
    const out = reply(req.url ?? '', body);
    res.writeHead(out === undefined ? 404 : 200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(out ?? { error: 'not found' }));
  });
  const client = new EngineClient({ endpoint: server.url });
  return {
    seen,
    client,
    close: async () => {
      await client.close();
      await server.close();
    },
  };
}

const CHAT = JSON.stringify({
  model: 'm',
  messages: [
    { role: 'system', content: 'Be brief.' },
    { role: 'user', content: 'Hi' },
  ],
  max_tokens: 8,
  temperature: 0,
});

test('vLLM: a chat body is counted by POST /tokenize {model, messages} at the root; `count` is the answer', async (t) => {
  const s = await standIn((path) => (path === '/tokenize' ? { count: 17, max_model_len: 4096, tokens: [1, 2] } : undefined));
  t.after(s.close);
  assert.equal(await countPromptTokens(s.client, 'vllm', '/chat/completions', CHAT), 17);
  assert.deepEqual(s.seen, [
    {
      path: '/tokenize',
      body: {
        model: 'm',
        messages: [
          { role: 'system', content: 'Be brief.' },
          { role: 'user', content: 'Hi' },
        ],
      },
    },
  ]);
  const completion = JSON.stringify({ model: 'm', prompt: 'Q: x\nA:', max_tokens: 4 });
  assert.equal(await countPromptTokens(s.client, 'vllm', '/completions', completion), 17);
  assert.deepEqual(s.seen[1], { path: '/tokenize', body: { model: 'm', prompt: 'Q: x\nA:' } });
});

test('llama-server: a chat body goes whole to /apply-template, its prompt to /tokenize with add_special', async (t) => {
  const s = await standIn((path, body) =>
    path === '/apply-template'
      ? { prompt: '<s>Be brief.|Hi|' }
      : path === '/tokenize'
        ? { tokens: Array.from({ length: String(body.content).length }, (_, i) => i) }
        : undefined,
  );
  t.after(s.close);
  assert.equal(await countPromptTokens(s.client, 'llama-server', '/chat/completions', CHAT), '<s>Be brief.|Hi|'.length);
  assert.deepEqual(
    s.seen.map((x) => x.path),
    ['/apply-template', '/tokenize'],
  );
  assert.deepEqual(s.seen[0]?.body, JSON.parse(CHAT));
  assert.deepEqual(s.seen[1]?.body, { content: '<s>Be brief.|Hi|', add_special: true });
  // Embeddings: every input counted.
  const emb = JSON.stringify({ model: 'm', input: ['abc', 'de'], encoding_format: 'float' });
  assert.equal(await countPromptTokens(s.client, 'llama-server', '/embeddings', emb), 5);
});

test('an engine without /tokenize fails the row with its HTTP error; a generic server is refused up front', async (t) => {
  const s = await standIn(() => undefined);
  t.after(s.close);
  await assert.rejects(
    countPromptTokens(s.client, 'vllm', '/chat/completions', CHAT),
    (e: Error & { status?: number }) => e.status === 404,
  );
  assert.match(tokenizerProblem('openai') ?? '', /no tokenizer endpoint/);
  assert.equal(tokenizerProblem('vllm'), undefined);
  await assert.rejects(countPromptTokens(s.client, 'openai', '/chat/completions', CHAT), /no tokenizer endpoint/);
  await assert.rejects(
    countPromptTokens(s.client, 'vllm', '/completions', JSON.stringify({ model: 'm', prompt: [1, 2, 3] })),
    /cannot count the prompt tokens of this request: a completion prompt that is not one string/,
  );
});
