/**
 * The run's Prometheus endpoint (`observability.prometheus`, src/job/metrics.ts), end to end with
 * real components: CLI → spark-submit (local mode) → bundled workers → real llama-server. The test
 * scrapes it while the run goes, as Prometheus would, and checks that the counters only rise, that
 * the text parses with prometheus_client's reference parsers (OpenMetrics and the classic text
 * format), and that the final counts agree with summary.json.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, runCli, summaryOf } from '../helpers/cli.ts';
import { startDemoEngine } from '../helpers/engine.ts';
import { motoVenv } from '../helpers/s3-server.ts';
import { freePort } from '../../src/launch/port.ts';
import type { LocalEngine } from '../../src/launch/engine.ts';
import { tempDir } from '../helpers/tmp.ts';
import { sampleValues } from '../helpers/metrics-text.ts';

let engine: LocalEngine;
const work = tempDir('metrics');

before(async () => {
  engine = await startDemoEngine({ parallel: 4 });
});
after(async () => {
  await engine?.stop();
});

interface ParsedSample {
  family: string;
  type: string;
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** prometheus_client's parser (in the test tools venv `setup.sh --test-servers` makes). */
function parseWithPrometheusClient(text: string, format: 'openmetrics' | 'text'): ParsedSample[] {
  const out = execFileSync(join(motoVenv(), 'bin', 'python'), [join(ROOT, 'test', 'helpers', 'parse_metrics.py'), format], {
    input: text,
    encoding: 'utf8',
  });
  return out
    .trim()
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as ParsedSample);
}

/** One scrape's sample values by `name{k="v",...}` (sorted labels), without job_name and run_id. */
function valuesOf(samples: ParsedSample[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const s of samples) {
    const { job_name: _j, run_id: _r, ...rest } = s.labels;
    const labels = Object.entries(rest)
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([k, v]) => `${k}=${v}`)
      .join(',');
    m.set(`${s.name}{${labels}}`, s.value);
  }
  return m;
}

async function scrape(url: string, openMetrics: boolean): Promise<{ text: string; type: string } | undefined> {
  try {
    const res = await fetch(url, { headers: openMetrics ? { accept: 'application/openmetrics-text;version=1.0.0' } : {} });
    return { text: await res.text(), type: res.headers.get('content-type') ?? '' };
  } catch {
    return undefined; // not up yet, or closed
  }
}

test('the metrics endpoint counts a live run: counters only rise, parse with the reference parsers, and end where summary.json does', async () => {
  const rows = Array.from({ length: 60 }, (_, i) => JSON.stringify({ id: i, q: `Name a colour, number ${i}.` })).join('\n');
  writeFileSync(join(work, 'q.jsonl'), `${rows}\n`);
  const port = await freePort();
  const jobPath = join(work, 'job.yaml');
  writeFileSync(
    jobPath,
    `
name: metrics-e2e
input: { format: json, path: q.jsonl, key: id }
prompt: { user: "{{ q }}" }
model: smollm2-135m-instruct
sampling: { temperature: 0, max_tokens: 24 }
engine: { endpoint: "${engine.endpoint}", kind: llama-server, startup_timeout: 60s }
output: { format: json, path: out }
spark: { master: "local[2]" }
observability: { prometheus: { port: ${port}, linger: 4s } }
`,
  );
  const url = `http://127.0.0.1:${port}/metrics`;
  let done = false;
  const run = runCli(['run', jobPath, '--json']).finally(() => {
    done = true;
  });
  const seen: Array<Map<string, number>> = [];
  let midRun: string | undefined;
  let last: string | undefined;
  let lastClassic: string | undefined;
  // Bounded: 400 scrapes 250 ms apart is 100 s; the run ends well before.
  for (let i = 0; i < 400 && !done; i++) {
    const got = await scrape(url, true);
    if (got !== undefined) {
      assert.match(got.type, /^application\/openmetrics-text; version=1\.0\.0/);
      const values = sampleValues(got.text);
      seen.push(values);
      const ok = [...values].find(([k]) => k.startsWith('sparkinfer_rows_total{') && k.endsWith('outcome="ok"}'))?.[1] ?? 0;
      if (ok > 0 && ok < 60) midRun ??= got.text;
      if ([...values].some(([k, v]) => k.startsWith('sparkinfer_run_finished{') && v === 1)) {
        last = got.text;
        lastClassic ??= (await scrape(url, false))?.text;
      }
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  const r = await run;
  assert.equal(r.code, 0, r.stderr.slice(-3000));
  const summary = summaryOf(r);
  assert.ok(seen.length >= 4, `only ${seen.length} scrapes answered`);
  assert.ok(midRun !== undefined, 'no scrape saw the run part way (0 < rows < 60)');
  assert.ok(last !== undefined, 'no scrape saw the final counts (sparkinfer_run_finished 1) while the endpoint lingered');
  // Counters never go down from one scrape to the next.
  for (let i = 1; i < seen.length; i++) {
    for (const [k, v] of seen[i - 1] as Map<string, number>) {
      if (!/_total\{|_bucket\{|_count\{/.test(k)) continue;
      const now = (seen[i] as Map<string, number>).get(k);
      assert.ok(now !== undefined && now >= v, `${k} went from ${v} to ${now} between scrapes ${i - 1} and ${i}`);
    }
  }
  // The final counts are the summary's.
  const final = valuesOf(parseWithPrometheusClient(last, 'openmetrics'));
  assert.equal(final.get('sparkinfer_rows_total{outcome=ok}'), summary.rows_ok);
  assert.equal(final.get('sparkinfer_rows_total{outcome=error}'), summary.rows_failed);
  assert.equal(final.get('sparkinfer_tokens_total{kind=prompt}'), summary.prompt_tokens);
  assert.equal(final.get('sparkinfer_tokens_total{kind=completion}'), summary.completion_tokens);
  assert.equal(final.get('sparkinfer_rows_planned{}'), 60);
  const attempts = final.get('sparkinfer_requests_total{}') ?? 0;
  assert.ok(attempts >= 60, `${attempts} requests for 60 rows`);
  assert.equal(final.get('sparkinfer_request_duration_seconds_count{}'), attempts, 'every attempt is in the latency histogram');
  assert.equal(final.get('sparkinfer_request_duration_seconds_bucket{le=+Inf}'), attempts);
  assert.ok((final.get('sparkinfer_request_duration_seconds_sum{}') ?? 0) > 0);
  // Every series names the job and the run.
  for (const s of parseWithPrometheusClient(last, 'openmetrics')) {
    assert.equal(s.labels.job_name, 'metrics-e2e');
    assert.equal(s.labels.run_id, summary.run_id);
  }
  assert.ok(parseWithPrometheusClient(midRun, 'openmetrics').length > 10);
  // A scraper that does not ask for OpenMetrics gets the classic text format, which its parser reads alike.
  assert.ok(lastClassic !== undefined && !lastClassic.includes('# EOF'));
  assert.deepEqual(valuesOf(parseWithPrometheusClient(lastClassic, 'text')), final);
  // The endpoint is gone once the command has exited.
  assert.equal(await scrape(url, false), undefined, 'the metrics port still answers after the run');
});
