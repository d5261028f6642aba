/**
 * End to end, real components only: CLI → spark-submit (pyspark, local mode) → bundled worker →
 * real llama-server with the demo model → output files.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { runCli, summaryOf, readJsonOutput } from '../helpers/cli.ts';
import { startDemoEngine } from '../helpers/engine.ts';
import { startCountingProxy, type CountingProxy } from '../helpers/counting-proxy.ts';
import { nastyJsonl, NASTY_QUESTIONS, BIG } from '../helpers/nasty.ts';
import type { LocalEngine } from '../../src/launch/engine.ts';
import { tempDir } from '../helpers/tmp.ts';

let engine: LocalEngine;
let proxy: CountingProxy;
const work = tempDir('e2e');

before(async () => {
  engine = await startDemoEngine({ parallel: 4 });
  proxy = await startCountingProxy(engine.endpoint.replace(/\/v1$/, ''));
});
after(async () => {
  await proxy?.close();
  await engine?.stop();
});

function writeJob(name: string, body: string): string {
  const p = join(work, `${name}.yaml`);
  writeFileSync(p, body);
  return p;
}

test('every nasty row comes out exactly once, inference runs once per row, request column is the body sent', async () => {
  writeFileSync(join(work, 'nasty.jsonl'), nastyJsonl());
  const job = writeJob(
    'nasty',
    `
name: nasty
input: { format: json, path: nasty.jsonl }
prompt:
  system: "Answer briefly."
  user: "Question: {{ q }} ({{ big }})"
model: smollm2-135m-instruct
sampling: { temperature: 0, max_tokens: 4 }
engine: { endpoint: "${proxy.endpoint}", kind: llama-server, concurrency: 4, request_timeout: 5m, startup_timeout: 60s }
output: { format: json, path: out-nasty, include: [q, big, n], include_request: true }
spark: { master: "local[2,2]" }
`,
  );
  const before = proxy.posts();
  const r = await runCli(['run', job, '--json']);
  const s = summaryOf(r);
  assert.equal(r.code, 0, r.stderr.slice(-3000));
  const rows = readJsonOutput(join(work, 'out-nasty'));
  const n = NASTY_QUESTIONS.length;
  assert.equal(rows.length, n, 'one output row per input row');
  assert.equal(new Set(rows.map((x) => x._key)).size, n, 'keys are unique, identical rows included');
  assert.equal(s.rows_in, n);
  assert.equal((s.rows_ok as number) + (s.rows_failed as number), n);
  assert.equal(proxy.posts() - before, n, 'the engine saw exactly one request per row');
  // Every question survives byte for byte: in the carried column and in the body sent.
  const seen = rows.map((x) => x.q as string | null);
  for (const q of NASTY_QUESTIONS) {
    const want = NASTY_QUESTIONS.filter((x) => x === q).length;
    const got = seen.filter((x) => x === q).length;
    assert.ok(got === want, `${JSON.stringify(q)?.slice(0, 60)}: ${got} rows in the output, want ${want}`);
  }
  for (const row of rows) {
    const body = JSON.parse(row.request as string) as { messages: Array<{ content: string }> };
    const q = row.q as string | null;
    const big = row.q === 'plain question?' ? BIG : null;
    assert.ok(body.messages[1]?.content.startsWith(`Question: ${q ?? ''} (`), `body matches row ${JSON.stringify(q)?.slice(0, 40)}`);
    if (big !== null) assert.equal(body.messages[1]?.content, `Question: plain question? (${BIG})`);
  }
  // The integer above 2^53 is written with its exact digits (JS would round it; check the text).
  const text = readdirSync(join(work, 'out-nasty'))
    .filter((f) => f.startsWith('part-'))
    .map((f) => readFileSync(join(work, 'out-nasty', f), 'utf8'))
    .join('');
  assert.ok(text.includes(`"big":${BIG}`), 'big integer kept exactly');
  // The 20 KB prompt exceeds the 1024-token slot: a per-row error with a stable code, not a failed task.
  const long = rows.find((x) => typeof x.q === 'string' && (x.q as string).length > 10_000);
  assert.equal(long?.error_code, 'E_CONTEXT_LENGTH');
  const ok = rows.filter((x) => x.error_code === null);
  assert.ok(ok.length >= n - 1, 'all other rows answered');
  for (const x of ok) assert.equal(typeof x.text, 'string');
});

test('a template naming a missing column exits 2 fast, naming it, without waiting for the engine', async () => {
  writeFileSync(join(work, 'q.jsonl'), '{"id":1,"question":"hi"}\n');
  const job = writeJob(
    'missing',
    `
name: missing
input: { format: json, path: q.jsonl, key: id }
prompt: { user: "{{ questoin }}" }
model: m
engine: { endpoint: "http://127.0.0.1:9/v1", startup_timeout: 10m }
output: { format: json, path: out-missing }
`,
  );
  const r = await runCli(['run', job, '--json']);
  assert.equal(r.code, 2, r.stderr.slice(-2000));
  assert.match(r.stderr, /questoin/);
  assert.match(r.stderr, /question/, 'lists the available columns');
  assert.ok(r.ms < 60_000, `took ${r.ms} ms`);
  assert.equal(summaryOf(r).status, 'failed');
});

test('an engine that never comes up fails after startup_timeout with exit 1 naming the endpoint', async () => {
  const job = writeJob(
    'down',
    `
name: down
input: { format: json, path: q.jsonl, key: id }
prompt: { user: "{{ question }}" }
model: m
engine: { endpoint: "http://127.0.0.1:9/v1", startup_timeout: 5s }
output: { format: json, path: out-down }
`,
  );
  const r = await runCli(['run', job, '--json']);
  assert.equal(r.code, 1, r.stderr.slice(-2000));
  assert.match(r.stderr, /127\.0\.0\.1:9/);
  const s = summaryOf(r);
  assert.equal(s.status, 'failed');
  assert.equal(s.rows_ok, 0);
});
