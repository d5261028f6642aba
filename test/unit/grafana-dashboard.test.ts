/**
 * The Grafana dashboard shipped in deploy/grafana/ reads only metrics and labels the run's
 * endpoint serves (src/report/openmetrics.ts), so a renamed metric cannot leave a dashboard panel
 * silently empty.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../helpers/cli.ts';
import { metricFamilies, renderMetrics } from '../../src/report/openmetrics.ts';
import { newHistogram } from '../../src/rundir/histogram.ts';
import { sampleValues } from '../helpers/metrics-text.ts';

interface Panel {
  id: number;
  title: string;
  gridPos: { x: number; y: number; w: number; h: number };
  targets: Array<{ expr: string }>;
}

const dashboard = JSON.parse(readFileSync(join(ROOT, 'deploy', 'grafana', 'sparkinfer-dashboard.json'), 'utf8')) as {
  uid: string;
  panels: Panel[];
  templating: { list: Array<{ name: string; query: unknown }> };
};

/** Every metric and label the endpoint can serve, from a render with every optional number present. */
function served(): { metrics: Set<string>; labels: Set<string> } {
  const input = {
    job: 'j',
    runId: 'r',
    finished: true,
    engine: { running: 1, waiting: 1, kvUsage: 0.5 },
    progress: {
      rowsTotal: 1,
      rowsDone: 1,
      rowsFailed: 1,
      promptTokens: 1,
      completionTokens: 1,
      promptTokensCached: 1,
      inflight: 1,
      window: 1,
      active: 1,
      workers: 1,
      requestsSent: 1,
      hedges: 1,
      retriesByReason: { timeout: 1 },
      windowCuts: { queue: 1 },
      errorsByCode: { E_X: 1 },
      latency: newHistogram(),
    },
  };
  assert.equal(metricFamilies(input).length, 17, 'every family is rendered when every number is known');
  const metrics = new Set<string>();
  const labels = new Set<string>();
  for (const key of sampleValues(renderMetrics(input, true)).keys()) {
    const m = /^([a-z_:][a-z0-9_:]*)\{(.*)\}$/.exec(key);
    assert.ok(m !== null);
    metrics.add(m[1] as string);
    for (const l of (m[2] as string).matchAll(/([a-z_]+)="/g)) labels.add(l[1] as string);
  }
  return { metrics, labels };
}

test('every metric a dashboard query reads is one the endpoint serves, with its labels', () => {
  const { metrics, labels } = served();
  const queries = [
    ...dashboard.panels.flatMap((p) => p.targets.map((t) => t.expr)),
    ...dashboard.templating.list.map((v) => JSON.stringify(v.query)),
  ];
  assert.ok(queries.length >= 20);
  const used = new Set<string>();
  for (const q of queries) {
    for (const m of q.matchAll(/\bsparkinfer_[a-z_]+/g)) {
      assert.ok(metrics.has(m[0]), `${m[0]} (in ${q}) is not served`);
      used.add(m[0]);
    }
    // Labels in selectors, `by (...)` and label_values(…, label).
    for (const m of q.matchAll(/([a-z_]+)\s*(?:=~|!=|=)\s*\\?"/g)) assert.ok(labels.has(m[1] as string), `label ${m[1]} in ${q}`);
    for (const m of q.matchAll(/by \(([a-z_, ]+)\)/g))
      for (const l of (m[1] as string).split(',').map((s) => s.trim())) assert.ok(labels.has(l), `label ${l} in ${q}`);
  }
  // The dashboard covers the list: throughput, errors, retries, cuts, in flight, engine, latency.
  for (const name of [
    'sparkinfer_rows_total',
    'sparkinfer_tokens_total',
    'sparkinfer_retries_total',
    'sparkinfer_window_cuts_total',
    'sparkinfer_requests_in_flight',
    'sparkinfer_engine_requests_waiting',
    'sparkinfer_engine_kv_cache_usage_ratio',
    'sparkinfer_request_duration_seconds_bucket',
    'sparkinfer_row_errors_total',
  ])
    assert.ok(used.has(name), `no panel shows ${name}`);
});

test('panels have unique ids and do not overlap on the 24-column grid', () => {
  const ids = dashboard.panels.map((p) => p.id);
  assert.equal(new Set(ids).size, ids.length);
  assert.equal(dashboard.uid, 'sparkinfer-runs');
  const cells = new Set<string>();
  for (const p of dashboard.panels) {
    assert.ok(p.gridPos.x + p.gridPos.w <= 24, `${p.title} runs past the grid`);
    for (let x = p.gridPos.x; x < p.gridPos.x + p.gridPos.w; x++)
      for (let y = p.gridPos.y; y < p.gridPos.y + p.gridPos.h; y++) {
        assert.ok(!cells.has(`${x},${y}`), `${p.title} overlaps another panel at ${x},${y}`);
        cells.add(`${x},${y}`);
      }
  }
});
