/**
 * OpenTelemetry traces (docs/observability.md "Traces"): the `traceparent` header's format, the
 * per-request sampling, the settings from the job and the standard environment, the header on
 * the engine client's POSTs (our HTTP/1.1 pool and an undici dispatcher), and a traced worker's
 * pipeline exporting its task and request spans to an OTLP sink. The real backend (Jaeger) and a
 * real run are `npm run test:traces`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Agent } from 'undici';
import { formatTraceparent, newParentRef, parseTraceparent, requestSampler, validRef } from '../../src/trace/context.ts';
import { resolveTraceSettings, samplerRatio, tracesUrl } from '../../src/trace/settings.ts';
import { EngineClient } from '../../src/engine/client.ts';
import { runPipeline } from '../../src/worker/pipeline.ts';
import { startWorkerTrace } from '../../src/worker/tracing.ts';
import type { WorkerBasics } from '../../src/worker/setup.ts';
import type { ResolvedJob } from '../../src/jobfile/resolved.ts';
import type { ResultLine } from '../../src/worker/protocol.ts';
import { serve } from '../helpers/http-server.ts';
import { startOtlpSink } from '../helpers/otlp-sink.ts';
import { linesOf, pipelineDeps } from '../helpers/pipeline.ts';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const SPAN = '00f067aa0ba902b7';

test('traceparent: version 00, lowercase hex ids, the sampled flag', () => {
  assert.equal(formatTraceparent({ traceId: TRACE, spanId: SPAN, sampled: true }), `00-${TRACE}-${SPAN}-01`);
  assert.equal(formatTraceparent({ traceId: TRACE, spanId: SPAN, sampled: false }), `00-${TRACE}-${SPAN}-00`);
  assert.throws(() => formatTraceparent({ traceId: '0'.repeat(32), spanId: SPAN, sampled: true }), /not a valid trace context/);
  assert.throws(() => formatTraceparent({ traceId: TRACE.toUpperCase(), spanId: SPAN, sampled: true }), /not a valid/);
  assert.equal(validRef({ traceId: TRACE, spanId: '0'.repeat(16) }), false);
});

test('traceparent: parsed back; what the specification says to ignore is undefined', () => {
  assert.deepEqual(parseTraceparent(`00-${TRACE}-${SPAN}-01`), { traceId: TRACE, spanId: SPAN, sampled: true });
  assert.deepEqual(parseTraceparent(` 00-${TRACE}-${SPAN}-09 `), { traceId: TRACE, spanId: SPAN, sampled: true });
  assert.deepEqual(parseTraceparent(`00-${TRACE}-${SPAN}-00`)?.sampled, false);
  // A later version may add fields; version ff is invalid; 00 must be exactly 55 characters.
  assert.deepEqual(parseTraceparent(`01-${TRACE}-${SPAN}-01-what-comes`), { traceId: TRACE, spanId: SPAN, sampled: true });
  for (const bad of [
    undefined,
    '',
    `ff-${TRACE}-${SPAN}-01`,
    `00-${TRACE}-${SPAN}-01-extra`,
    `00-${'0'.repeat(32)}-${SPAN}-01`,
    `00-${TRACE}-${'0'.repeat(16)}-01`,
    `00-${TRACE.toUpperCase()}-${SPAN}-01`,
    `00-${TRACE}-${SPAN}-x1`,
    `00-${TRACE}-${SPAN}`,
  ])
    assert.equal(parseTraceparent(bad), undefined, String(bad));
});

test('newParentRef: random sampled ids, never all zero', () => {
  const a = newParentRef();
  assert.ok(validRef(a) && a.sampled);
  assert.notEqual(newParentRef().traceId, a.traceId);
  const zero = newParentRef((n) => Buffer.alloc(n));
  assert.ok(validRef(zero), JSON.stringify(zero));
});

test('requestSampler: 1 and 0 decide without drawing; a ratio keeps about that share', () => {
  let draws = 0;
  const counting = () => {
    draws++;
    return 0.5;
  };
  assert.equal(requestSampler(1, counting)(), true);
  assert.equal(requestSampler(0, counting)(), false);
  assert.equal(draws, 0);
  let x = 0;
  const steps = () => (x = (x + 0.618033988749895) % 1); // an even spread over [0, 1)
  const s = requestSampler(0.01, steps);
  let kept = 0;
  for (let i = 0; i < 100_000; i++) if (s()) kept++;
  assert.ok(kept > 900 && kept < 1100, `kept ${kept} of 100000 at 1 %`);
  assert.throws(() => requestSampler(1.5), /within 0 and 1/);
  assert.throws(() => requestSampler(Number.NaN), /within 0 and 1/);
});

test('settings: off without an endpoint; the job wins over the environment; the standard variables', () => {
  const warnings: string[] = [];
  const warn = (m: string) => warnings.push(m);
  assert.equal(resolveTraceSettings(undefined, {}), undefined);
  assert.deepEqual(resolveTraceSettings({}, {}), { endpoint: 'http://localhost:4318/v1/traces', sample_ratio: 1 });
  assert.deepEqual(resolveTraceSettings(undefined, { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318/' }), {
    endpoint: 'http://c:4318/v1/traces',
    sample_ratio: 1,
  });
  // The signal-specific variable is a full URL, used as it is, and wins over the general one.
  assert.equal(
    resolveTraceSettings(undefined, { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://t:9/x' })
      ?.endpoint,
    'http://t:9/x',
  );
  assert.deepEqual(
    resolveTraceSettings(
      { endpoint: 'http://j:4318/v1/traces', sample_ratio: 0.25 },
      {
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318',
        OTEL_TRACES_SAMPLER: 'traceidratio',
        OTEL_TRACES_SAMPLER_ARG: '0.5',
      },
    ),
    { endpoint: 'http://j:4318/v1/traces', sample_ratio: 0.25 },
  );
  const env = { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' };
  assert.equal(
    resolveTraceSettings(undefined, { ...env, OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.01' })
      ?.sample_ratio,
    0.01,
  );
  assert.equal(resolveTraceSettings(undefined, { ...env, OTEL_TRACES_SAMPLER: 'always_off' }), undefined);
  assert.equal(resolveTraceSettings(undefined, { ...env, OTEL_SDK_DISABLED: 'true' }), undefined);
  assert.equal(resolveTraceSettings({}, { ...env, OTEL_TRACES_EXPORTER: 'none' }), undefined);
  assert.equal(samplerRatio({ OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '2' }, warn), 1);
  assert.equal(samplerRatio({ OTEL_TRACES_SAMPLER: 'jaeger_remote' }, warn), 1);
  assert.equal(warnings.length, 2);
  assert.match(warnings[0] ?? '', /OTEL_TRACES_SAMPLER_ARG=2/);
  assert.equal(tracesUrl('http://h:4318/v1/traces/'), 'http://h:4318/v1/traces');
});

test('the engine client sends traceparent with a traced POST only, on its pool and on a dispatcher', async (t) => {
  const seen: Array<string | undefined> = [];
  const s = await serve((req, res) => {
    seen.push(req.headers.traceparent as string | undefined);
    res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
  });
  const agent = new Agent();
  const pooled = new EngineClient({ endpoint: s.url, connections: 1, requestTimeoutMs: 5000 });
  const viaAgent = new EngineClient({ endpoint: s.url, connections: 1, requestTimeoutMs: 5000, dispatcher: agent });
  t.after(async () => {
    await pooled.close();
    await viaAgent.close();
    await agent.close();
    await s.close();
  });
  const tp = `00-${TRACE}-${SPAN}-01`;
  for (const c of [pooled, viaAgent]) {
    await c.post('/chat/completions', '{}');
    await c.post('/chat/completions', '{}', { traceparent: tp });
    await c.post('/chat/completions', '{}', {});
  }
  assert.deepEqual(seen, [undefined, tp, undefined, undefined, tp, undefined]);
});

function tracedWorker(endpoint: string, ratio: number): WorkerBasics {
  const job = {
    name: 'traced',
    model: 'm',
    run: { id: 'traced-1', traces: { endpoint: `${endpoint}/v1/traces`, sample_ratio: ratio, traceparent: `00-${TRACE}-${SPAN}-01` } },
  } as unknown as ResolvedJob;
  return { job, counting: false, id: 'w1', runDir: '/nonexistent', log: () => {} };
}

test('a traced worker: the task span under the run span, a span per sampled row under it, its traceparent sent', async (t) => {
  const sink = await startOtlpSink();
  t.after(() => sink.close());
  const trace = await startWorkerTrace(tracedWorker(sink.endpoint, 1));
  assert.ok(trace !== undefined);
  const sent = new Map<string, string | undefined>();
  const out: ResultLine[] = [];
  const deps = pipelineDeps(
    {
      lines: linesOf(5),
      attempt: async (p) => {
        sent.set(JSON.parse(p.body).q, p.traceparent);
        return { ok: true, latencyMs: 1, fields: { text: 'a', finish_reason: 'stop', prompt_tokens: 3, completion_tokens: 2 } };
      },
    },
    out,
  );
  const counters = await runPipeline(trace.wrap(deps));
  await trace.end({ counters, exitCode: 0 });
  assert.equal(out.length, 5);
  const task = sink.spans.find((s) => s.name === 'sparkinfer task');
  assert.ok(task !== undefined, JSON.stringify(sink.spans));
  assert.equal(task.traceId, TRACE);
  assert.equal(task.parentSpanId, SPAN);
  assert.equal(task.service, 'sparkinfer-worker');
  assert.equal(task.attributes['sparkinfer.rows'], 5);
  const requests = sink.spans.filter((s) => s.name === 'sparkinfer request');
  assert.equal(requests.length, 5);
  for (const r of requests) {
    assert.equal(r.traceId, TRACE);
    assert.equal(r.parentSpanId, task.spanId);
    assert.equal(r.attributes['gen_ai.usage.output_tokens'], 2);
    assert.equal(r.attributes['sparkinfer.attempts'], 1);
    assert.equal(r.attributes['sparkinfer.status'], 'ok');
  }
  // The header each attempt carried names the row's own span.
  const ids = new Set(requests.map((r) => `00-${TRACE}-${r.spanId}-01`));
  assert.deepEqual(new Set(sent.values()), ids);
});

test('a traced worker at ratio 0: the task span only, no header on any request', async (t) => {
  const sink = await startOtlpSink();
  t.after(() => sink.close());
  const trace = await startWorkerTrace(tracedWorker(sink.endpoint, 0));
  assert.ok(trace !== undefined);
  const headers: Array<string | undefined> = [];
  const counters = await runPipeline(
    trace.wrap(
      pipelineDeps(
        {
          lines: linesOf(20),
          attempt: async (p) => {
            headers.push(p.traceparent);
            return { ok: true, latencyMs: 1, fields: { text: 'a' } };
          },
        },
        [],
      ),
    ),
  );
  await trace.end({ counters, exitCode: 0 });
  assert.deepEqual(
    sink.spans.map((s) => s.name),
    ['sparkinfer task'],
  );
  assert.ok(headers.every((h) => h === undefined));
});

test('an untraced run block: no worker trace (nothing loaded, nothing wrapped)', async () => {
  const w = tracedWorker('http://127.0.0.1:9', 1);
  delete (w.job.run as { traces?: unknown }).traces;
  assert.equal(await startWorkerTrace(w), undefined);
});
