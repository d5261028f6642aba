/**
 * The run report and its verdict, against real Spark and a real llama-server with 2 slots: a window
 * of 8 keeps the engine's queue full (engine-bound); a window fixed at 1 leaves a slot idle and the
 * queue empty (orchestrator-bound). Each run writes a self-contained report.html and a report.png,
 * named in the summary with `bottleneck` and `engine_busy_fraction`.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startDemoEngine } from '../helpers/engine.ts';
import { runCli, summaryOf } from '../helpers/cli.ts';
import type { LocalEngine } from '../../src/launch/engine.ts';
import { tempDir } from '../helpers/tmp.ts';

let engine: LocalEngine;
let work: string;

before(async () => {
  engine = await startDemoEngine({ parallel: 2 });
  work = tempDir('report');
  writeFileSync(
    join(work, 'q.jsonl'),
    Array.from({ length: 24 }, (_, i) => JSON.stringify({ id: i, question: `Q${i}: tell a story about the number ${i}.` })).join('\n') +
      '\n',
  );
});
after(async () => {
  await engine?.stop();
});

async function runWith(name: string, concurrency: number): Promise<Record<string, unknown>> {
  const path = join(work, `${name}.yaml`);
  writeFileSync(
    path,
    `
name: ${name}
input: { format: json, path: "q.jsonl", key: id }
prompt: { user: "{{ question }}" }
model: smollm2-135m-instruct
sampling: { temperature: 0, max_tokens: 64, ignore_eos: true }
engine: { endpoint: "${engine.endpoint}", kind: llama-server, concurrency: ${concurrency}, request_timeout: 120s, startup_timeout: 60s }
output: { format: json, path: "out-${name}" }
spark: { master: "local[2,2]", partitions: 1 }
`,
  );
  const r = await runCli(['run', path, '--json'], { timeoutMs: 600_000 });
  assert.equal(r.code, 0, r.stderr.slice(-3000));
  const s = summaryOf(r);
  assert.match(r.stderr, /report: \S+report\.html/, 'the summary says where the report is');
  const html = readFileSync(s.report as string, 'utf8');
  assert.match(html, /-bound \(engine \d+%, orchestrator \d+%, Spark \d+% of \d+ s\)/);
  assert.match(html, /<svg/);
  // Self-contained: nothing to fetch, no script.
  assert.doesNotMatch(html, /<script|<link|\ssrc=|\shref=/i);
  const png = readFileSync(s.report_png as string);
  assert.equal(png.subarray(1, 4).toString('latin1'), 'PNG');
  assert.ok(existsSync(join(s.run_dir as string, 'report.html')));
  // The samples the charts are drawn from, as data (the in-flight bound can be checked on them).
  const samples = JSON.parse(readFileSync(join(s.run_dir as string, 'timeline.json'), 'utf8')) as Array<{ t: number; inflight: number }>;
  assert.ok(
    samples.length >= 2 && samples.every((x) => Number.isFinite(x.t) && Number.isFinite(x.inflight)),
    'timeline.json holds the samples',
  );
  assert.ok(Math.max(...samples.map((x) => x.inflight)) <= concurrency, 'never more in flight than the fixed window');
  // Why it was slow (issue 37): both counts are in the summary and the report, {} and 0 when none.
  for (const k of ['retries_by_reason', 'window_cuts_by_reason'] as const)
    assert.ok(s[k] !== null && typeof s[k] === 'object' && !Array.isArray(s[k]), `${k}: ${JSON.stringify(s[k])}`);
  assert.deepEqual(s.window_cuts_by_reason, {}, 'a fixed window keeps no cuts');
  assert.match(html, /<th>retries by reason<\/th><td>\d+/);
  assert.match(html, /<th>window cuts by reason<\/th><td>0<\/td>/);
  process.stderr.write(
    `run-report: ${name} (window ${concurrency}): bottleneck ${String(s.bottleneck)}, engine_busy_fraction ${String(s.engine_busy_fraction)}, wall ${String(s.wall_s)} s\n`,
  );
  return s;
}

test('a window of 8 on 2 engine slots is engine-bound', { timeout: 600_000 }, async () => {
  const s = await runWith('wide', 8);
  assert.equal(s.bottleneck, 'engine');
  assert.ok((s.engine_busy_fraction as number) > 0.5, `engine busy ${String(s.engine_busy_fraction)}`);
});

test('a window fixed at 1 on 2 engine slots is orchestrator-bound', { timeout: 600_000 }, async () => {
  const s = await runWith('narrow', 1);
  assert.equal(s.bottleneck, 'orchestrator');
  assert.ok((s.engine_busy_fraction as number) < 0.2, `engine busy ${String(s.engine_busy_fraction)}`);
});
