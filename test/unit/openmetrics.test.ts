/**
 * The run's metrics as text (src/report/openmetrics.ts) and the latency histogram the workers keep
 * (src/rundir/histogram.ts): names, labels, escaping, cumulative buckets and both formats. The
 * e2e test (test/e2e/metrics.test.ts) parses a live endpoint with prometheus_client's parser.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { addHistogram, LATENCY_BOUNDS_S, newHistogram, observe } from '../../src/rundir/histogram.ts';
import { renderMetrics, wantsOpenMetrics, type MetricsInput } from '../../src/report/openmetrics.ts';
import type { Progress } from '../../src/rundir/progress.ts';
import { sampleValues } from '../helpers/metrics-text.ts';

test('histogram: each latency lands in the first bucket whose bound holds it; sums add up over workers', () => {
  const a = newHistogram();
  observe(a, 40); // 0.04 s: the first bucket
  observe(a, 100); // exactly 0.1 s: the 0.1 bucket (<=)
  observe(a, 400_000); // above every bound: +Inf
  observe(a, -1);
  observe(a, Number.NaN);
  assert.equal(a.counts.length, LATENCY_BOUNDS_S.length + 1);
  assert.equal(a.counts[0], 1);
  assert.equal(a.counts[LATENCY_BOUNDS_S.indexOf(0.1)], 1);
  assert.equal(a.counts.at(-1), 1);
  assert.ok(Math.abs(a.sum - 400.14) < 1e-9);
  const b = newHistogram();
  observe(b, 40);
  addHistogram(b, a);
  addHistogram(b, undefined);
  addHistogram(b, { counts: [1, 2], sum: 5 }); // another layout: ignored, not misread
  assert.equal(b.counts[0], 2);
  assert.ok(Math.abs(b.sum - 400.18) < 1e-9);
});

function input(over: Partial<Progress> = {}): MetricsInput {
  const latency = newHistogram();
  for (const ms of [30, 300, 3000, 3000]) observe(latency, ms);
  return {
    job: 'tickets',
    runId: 'tickets-20261207-1 "x"\\y',
    finished: false,
    engine: { running: 8, waiting: 3, kvUsage: 0.25 },
    progress: {
      rowsTotal: 100,
      rowsDone: 40,
      rowsFailed: 2,
      promptTokens: 1000,
      completionTokens: 500,
      promptTokensCached: 300,
      inflight: 9,
      window: 12,
      active: 2,
      workers: 2,
      requestsSent: 45,
      hedges: 1,
      retriesByReason: { fault: 3 },
      windowCuts: { queue: 2 },
      errorsByCode: { E_TEMPLATE: 2 },
      latency,
      ...over,
    },
  };
}

test('OpenMetrics: counters end in _total, every series has job_name and run_id (escaped), the text ends with # EOF', () => {
  const text = renderMetrics(input(), true);
  assert.ok(text.endsWith('# EOF\n'));
  assert.match(text, /^# TYPE sparkinfer_rows counter$/m, 'a counter family is named without _total');
  assert.match(text, /^# UNIT sparkinfer_request_duration_seconds seconds$/m);
  const s = sampleValues(text);
  const L = 'job_name="tickets",run_id="tickets-20261207-1 \\"x\\"\\\\y"';
  assert.equal(s.get(`sparkinfer_rows_total{${L},outcome="ok"}`), 38);
  assert.equal(s.get(`sparkinfer_rows_total{${L},outcome="error"}`), 2);
  assert.equal(s.get(`sparkinfer_row_errors_total{${L},code="E_TEMPLATE"}`), 2);
  assert.equal(s.get(`sparkinfer_tokens_total{${L},kind="completion"}`), 500);
  assert.equal(s.get(`sparkinfer_requests_total{${L}}`), 45);
  assert.equal(s.get(`sparkinfer_retries_total{${L},reason="fault"}`), 3);
  assert.equal(s.get(`sparkinfer_window_cuts_total{${L},reason="queue"}`), 2);
  assert.equal(s.get(`sparkinfer_requests_in_flight{${L}}`), 9);
  assert.equal(s.get(`sparkinfer_engine_requests_waiting{${L}}`), 3);
  assert.equal(s.get(`sparkinfer_engine_kv_cache_usage_ratio{${L}}`), 0.25);
  assert.equal(s.get(`sparkinfer_run_finished{${L}}`), 0);
  // Buckets are cumulative, +Inf equals the count.
  const buckets = [...s.entries()].filter(([k]) => k.startsWith('sparkinfer_request_duration_seconds_bucket')).map(([, v]) => v);
  assert.equal(buckets.length, LATENCY_BOUNDS_S.length + 1);
  assert.deepEqual(
    [...buckets].sort((a, b) => a - b),
    buckets,
    'cumulative',
  );
  assert.equal(buckets.at(-1), 4);
  assert.equal(s.get(`sparkinfer_request_duration_seconds_bucket{${L},le="+Inf"}`), 4);
  assert.equal(s.get(`sparkinfer_request_duration_seconds_bucket{${L},le="0.5"}`), 2);
  assert.equal(s.get(`sparkinfer_request_duration_seconds_count{${L}}`), 4);
  assert.ok(Math.abs((s.get(`sparkinfer_request_duration_seconds_sum{${L}}`) ?? 0) - 6.33) < 1e-9);
});

test('Prometheus text 0.0.4: a counter TYPE names the _total sample, no UNIT, no # EOF; unknown numbers are left out', () => {
  const unplanned = input();
  delete unplanned.progress.rowsTotal;
  const text = renderMetrics(unplanned, false);
  assert.match(text, /^# TYPE sparkinfer_rows_total counter$/m);
  assert.doesNotMatch(text, /^# UNIT/m);
  assert.doesNotMatch(text, /# EOF/);
  assert.doesNotMatch(text, /sparkinfer_rows_planned/, 'no planned rows before the driver knows them');
  const noEngine = renderMetrics({ ...input(), engine: undefined }, false);
  assert.doesNotMatch(noEngine, /sparkinfer_engine_/);
});

test('content negotiation: OpenMetrics only when the scraper asks for it', () => {
  assert.equal(wantsOpenMetrics('application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5'), true);
  assert.equal(wantsOpenMetrics('text/plain'), false);
  assert.equal(wantsOpenMetrics(undefined), false);
});
