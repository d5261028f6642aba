/**
 * Multi-stage jobs end to end (docs/stages.md), real components only: CLI → spark-submit (local
 * mode) → bundled worker → two real llama-server instances with the demo model, each behind a
 * counting proxy (a test instrument that forwards unchanged and counts the POSTs):
 *   - a two-stage job whose second stage, on the second engine, is gated on the first's JSON
 *     answer: requests at engine A = rows, at engine B = the rows the gate let through; one struct
 *     column per stage, null where the gate excluded the row;
 *   - a run stopped by its spend budget during the stages and the same command again: across both
 *     runs every (row, stage) was sent exactly once (the stage ledger), and the output is complete.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli, summaryOf, readJsonOutput } from '../helpers/cli.ts';
import { startDemoEngine } from '../helpers/engine.ts';
import { startCountingProxy, type CountingProxy } from '../helpers/counting-proxy.ts';
import type { LocalEngine } from '../../src/launch/engine.ts';
import { tempDir } from '../helpers/tmp.ts';

const CHAT = '/v1/chat/completions';
const ROWS = 10;
let engA: LocalEngine;
let engB: LocalEngine;
let proxyA: CountingProxy;
let proxyB: CountingProxy;
const work = tempDir('stages');
/** Stage 1's completion tokens in the first test: the second sets its spend budget just past them, to stop in stage 2. */
let stage1Tokens = 0;

before(async () => {
  [engA, engB] = await Promise.all([startDemoEngine({ parallel: 4 }), startDemoEngine({ parallel: 2 })]);
  [proxyA, proxyB] = await Promise.all([
    startCountingProxy(engA.endpoint.replace(/\/v1$/, '')),
    startCountingProxy(engB.endpoint.replace(/\/v1$/, '')),
  ]);
  const topics = ['my invoice is wrong', 'the weather today', 'refund for a double charge', 'a cake recipe', 'billing address change'];
  const lines = Array.from({ length: ROWS }, (_, i) => JSON.stringify({ id: i, body: `${topics[i % topics.length]} (#${i})` }));
  writeFileSync(join(work, 'in.jsonl'), `${lines.join('\n')}\n`);
});
after(async () => {
  await Promise.all([proxyA?.close(), proxyB?.close()]);
  await Promise.all([engA?.stop(), engB?.stop()]);
});

function writeJob(name: string): string {
  const p = join(work, `${name}.yaml`);
  writeFileSync(
    p,
    `name: ${name}
model: smollm2-135m-instruct
input: { format: json, path: in.jsonl, key: id }
output: { format: json, path: ${name}-out, include: [body] }
engine: { endpoint: "${proxyA.endpoint}", kind: llama-server, concurrency: 4 }
spark: { master: "local[2]", partitions: 2 }
limits: { max_failed_fraction: 1 }
sampling: { temperature: 0, seed: 1, max_tokens: 24 }
stages:
  - name: check
    prompt: { user: "Is this message about billing? Answer yes or no. Message: {{ body }}" }
    response:
      format: json
      schema: { type: object, properties: { answer: { type: string, enum: ["yes", "no"] } }, required: [answer] }
  - name: draft
    when: check.json.answer == 'yes'
    engine: { endpoint: "${proxyB.endpoint}" }
    sampling: { temperature: 0, seed: 1, max_tokens: 12 }
    prompt: { user: "Write one short reply to: {{ body }} (classified: {{ check.json.answer }})" }
`,
  );
  return p;
}

interface StageCol {
  text: string | null;
  json: { answer?: string } | null;
  error_code: string | null;
  completion_tokens: number | null;
}

test('two stages on two engines: engine A answers every row, engine B only the rows the gate let through', async () => {
  const a0 = proxyA.postsTo(CHAT);
  const b0 = proxyB.postsTo(CHAT);
  const r = await runCli(['run', writeJob('two'), '--json'], { timeoutMs: 600_000 });
  const s = summaryOf(r);
  assert.equal(r.code, 0, r.stderr.slice(-3000));
  assert.equal(s.rows_in, ROWS);
  const out = readJsonOutput(join(work, 'two-out'));
  assert.equal(out.length, ROWS);
  const yes = out.filter((o) => (o.check as StageCol | null)?.json?.answer === 'yes');
  assert.equal(proxyA.postsTo(CHAT) - a0, ROWS, 'engine A: one request per row');
  assert.equal(proxyB.postsTo(CHAT) - b0, yes.length, 'engine B: one request per gated row');
  for (const o of out) {
    const check = o.check as StageCol;
    assert.ok(
      check !== null && (check.json?.answer === 'yes' || check.json?.answer === 'no' || check.error_code !== null),
      JSON.stringify(o),
    );
    const draft = o.draft as StageCol | null;
    if (check.json?.answer === 'yes') assert.ok(draft !== null && (draft.text !== null || draft.error_code !== null), JSON.stringify(o));
    else assert.equal(draft, null, JSON.stringify(o));
    assert.equal(typeof o.body, 'string');
  }
  stage1Tokens = out.reduce((n, o) => n + ((o.check as StageCol).completion_tokens ?? 0), 0);
  process.stderr.write(`two stages: ${ROWS} rows, ${yes.length} through the gate, stage 1 ${stage1Tokens} completion tokens\n`);
});

test('a run stopped by its spend budget mid-stages, then the same command: every (row, stage) sent once across both runs', async () => {
  const a0 = proxyA.postsTo(CHAT);
  const b0 = proxyB.postsTo(CHAT);
  const job = writeJob('resume');
  // Just past stage 1's tokens (when the first test ran; else a small budget that stops in stage 1).
  const budget = stage1Tokens > 0 ? stage1Tokens + 8 : 40;
  const first = await runCli(['run', job, '--json', '--set', `limits.max_completion_tokens=${budget}`], { timeoutMs: 600_000 });
  assert.equal(first.code, 1, `the budget stops the first run: ${first.stderr.slice(-3000)}`);
  const aFirst = proxyA.postsTo(CHAT) - a0;
  const bFirst = proxyB.postsTo(CHAT) - b0;
  assert.ok(aFirst > 0, 'the first run sent something');
  const second = await runCli(['run', job, '--json'], { timeoutMs: 600_000 });
  assert.equal(second.code, 0, second.stderr.slice(-3000));
  const out = readJsonOutput(join(work, 'resume-out'));
  assert.equal(out.length, ROWS);
  const yes = out.filter((o) => (o.check as StageCol | null)?.json?.answer === 'yes').length;
  assert.equal(proxyA.postsTo(CHAT) - a0, ROWS, `stage 1 sent once per row (first run ${aFirst})`);
  assert.equal(proxyB.postsTo(CHAT) - b0, yes, `stage 2 sent once per gated row (first run ${bFirst})`);
  process.stderr.write(`resume: first run sent ${aFirst} + ${bFirst}, both runs ${ROWS} + ${yes}\n`);
});
