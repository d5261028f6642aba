/** The SIMULATED engine's HTTP front end and the `instant` fake, on 127.0.0.1 port 0. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startSimServer, promptTokensOf, type SimServer } from '../../src/sim/server.ts';
import { waitFor } from '../helpers/wait.ts';

async function post(url: string, body: unknown, signal?: AbortSignal) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    ...(signal ? { signal } : {}),
  });
  return { status: res.status, json: (await res.json()) as Record<string, any> };
}

async function metrics(s: SimServer): Promise<Record<string, number>> {
  const text = await (await fetch(`${s.url}/metrics`)).text();
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^(vllm:[a-z_]+)\{model_name="[^"]*"\} (\S+)$/gm)) out[m[1] as string] = Number(m[2]);
  return out;
}

test('chat and completions answer with usage; ignore_eos generates exactly max_tokens', async (t) => {
  const s = await startSimServer({ timeScale: 0.001, model: 'm1' });
  t.after(() => s.close());
  const chat = await post(`${s.url}/v1/chat/completions`, {
    model: 'm1',
    messages: [{ role: 'user', content: 'x'.repeat(40) }],
    max_tokens: 7,
    ignore_eos: true,
  });
  assert.equal(chat.status, 200);
  assert.equal(chat.json.object, 'chat.completion');
  assert.equal(chat.json.model, 'm1');
  assert.deepEqual(chat.json.usage, { prompt_tokens: 14, completion_tokens: 7, total_tokens: 21 });
  assert.equal(chat.json.choices[0].message.content.split(' ').length, 7);
  assert.equal(chat.json.choices[0].finish_reason, 'length');
  const comp = await post(`${s.url}/v1/completions`, { model: 'm1', prompt: 'abcdefgh', max_tokens: 3, ignore_eos: true });
  assert.equal(comp.status, 200);
  assert.equal(comp.json.object, 'text_completion');
  assert.deepEqual(comp.json.usage, { prompt_tokens: 2, completion_tokens: 3, total_tokens: 5 });
  // Without ignore_eos the length is drawn (seeded) and capped at max_tokens.
  const free = await post(`${s.url}/v1/completions`, { prompt: 'a', max_tokens: 2 });
  assert.ok(free.json.usage.completion_tokens >= 1 && free.json.usage.completion_tokens <= 2);
  assert.equal((await fetch(`${s.url}/health`)).status, 200);
  assert.equal(((await (await fetch(`${s.url}/v1/models`)).json()) as any).data[0].id, 'm1');
});

test('/metrics speaks vLLM names and follows a request; a client that leaves cancels it', async (t) => {
  const s = await startSimServer({ timeScale: 0.01, engine: { baseStepMs: 10 } });
  t.after(() => s.close());
  assert.deepEqual(await metrics(s), {
    'vllm:num_requests_running': 0,
    'vllm:num_requests_waiting': 0,
    'vllm:kv_cache_usage_perc': 0,
    'vllm:num_preemptions_total': 0,
  });
  const ac = new AbortController();
  // 100,000 tokens × 10 ms × 0.01 = 10 s: it is running for the whole test.
  const long = post(`${s.url}/v1/completions`, { prompt: 'p', max_tokens: 100_000, ignore_eos: true }, ac.signal).catch((e: Error) => e);
  await waitFor('the request to run', async () => (await metrics(s))['vllm:num_requests_running'] === 1, 5000, 1);
  ac.abort();
  assert.ok((await long) instanceof Error);
  await waitFor('the cancel', async () => (await metrics(s))['vllm:num_requests_running'] === 0, 5000, 1);
  assert.equal(s.engine?.stats().cancelled, 1);
  assert.equal(s.engine?.stats().completed, 0);
});

test('a full queue answers 503 with an OpenAI-style error; time runs at timeScale', async (t) => {
  const s = await startSimServer({ timeScale: 0.1, engine: { slots: 1, maxWaiting: 0, baseStepMs: 100 } });
  t.after(() => s.close());
  const started = performance.now();
  const first = post(`${s.url}/v1/completions`, { prompt: 'p', max_tokens: 5, ignore_eos: true });
  await waitFor('the first request to run', async () => (await metrics(s))['vllm:num_requests_running'] === 1, 5000, 1);
  const second = await post(`${s.url}/v1/completions`, { prompt: 'p', max_tokens: 5, ignore_eos: true });
  assert.equal(second.status, 503);
  assert.equal(second.json.error.code, 503);
  assert.equal((await first).status, 200);
  // 5 steps of 100 simulated ms at 0.1 real ms per simulated ms: at least 50 ms.
  assert.ok(performance.now() - started >= 50);
});

test('bad requests are 400, unknown routes 404', async (t) => {
  const s = await startSimServer({ timeScale: 0.001, engine: { kvCapacityTokens: 100 } });
  t.after(() => s.close());
  assert.equal((await post(`${s.url}/v1/chat/completions`, '{not json')).status, 400);
  assert.equal((await post(`${s.url}/v1/chat/completions`, '[1]')).status, 400);
  const stream = await post(`${s.url}/v1/chat/completions`, { messages: [], stream: true });
  assert.equal(stream.status, 400);
  assert.match(stream.json.error.message, /does not stream/);
  const long = await post(`${s.url}/v1/completions`, { prompt: 'x'.repeat(400), max_tokens: 50 });
  assert.equal(long.status, 400);
  assert.match(long.json.error.message, /exceed the simulated KV cache \(100 tokens\)/);
  assert.equal((await fetch(`${s.url}/v2/anything`)).status, 404);
});

test('instant mode is a fake: a fixed reply at once, no metrics', async (t) => {
  const s = await startSimServer({ mode: 'instant', model: 'fast' });
  t.after(() => s.close());
  assert.equal(s.engine, undefined);
  const chat = await post(`${s.url}/v1/chat/completions`, { messages: [{ role: 'user', content: 'hi' }], max_tokens: 500 });
  assert.equal(chat.status, 200);
  assert.equal(chat.json.choices[0].message.content, 'ok');
  assert.deepEqual(chat.json.usage, { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 });
  const comp = await post(`${s.url}/v1/completions`, 'not even json');
  assert.equal(comp.json.choices[0].text, 'ok');
  assert.equal((await fetch(`${s.url}/metrics`)).status, 404);
  assert.equal(((await (await fetch(`${s.url}/v1/models`)).json()) as any).data[0].owned_by, 'sparkinfer-instant-fake');
});

test('prompt sizes: ~4 characters per token, plus a few per chat message', () => {
  assert.equal(promptTokensOf({ prompt: 'x'.repeat(9) }, false), 3);
  assert.equal(
    promptTokensOf(
      {
        messages: [
          { role: 'system', content: 'abcd' },
          { role: 'user', content: [{ type: 'text', text: 'abcdefgh' }] },
        ],
      },
      true,
    ),
    4 + 1 + 4 + 2,
  );
  assert.equal(promptTokensOf({}, true), 1);
});

test('options are validated', async () => {
  await assert.rejects(startSimServer({ mode: 'fast' as 'sim' }), /`mode` to be "sim" or "instant", got `fast`/);
  await assert.rejects(startSimServer({ timeScale: 0 }), /`timeScale` to be a number above 0, got `0` \(number\)/);
  await assert.rejects(startSimServer({ engine: { slots: -1 } }), /`slots`.*got `-1`/);
});
