/**
 * Traces end to end (`npm run test:traces`, scripts/traces/test.sh; not in `npm test`: Jaeger's
 * first build takes minutes). A real run (CLI → spark-submit, local mode → bundled workers → real
 * llama-server behind a counting proxy that records each request's `traceparent`) with
 * `observability.traces` at ratio 1 exports to a real Jaeger (v2, built from its Go module); the
 * test reads the trace back through Jaeger's query API and checks the chain run → task → request,
 * the request spans' attributes, and that the engine saw each request span's id in `traceparent`.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli, summaryOf } from '../helpers/cli.ts';
import { startDemoEngine } from '../helpers/engine.ts';
import { startCountingProxy, type CountingProxy } from '../helpers/counting-proxy.ts';
import { startJaeger, traceOf, type Jaeger, type JaegerSpan } from '../helpers/jaeger.ts';
import type { LocalEngine } from '../../src/launch/engine.ts';
import { tempDir } from '../helpers/tmp.ts';
import { parseTraceparent } from '../../src/trace/context.ts';

const ROWS = 40;
let engine: LocalEngine;
let proxy: CountingProxy;
let jaeger: Jaeger;
const work = tempDir('traces');

before(async () => {
  const binary = process.env.SPARKINFER_JAEGER;
  if (binary === undefined)
    throw new Error('SPARKINFER_JAEGER is not set: run this through `npm run test:traces` (scripts/traces/test.sh builds Jaeger)');
  jaeger = await startJaeger(binary, work);
  engine = await startDemoEngine({ parallel: 4 });
  proxy = await startCountingProxy(engine.endpoint.replace(/\/v1$/, ''));
});
after(async () => {
  await proxy?.close();
  await engine?.stop();
  await jaeger?.stop();
});

test('a traced run lands in Jaeger as run → task → request, and the engine saw each request span in traceparent', async () => {
  const rows = Array.from({ length: ROWS }, (_, i) => JSON.stringify({ id: i, q: `Name a fruit, number ${i}.` })).join('\n');
  writeFileSync(join(work, 'q.jsonl'), `${rows}\n`);
  const jobPath = join(work, 'job.yaml');
  writeFileSync(
    jobPath,
    `
name: traces-e2e
input: { format: json, path: q.jsonl, key: id }
prompt: { user: "{{ q }}" }
model: smollm2-135m-instruct
sampling: { temperature: 0, max_tokens: 16 }
engine: { endpoint: "${proxy.endpoint}", kind: llama-server, startup_timeout: 60s }
output: { format: json, path: out }
spark: { master: "local[2]", partitions: 2 }
observability: { traces: { endpoint: "${jaeger.otlp}", sample_ratio: 1 } }
`,
  );
  const r = await runCli(['run', jobPath, '--json'], { env: { ...process.env, OTEL_EXPORTER_OTLP_ENDPOINT: '' } });
  assert.equal(r.code, 0, r.stderr.slice(-3000));
  const summary = summaryOf(r);
  assert.equal(summary.rows_ok, ROWS);
  const traceId = /sparkinfer: traces to \S+ \(trace ([0-9a-f]{32})/.exec(r.stderr)?.[1];
  assert.ok(traceId !== undefined, `no trace id in the CLI's log: ${r.stderr.slice(-2000)}`);

  // Jaeger stores what its batch processor hands on: wait until every request span is there.
  let spans: JaegerSpan[] = [];
  for (let i = 0; i < 60; i++) {
    spans = await traceOf(jaeger, traceId);
    if (spans.filter((s) => s.name === 'sparkinfer request').length >= ROWS && spans.some((s) => s.name === 'sparkinfer run')) break;
    await new Promise((res) => setTimeout(res, 500));
  }
  const runs = spans.filter((s) => s.name === 'sparkinfer run');
  assert.equal(runs.length, 1, `spans: ${spans.map((s) => s.name).join(', ')}`);
  const run = runs[0] as JaegerSpan;
  assert.equal(run.service, 'sparkinfer');
  assert.equal(run.parentSpanId, undefined);
  assert.equal(run.tags['sparkinfer.run_id'], summary.run_id);
  assert.equal(run.tags['sparkinfer.status'], 'succeeded');

  const tasks = spans.filter((s) => s.name === 'sparkinfer task');
  assert.ok(tasks.length >= 2, `${tasks.length} task spans for 2 partitions`);
  for (const t of tasks) {
    assert.equal(t.parentSpanId, run.spanId, 'a task span is a child of the run span');
    assert.equal(t.service, 'sparkinfer-worker');
  }
  const taskIds = new Set(tasks.map((t) => t.spanId));
  const requests = spans.filter((s) => s.name === 'sparkinfer request');
  assert.equal(requests.length, ROWS, 'ratio 1: one request span per row');
  for (const q of requests) {
    assert.ok(taskIds.has(q.parentSpanId ?? ''), 'a request span is a child of a task span');
    assert.equal(q.tags['sparkinfer.status'], 'ok');
    assert.equal(q.tags['sparkinfer.attempts'], 1);
    assert.ok(Number(q.tags['gen_ai.usage.output_tokens']) > 0);
    assert.ok(Number(q.tags['sparkinfer.window.limit']) >= 1);
  }
  const tokens = requests.reduce((a, q) => a + Number(q.tags['gen_ai.usage.output_tokens']), 0);
  assert.equal(tokens, summary.completion_tokens, "the request spans' tokens are the summary's");

  // The engine saw, on every request, a traceparent naming this trace and one request span.
  assert.equal(proxy.traceparents.length, proxy.postsTo('/v1/chat/completions'));
  const requestIds = new Set(requests.map((q) => q.spanId));
  const seen = new Set<string>();
  for (const tp of proxy.traceparents) {
    const ref = parseTraceparent(tp);
    assert.ok(ref !== undefined, `malformed traceparent ${tp}`);
    assert.equal(ref.traceId, traceId);
    assert.equal(ref.sampled, true);
    assert.ok(requestIds.has(ref.spanId), `traceparent ${tp} names no request span`);
    seen.add(ref.spanId);
  }
  assert.equal(seen.size, ROWS, 'each request span went to the engine');
});
