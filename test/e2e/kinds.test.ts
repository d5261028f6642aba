/**
 * The batch kinds end to end, real components only (docs/batch-kinds.md): CLI → spark-submit
 * (local mode) → bundled worker → real llama-server instances with the demo model:
 *   - client-side chat template vs llama-server's own /apply-template, byte for byte;
 *   - structured output (constrained decoding, typed `json` struct, E_PARSE_JSON / E_SCHEMA /
 *     E_LENGTH rows keeping their text) through a client-side chat template;
 *   - embeddings on an `--embeddings --pooling mean` instance, several rows per request;
 *   - `sparkinfer batch` round trip on an OpenAI-documentation-shaped file.
 *
 * Between the workers and the engines sits a ROUTING PROXY (a test instrument): /v1/embeddings
 * goes to the embeddings instance, everything else to the generation instance, unchanged; it
 * records what was sent. For the structured-output job it also INJECTS FAULTS: three rows (marked
 * in their prompts) get a bad completion instead of the engine's, because a constrained engine
 * never produces bad JSON.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli, summaryOf, readJsonOutput, type CliResult } from '../helpers/cli.ts';
import { startDemoEngine } from '../helpers/engine.ts';
import type { LocalEngine } from '../../src/launch/engine.ts';
import { resolveModel } from '../../src/launch/paths.ts';
import { compileChatTemplate, loadChatTemplate } from '../../src/prompt/chat-template.ts';
import { tempDir } from '../helpers/tmp.ts';

const MODEL = 'smollm2-135m-instruct';
let gen: LocalEngine;
let emb: LocalEngine;
let proxy: RoutingProxy;
const work = tempDir('kinds');

interface Sent {
  path: string;
  body: string;
}
interface RoutingProxy {
  endpoint: string;
  sent: Sent[];
  /** An injected answer for a request body (not forwarded), or undefined to forward it. */
  inject: ((reqBody: string) => Record<string, unknown> | undefined) | undefined;
  close(): Promise<void>;
}

async function startRoutingProxy(genRoot: URL, embRoot: URL): Promise<RoutingProxy> {
  const state: RoutingProxy = { endpoint: '', sent: [], inject: undefined, close: async () => {} };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const path = req.url ?? '/';
      if (req.method === 'POST') state.sent.push({ path, body: body.toString('utf8') });
      const injected = req.method === 'POST' ? state.inject?.(body.toString('utf8')) : undefined;
      if (injected !== undefined) {
        const out = Buffer.from(JSON.stringify(injected));
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(out.length) });
        res.end(out);
        return;
      }
      const target = path.startsWith('/v1/embeddings') ? embRoot : genRoot;
      const up = request({ host: target.hostname, port: target.port, path, method: req.method, headers: req.headers }, (ur) => {
        res.writeHead(ur.statusCode ?? 502, ur.headers);
        ur.pipe(res);
      });
      up.on('error', () => res.destroy());
      up.end(body);
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  state.endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
  state.close = () =>
    new Promise((r) => {
      server.closeAllConnections();
      server.close(() => r());
    });
  return state;
}

before(async () => {
  [gen, emb] = await Promise.all([startDemoEngine({ parallel: 4 }), startDemoEngine({ parallel: 2, embeddings: true })]);
  proxy = await startRoutingProxy(new URL(gen.endpoint.replace(/\/v1$/, '')), new URL(emb.endpoint.replace(/\/v1$/, '')));
});
after(async () => {
  await proxy?.close();
  await Promise.all([gen?.stop(), emb?.stop()]);
});

function writeJob(name: string, body: string): string {
  const p = join(work, `${name}.yaml`);
  writeFileSync(p, body);
  return p;
}

/** Conversations that try to break a template: quotes, newlines, unicode, Jinja syntax, empty content, all roles. */
const HOSTILE: Array<Array<{ role: string; content: string }>> = [
  [{ role: 'user', content: 'Hello world!' }],
  [
    { role: 'system', content: 'You are "helpful" & \'terse\'.' },
    { role: 'user', content: 'line1\nline2\r\nline3\ttab' },
  ],
  [{ role: 'user', content: '{{ messages }} {% if true %}x{% endif %} {# c #} }} {{' }],
  [{ role: 'user', content: '' }],
  [
    { role: 'system', content: '' },
    { role: 'user', content: '' },
  ],
  [{ role: 'user', content: 'ünïcödé 漢字 🚀 \u2028 \u0001 \\ backslash' }],
  [
    { role: 'system', content: 'S' },
    { role: 'user', content: 'U1' },
    { role: 'assistant', content: 'A1 <|im_end|>' },
    { role: 'user', content: 'U2' },
  ],
  [{ role: 'user', content: 'x'.repeat(3000) }],
  [
    { role: 'assistant', content: 'assistant first' },
    { role: 'user', content: '  leading and trailing spaces  \n' },
  ],
];

test("client-side chat template (from the GGUF) renders exactly what llama-server's /apply-template renders", async () => {
  const render = compileChatTemplate(loadChatTemplate('gguf', { baseDir: work, ggufModel: resolveModel(MODEL) }));
  const root = gen.endpoint.replace(/\/v1$/, '');
  for (const messages of HOSTILE) {
    const res = await fetch(`${root}/apply-template`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ messages }),
    });
    assert.equal(res.status, 200);
    const { prompt } = (await res.json()) as { prompt: string };
    assert.equal(render(messages), prompt, `conversation ${JSON.stringify(messages).slice(0, 80)}`);
  }
});

test('validate refuses, with the reason, a schema Spark or the engine cannot express and a gguf template without a launched model', async () => {
  const job = (response: string, prompt = 'prompt: { user: "{{ q }}" }'): string =>
    writeJob(
      'bad',
      `
name: bad
input: { format: json, path: in.jsonl }
${prompt}
model: m
engine: { endpoint: "http://127.0.0.1:9/v1", kind: llama-server }
output: { format: json, path: out-bad }
${response}`,
    );
  const r1 = await runCli(['validate', job('response: { format: json, schema: { type: object, properties: { tree: { $ref: "#" } } } }')]);
  assert.equal(r1.code, 2, r1.stderr);
  assert.match(r1.stderr, /response\.schema: unsupported schema at properties\.tree\.\$ref: recursive `\$ref`/);
  const r2 = await runCli(['validate', job('', 'prompt: { api: completions, chat_template: gguf, user: "{{ q }}" }')]);
  assert.equal(r2.code, 2, r2.stderr);
  assert.match(r2.stderr, /chat_template: `gguf` reads the template from the launched model/);
});

test('structured output through a client-side chat template: typed json struct, per-row E_PARSE_JSON / E_SCHEMA / E_LENGTH keeping the text', async () => {
  const people = [
    { id: 1, bio: 'Ann is 31 and plays tennis.' },
    { id: 2, bio: 'Bob, aged 45, bakes "bread" {{ daily }}.' },
    { id: 3, bio: 'Zoë is 7.\nShe draws.' },
    { id: 4, bio: 'MARK-PARSE Carl is 50.' },
    { id: 5, bio: 'MARK-SCHEMA Dora is 20.' },
    { id: 6, bio: 'MARK-LENGTH Eve is 33.' },
  ];
  writeFileSync(join(work, 'people.jsonl'), `${people.map((p) => JSON.stringify(p)).join('\n')}\n`);
  const injected: Record<string, { text: string; finish: string }> = {
    'MARK-PARSE': { text: '{"name": "Carl" "age": 50}', finish: 'stop' },
    'MARK-SCHEMA': { text: '{"name": "Dora", "age": "twenty"}', finish: 'stop' },
    'MARK-LENGTH': { text: '{"name": "Ev', finish: 'length' },
  };
  proxy.inject = (reqBody) => {
    const mark = Object.keys(injected).find((m) => reqBody.includes(m));
    if (mark === undefined) return undefined;
    const fault = injected[mark] as { text: string; finish: string };
    return {
      object: 'text_completion',
      choices: [{ index: 0, text: fault.text, finish_reason: fault.finish }],
      usage: { prompt_tokens: 30, completion_tokens: 12 },
    };
  };
  const gguf = resolveModel(MODEL);
  const job = writeJob(
    'structured',
    `
name: structured
input: { format: json, path: people.jsonl, key: id }
prompt:
  api: completions
  chat_template: "${gguf}"
  system: "Extract the person as JSON."
  user: "{{ bio }}"
model: ${MODEL}
sampling: { temperature: 0, max_tokens: 32 }
response:
  format: json
  schema:
    type: object
    properties:
      name: { type: string, maxLength: 20 }
      age: { type: integer, minimum: 0, maximum: 150 }
    required: [name, age]
    additionalProperties: false
engine: { endpoint: "${proxy.endpoint}", kind: llama-server, concurrency: 4, request_timeout: 5m, startup_timeout: 60s }
output: { format: json, path: out-structured, include: [bio], include_request: true }
spark: { master: "local[2]" }
`,
  );
  const sentBefore = proxy.sent.length;
  let r: CliResult;
  try {
    r = await runCli(['run', job, '--json']);
  } finally {
    proxy.inject = undefined;
  }
  assert.equal(r.code, 0, r.stderr.slice(-3000));
  const s = summaryOf(r);
  assert.deepEqual(s.errors_by_code, { E_LENGTH: 1, E_PARSE_JSON: 1, E_SCHEMA: 1 });
  const rows = readJsonOutput(join(work, 'out-structured'));
  assert.equal(rows.length, people.length, 'every row exactly once');
  const sent = proxy.sent.slice(sentBefore);
  assert.equal(sent.length, people.length, 'one request per row');
  assert.ok(
    sent.every((x) => x.path === '/v1/completions'),
    'a client-side template sends completions',
  );
  const render = compileChatTemplate(loadChatTemplate(gguf, { baseDir: work }));
  for (const row of rows) {
    const p = people.find((x) => x.id === row.id);
    assert.ok(p !== undefined);
    assert.equal(row.bio, p.bio);
    const body = JSON.parse(row.request as string) as { prompt: string; json_schema?: unknown };
    assert.equal(
      body.prompt,
      render([
        { role: 'system', content: 'Extract the person as JSON.' },
        { role: 'user', content: p.bio },
      ]),
    );
    assert.ok(body.json_schema !== undefined, 'llama-server completions get the schema as json_schema');
    assert.equal(typeof row.text, 'string', 'the raw text is kept, on error rows too');
    const mark = Object.keys(injected).find((m) => p.bio.startsWith(m));
    if (mark === undefined) {
      assert.equal(row.error_code, null, `row ${p.id}: ${String(row.error_message)}`);
      // A struct, not a JSON string: Spark typed the column from the schema.
      const json = row.json as { name: unknown; age: unknown };
      assert.equal(typeof json, 'object');
      assert.equal(typeof json.name, 'string');
      assert.equal(typeof json.age, 'number');
      assert.deepEqual(JSON.parse(row.text as string), json);
    } else {
      assert.equal(row.json, null);
      assert.equal(row.text, injected[mark]?.text);
      assert.equal(row.error_code, { 'MARK-PARSE': 'E_PARSE_JSON', 'MARK-SCHEMA': 'E_SCHEMA', 'MARK-LENGTH': 'E_LENGTH' }[mark]);
    }
  }
  const schemaRow = rows.find((x) => x.error_code === 'E_SCHEMA');
  assert.match(String(schemaRow?.error_message), /at \$\.age: expected integer, got string "twenty"/);
});

test('embeddings: several rows per request on an --embeddings instance, array<float> of one dimension, bad rows isolated', async () => {
  const docs = ['the cat sat on the mat', 'a dog', 'ünïcödé 🚀', '', 'x '.repeat(1500), 'spark', 'batch jobs', 'q'];
  writeFileSync(join(work, 'docs.jsonl'), `${docs.map((d, i) => JSON.stringify({ id: i, doc: d })).join('\n')}\n`);
  const job = writeJob(
    'embed',
    `
name: embed
task: embed
input: { format: json, path: docs.jsonl, key: id }
prompt: { api: completions, text: "{{ doc }}" }
model: ${MODEL}
response: { embedding_dim: 576 }
engine: { endpoint: "${proxy.endpoint}", kind: llama-server, concurrency: 8, embed_batch: 4, request_timeout: 5m, startup_timeout: 60s }
output: { format: json, path: out-embed }
spark: { master: "local[2]", partitions: 1 }
`,
  );
  const sentBefore = proxy.sent.length;
  const r = await runCli(['run', job, '--json']);
  assert.equal(r.code, 0, r.stderr.slice(-3000));
  const rows = readJsonOutput(join(work, 'out-embed'));
  assert.equal(rows.length, docs.length);
  const byId = new Map(rows.map((x) => [x.id as number, x]));
  for (const [i, d] of docs.entries()) {
    const row = byId.get(i);
    assert.ok(row !== undefined);
    if (d === '') assert.equal(row.error_code, 'E_HTTP_4XX', 'an empty input is refused by the engine, for this row only');
    else if (d.length > 1000) assert.equal(row.error_code, 'E_CONTEXT_LENGTH');
    else {
      assert.equal(row.error_code, null, String(row.error_message));
      const v = row.embedding as number[];
      assert.equal(v.length, 576);
      assert.ok(v.every((x) => typeof x === 'number' && Number.isFinite(x)));
    }
  }
  const posts = proxy.sent.slice(sentBefore).filter((x) => x.path === '/v1/embeddings');
  const sizes = posts.map((x) => (JSON.parse(x.body) as { input: string[] }).input.length);
  assert.ok(
    sizes.some((n) => n > 1),
    `rows were batched (request sizes ${sizes.join(',')})`,
  );
  assert.ok(
    sizes.every((n) => n <= 4),
    'never more than engine.embed_batch inputs',
  );
  // A refused batch is sent again one row per request: the bad rows' neighbours still get vectors.
  assert.equal(sizes.filter((n) => n === 1).length >= 2, true, `the refused batches were split (${sizes.join(',')})`);
  const s = summaryOf(r);
  assert.deepEqual(s.errors_by_code, { E_CONTEXT_LENGTH: 1, E_HTTP_4XX: 1 });
});

test('sparkinfer batch: an OpenAI Batch file in, an OpenAI Batch file out (chat, completions, embeddings, unsupported url)', async () => {
  const lines = [
    {
      custom_id: 'request-1',
      method: 'POST',
      url: '/v1/chat/completions',
      body: {
        model: 'gpt-4o-mini',
        messages: [
          { role: 'system', content: 'You are a helpful assistant.' },
          { role: 'user', content: 'Hello world!' },
        ],
        max_tokens: 8,
        temperature: 0,
      },
    },
    {
      custom_id: 'request-2',
      method: 'POST',
      url: '/v1/chat/completions',
      body: {
        model: 'gpt-4o-mini',
        messages: [{ role: 'user', content: 'Name a color as JSON.' }],
        max_tokens: 48,
        temperature: 0,
        response_format: {
          type: 'json_schema',
          json_schema: { name: 'c', schema: { type: 'object', properties: { color: { type: 'string' } }, required: ['color'] } },
        },
      },
    },
    {
      custom_id: 'request-3',
      method: 'POST',
      url: '/v1/completions',
      body: { model: 'gpt-3.5-turbo-instruct', prompt: 'Say this is a test', max_tokens: 7, temperature: 0 },
    },
    {
      custom_id: 'request-4',
      method: 'POST',
      url: '/v1/embeddings',
      body: { model: 'text-embedding-3-small', input: 'The food was delicious and the waiter...', encoding_format: 'float' },
    },
    { custom_id: 'request-5', method: 'POST', url: '/v1/moderations', body: { input: 'hi' } },
    {
      custom_id: 'ünï "6"',
      method: 'POST',
      url: '/v1/chat/completions',
      body: { messages: [{ role: 'user', content: '2+2=' }], max_tokens: 4 },
    },
  ];
  // The OpenAI documentation's spacing, and a number spelled as the user wrote it (0.70): bodies go out as written.
  const text = `${lines.map((l) => JSON.stringify(l, null, 1).replace(/\n\s*/g, ' ').replace('"temperature": 0 }', '"temperature": 0.0 }')).join('\n')}\n\n`;
  writeFileSync(join(work, 'batch.jsonl'), text);
  const out = join(work, 'batch-out.jsonl');
  const sentBefore = proxy.sent.length;
  const r = await runCli([
    'batch',
    '-i',
    join(work, 'batch.jsonl'),
    '-o',
    out,
    '--endpoint',
    proxy.endpoint,
    '--kind',
    'llama-server',
    '--model',
    MODEL,
    '--json',
    '--set',
    'spark.master=local[2]',
  ]);
  assert.equal(r.code, 0, r.stderr.slice(-3000));
  const s = summaryOf(r);
  assert.equal(s.output, out);
  assert.deepEqual(s.errors_by_code, { E_UNSUPPORTED_URL: 1 });
  assert.ok(!existsSync(join(`${out}.sparkinfer`, 'output')), 'the Spark part files were joined and removed');
  const outLines = readFileSync(out, 'utf8')
    .split('\n')
    .filter((l) => l !== '');
  assert.equal(outLines.length, lines.length, 'one output line per input line');
  const byId = new Map(
    outLines.map((l) => {
      const o = JSON.parse(l) as Record<string, unknown>;
      return [o.custom_id as string, o];
    }),
  );
  assert.deepEqual([...byId.keys()].sort(), lines.map((l) => l.custom_id).sort());
  for (const l of lines) {
    const o = byId.get(l.custom_id) as {
      id: string;
      response: { status_code: number; request_id: string; body: Record<string, unknown> } | null;
      error: { code: string; message: string } | null;
    };
    assert.match(o.id, /^batch_req_/);
    if (l.url === '/v1/moderations') {
      assert.equal(o.response, null);
      assert.equal(o.error?.code, 'E_UNSUPPORTED_URL');
      continue;
    }
    assert.equal(o.error, null, JSON.stringify(o.error));
    assert.equal(o.response?.status_code, 200);
    assert.equal(typeof o.response?.request_id, 'string');
    if (l.url === '/v1/embeddings')
      assert.equal((((o.response?.body.data ?? []) as Array<{ embedding: number[] }>)[0]?.embedding ?? []).length, 576);
    else assert.ok(Array.isArray(o.response?.body.choices), 'the engine reply is the body, as JSON');
  }
  const color = byId.get('request-2') as { response: { body: { choices: Array<{ message: { content: string } }> } } };
  assert.ok(
    typeof JSON.parse(color.response.body.choices[0]?.message.content ?? '').color === 'string',
    "the line's own response_format was sent",
  );
  // Bodies go out byte for byte, except the model the job replaces.
  const sent = proxy.sent.slice(sentBefore);
  assert.equal(sent.length, lines.length - 1, 'the unsupported line is never sent');
  for (const l of lines.slice(0, 4)) {
    const raw = text.split('\n').find((x) => x.includes(`"${l.custom_id}"`)) as string;
    const rawBody = raw.slice(raw.indexOf('"body": ') + 8, -1).trimEnd();
    const expected = rawBody.replace(/"model": "[^"]*"/, `"model": "${MODEL}"`);
    assert.ok(
      sent.some((x) => x.body === expected),
      `body of ${l.custom_id} sent as written: ${expected.slice(0, 80)}`,
    );
  }
  // The output file is never written over.
  const again = await runCli(['batch', '-i', join(work, 'batch.jsonl'), '-o', out, '--endpoint', proxy.endpoint]);
  assert.equal(again.code, 2);
  assert.match(again.stderr, /exists; pass --overwrite/);
});
