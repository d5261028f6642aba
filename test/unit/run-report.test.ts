/**
 * The run report's verdict (src/report/timeline.ts) and its HTML (src/report/run-report.ts) from
 * given samples and a ledger written here; the sampling itself runs in test/integration/run-report.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { classify, formatVerdict, verdictOf, type Sample } from '../../src/report/timeline.ts';
import { ledgerFacts, renderHtml } from '../../src/report/run-report.ts';
import { buildSummary } from '../../src/report/summary.ts';
import { tempDir } from '../helpers/tmp.ts';

const base = { t: 0, rowsDone: 0, rowsFailed: 0, completionTokens: 0, inflight: 2, window: 2, active: 1 };

test('classify: a waiting queue or full slots is the engine; room with our requests in flight is us; room and nothing in flight is Spark', () => {
  assert.equal(classify({ ...base, running: 2, waiting: 3 }, 4), 'engine');
  assert.equal(classify({ ...base, running: 4, waiting: 0 }, 4), 'engine');
  assert.equal(classify({ ...base, running: 1, waiting: 0, inflight: 1 }, 4), 'orchestrator');
  assert.equal(classify({ ...base, running: 0, waiting: 0, inflight: 0 }, 4), 'spark');
  assert.equal(classify({ ...base, inflight: 3 }, undefined), 'orchestrator', 'no metrics: never called engine-bound');
  assert.equal(classify({ ...base, active: 0, waiting: 9 }, 4), undefined, 'no worker running: not part of the inference');
});

test('verdictOf: the largest share wins; fractions and engine_busy_fraction', () => {
  const s = (c: Sample['class']): Sample => ({ ...base, class: c });
  const v = verdictOf([s('engine'), s('engine'), s('engine'), s('orchestrator'), s(undefined), s('spark')]);
  assert.equal(v.bottleneck, 'engine');
  assert.equal(v.samples, 5);
  assert.deepEqual(v.fractions, { engine: 0.6, orchestrator: 0.2, spark: 0.2 });
  assert.equal(v.engine_busy_fraction, 0.6);
  assert.equal(formatVerdict(v), 'engine-bound 60%');
  assert.equal(verdictOf([s(undefined)]).bottleneck, null);
  assert.equal(formatVerdict(verdictOf([])), '');
});

test('the report: self-contained HTML with the verdict, latency percentiles, errors by code with a sample row, retries (by reason) and window cuts', () => {
  const dir = tempDir('report-unit');
  mkdirSync(join(dir, 'ledger'));
  const lines = Array.from({ length: 10 }, (_, i) =>
    JSON.stringify({
      k: `k${i}`,
      latency_ms: (i + 1) * 100,
      attempts: i === 3 ? 3 : 1,
      error_code: i === 7 ? 'E_LENGTH' : null,
      error_message: i === 7 ? 'too long <b>' : null,
    }),
  );
  writeFileSync(join(dir, 'ledger', 'w.jsonl'), `${lines.join('\n')}\n`);
  const facts = ledgerFacts(dir);
  assert.deepEqual(facts.latency, { p50: 500, p90: 900, p99: 1000, max: 1000 });
  assert.equal(facts.retries, 2);
  assert.deepEqual(facts.errors, [{ code: 'E_LENGTH', count: 1, sampleKey: 'k7', sampleMessage: 'too long <b>' }]);
  const samples: Sample[] = [0, 1, 2, 3].map((i) => ({
    ...base,
    t: i * 1000,
    rowsDone: i * 3,
    completionTokens: i * 90,
    running: 2,
    waiting: 1,
    class: 'engine',
  }));
  const summary = buildSummary({
    runId: 'r1',
    runDir: dir,
    wallMs: 4000,
    status: 'succeeded',
    exitCode: 0,
    output: '/o',
    reasons: { retries: { http_5xx: 1, timeout: 1 }, cuts: { queue: 3 } },
  });
  const html = renderHtml(summary, samples, verdictOf(samples), facts);
  assert.match(html, /<th>retries by reason<\/th><td>2 \(http_5xx 1, timeout 1\)<\/td>/);
  assert.match(html, /<th>window cuts by reason<\/th><td>3 \(queue 3\)<\/td>/);
  assert.match(html, /engine-bound \(engine 100%, orchestrator 0%, Spark 0% of 4 s\)/);
  assert.match(html, /p50 500, p90 900, p99 1000, max 1000/);
  assert.match(html, /E_LENGTH<\/td><td>1<\/td><td>k7<\/td><td>too long &lt;b&gt;/);
  assert.equal((html.match(/<svg/g) ?? []).length, 2, 'throughput and in-flight charts (no KV reported)');
  assert.doesNotMatch(html, /<script|<link|\ssrc=|\shref=/i);
});
