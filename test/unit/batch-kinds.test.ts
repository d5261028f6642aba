/**
 * OpenAI Batch lines (raw spans, model replacement, per-row URL errors, reply minifying) and the
 * embeddings batcher (coalescing, isolating a bad input, token split). End-to-end runs with a
 * real engine and Spark are in test/e2e/kinds.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { adapterFor } from '../../src/engine/adapters.ts';
import { ContextLengthError, HttpClientError, HttpError, HttpServerError } from '../../src/engine/errors.ts';
import { SparkinferError } from '../../src/errors.ts';
import { batchRequest, minifyJson, objectMembers, withModel } from '../../src/worker/openai-batch.ts';
import { EmbedBatcher, isRowFault, splitTokens } from '../../src/worker/embed-batch.ts';
import { batchJob } from '../../src/job/batch.ts';
import { JobSpec } from '../../src/jobfile/schema.ts';

const llama = adapterFor('llama-server');

test('objectMembers finds top-level value spans, skipping strings with braces, escapes and nesting', () => {
  const text = ' { "a" : {"x":"}{\\"","y":[1,{"z":[]}]} , "b":-1.5e3,"c":"\\u00e9","d":[] ,"e":null}';
  const m = objectMembers(text);
  assert.deepEqual([...m.keys()], ['a', 'b', 'c', 'd', 'e']);
  const at = (k: string): string => {
    const s = m.get(k) as { start: number; end: number };
    return text.slice(s.start, s.end);
  };
  assert.equal(at('a'), '{"x":"}{\\"","y":[1,{"z":[]}]}');
  assert.equal(at('b'), '-1.5e3');
  assert.equal(at('c'), '"\\u00e9"');
  assert.equal(at('d'), '[]');
  assert.equal(at('e'), 'null');
  assert.deepEqual([...objectMembers('{}').keys()], []);
  assert.throws(
    () => objectMembers('[1]'),
    (e: unknown) => e instanceof SparkinferError && e.code === 'E_INPUT',
  );
  assert.throws(() => objectMembers('{"a":1'), /malformed JSON/);
});

test('withModel replaces the model value in place and keeps every other byte; inserts it when absent', () => {
  const body =
    '{"model": "gpt-4o",  "seed": 12345678901234567890, "temperature": 0.70, "messages": [{"role":"user","content":"é \\"x\\""}]}';
  assert.equal(withModel(body, 'smol'), body.replace('"gpt-4o"', '"smol"'));
  assert.equal(withModel('{"prompt":"p"}', 'm"1'), '{"model":"m\\"1","prompt":"p"}');
  assert.equal(withModel(' { } ', 'm'), ' {"model":"m" } ');
  assert.equal(JSON.parse(withModel(' { } ', 'm')).model, 'm');
});

const LINE = (
  url: string,
  body = '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hello world!"}],"max_tokens":1000}',
  method = 'POST',
): string => `{"custom_id": "request-1", "method": "${method}", "url": "${url}", "body": ${body}}`;

test('batchRequest: each supported url goes to its path, with the job model (or the line model when kept)', () => {
  const chat = batchRequest(LINE('/v1/chat/completions'), llama, 'smol');
  assert.deepEqual([chat.kind, chat.path], ['chat', '/chat/completions']);
  assert.equal(JSON.parse(chat.body).model, 'smol');
  assert.equal(
    batchRequest(LINE('/v1/chat/completions'), llama, undefined).body,
    '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hello world!"}],"max_tokens":1000}',
  );
  assert.equal(batchRequest(LINE('/v1/completions', '{"prompt":"x"}'), llama, 'm').path, '/completions');
  assert.equal(batchRequest(LINE('/v1/embeddings', '{"input":["a","b"]}'), llama, 'm').path, '/embeddings');
});

test('batchRequest: unsupported url or method is E_UNSUPPORTED_URL; a non-object body or stream is E_INPUT', () => {
  const code = (line: string): string => {
    try {
      batchRequest(line, llama, 'm');
    } catch (e) {
      assert.ok(e instanceof SparkinferError);
      return e.code;
    }
    return 'none';
  };
  assert.equal(code(LINE('/v1/moderations')), 'E_UNSUPPORTED_URL');
  assert.equal(code(LINE('/v1/responses')), 'E_UNSUPPORTED_URL');
  assert.equal(code('{"custom_id":"x","body":{}}'), 'E_UNSUPPORTED_URL');
  assert.equal(code(LINE('/v1/chat/completions', undefined, 'GET')), 'E_UNSUPPORTED_URL');
  assert.equal(code(LINE('/v1/chat/completions', '"text"')), 'E_INPUT');
  assert.equal(code(LINE('/v1/chat/completions', '{"messages":[],"stream":true}')), 'E_INPUT');
});

test('minifyJson removes whitespace outside strings only', () => {
  assert.equal(minifyJson('{\n  "a b": "x\\n y",\r\n\t"c": [1, 2]\n}'), '{"a b":"x\\n y","c":[1,2]}');
  assert.equal(minifyJson('{"a":1}'), '{"a":1}');
});

test("the batch verb builds a valid job: lines' models kept without --model, replaced with it; launch for embeddings-only files", () => {
  const base = { input: '/in.jsonl', partsDir: '/o.sparkinfer/output', root: '/o.sparkinfer', embeddings: false };
  const kept = JobSpec.parse(batchJob({ ...base, endpoint: 'http://127.0.0.1:1/v1' }));
  assert.equal(kept.input.keep_model, true);
  assert.equal(kept.input.key, 'custom_id');
  assert.equal(kept.output.format, 'openai-batch');
  const replaced = JobSpec.parse(batchJob({ ...base, endpoint: 'http://127.0.0.1:1/v1', model: 'm', kind: 'vllm' }));
  assert.deepEqual([replaced.input.keep_model, replaced.model, replaced.engine.kind], [false, 'm', 'vllm']);
  const launched = JobSpec.parse(batchJob({ ...base, launch: true, embeddings: true }));
  assert.deepEqual(
    [launched.model, launched.engine.launch?.model, launched.engine.launch?.embeddings],
    ['smollm2-135m-instruct', 'smollm2-135m-instruct', true],
  );
});

/** A batcher whose flushes run when the test says, recording the requests it makes. */
function harness(
  maxInputs: number,
  answer: (inputs: string[]) => Promise<{ vectors: number[][]; promptTokens: number | null; latencyMs: number }>,
) {
  const sent: string[][] = [];
  const queued: Array<() => void> = [];
  const b = new EmbedBatcher({
    maxInputs,
    schedule: (fn) => {
      queued.push(fn);
    },
    post: (inputs) => {
      sent.push(inputs);
      return answer(inputs);
    },
  });
  const tick = (): void => {
    for (const fn of queued.splice(0)) fn();
  };
  return { b, sent, tick };
}

const vec = (s: string): number[] => [s.length, 1];
const ok = async (inputs: string[]) => ({ vectors: inputs.map(vec), promptTokens: inputs.reduce((a, s) => a + s.length, 0), latencyMs: 5 });
const signal = new AbortController().signal;

test('EmbedBatcher: rows submitted in one turn share requests of at most maxInputs, in order', async () => {
  const h = harness(3, ok);
  const rows = ['a', 'bb', 'ccc', 'dddd', 'eeeee'];
  const ps = rows.map((r) => h.b.submit(r, signal));
  assert.deepEqual(h.sent, [['a', 'bb', 'ccc']], 'a full batch goes at once');
  h.tick();
  const rs = await Promise.all(ps);
  assert.deepEqual(h.sent, [
    ['a', 'bb', 'ccc'],
    ['dddd', 'eeeee'],
  ]);
  assert.deepEqual(
    rs.map((r) => r.vector),
    rows.map(vec),
  );
  assert.deepEqual(
    rs.map((r) => r.promptTokens),
    [1, 2, 3, 4, 5],
    'tokens split by input length',
  );
});

test('EmbedBatcher: a row fault splits the request so only the culprit fails; outages fail the whole batch', async () => {
  const h = harness(8, async (inputs) => {
    if (inputs.includes('')) throw new HttpClientError(400, 'Input content cannot be empty');
    if (inputs.some((s) => s.length > 10))
      throw new HttpServerError(500, 'input (1501 tokens) is too large to process. increase the physical batch size');
    return ok(inputs);
  });
  const ps = ['a', '', 'b', 'x'.repeat(20)].map((r) =>
    h.b.submit(r, signal).then(
      (v) => v,
      (e: unknown) => e,
    ),
  );
  h.tick();
  const rs = await Promise.all(ps);
  assert.deepEqual((rs[0] as { vector: number[] }).vector, vec('a'));
  assert.ok(rs[1] instanceof HttpError && rs[1].status === 400);
  assert.deepEqual((rs[2] as { vector: number[] }).vector, vec('b'));
  assert.ok(rs[3] instanceof ContextLengthError, "llama-server's too-large 500 for one input is a context error (not retried)");
  assert.equal(h.sent.length, 5, 'one batch, then each row alone');

  const down = harness(8, async () => {
    throw new HttpServerError(503, 'loading');
  });
  const both = ['a', 'b'].map((r) =>
    down.b.submit(r, signal).then(
      () => 'ok',
      (e: unknown) => e,
    ),
  );
  down.tick();
  const errs = await Promise.all(both);
  assert.ok(errs.every((e) => e instanceof HttpError && e.status === 503));
  assert.equal(down.sent.length, 1, "a 503 is not the rows' fault: no split, the pipeline retries");
});

test('isRowFault and splitTokens', () => {
  assert.equal(isRowFault(new HttpClientError(400, 'x')), true);
  assert.equal(isRowFault(new HttpClientError(429, 'x')), false);
  assert.equal(isRowFault(new HttpServerError(500, 'boom')), false);
  assert.equal(isRowFault(new ContextLengthError(400, 'x')), true);
  assert.deepEqual(splitTokens(10, [1, 1, 1]), [4, 3, 3]);
  assert.deepEqual(splitTokens(7, [0, 0]), [4, 3]);
  assert.deepEqual(splitTokens(null, [1, 2]), [null, null]);
  const parts = splitTokens(101, [3, 5, 7, 11]);
  assert.equal(
    parts.reduce((a, b) => (a ?? 0) + (b ?? 0), 0),
    101,
  );
});
