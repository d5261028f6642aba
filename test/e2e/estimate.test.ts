/**
 * `sparkinfer estimate` against the real run that follows it, real components only: the
 * quickstart's job and 100 questions, real Spark (local mode), a real llama-server with the demo
 * model behind a counting proxy (a test instrument that forwards every request unchanged).
 *   - the estimate sends no generation but the sample's, and counts every prompt with the engine;
 *   - its prompt tokens equal the real run's summary exactly; its completion tokens and wall time
 *     are within ±25 % of the real run's (both printed);
 *   - the real run takes the sampled rows from the ledger (no generation paid twice) and writes
 *     every key exactly once.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, readJsonOutput, runCli, summaryOf } from '../helpers/cli.ts';
import { startDemoEngine } from '../helpers/engine.ts';
import { startCountingProxy, type CountingProxy } from '../helpers/counting-proxy.ts';
import type { LocalEngine } from '../../src/launch/engine.ts';
import type { Projection } from '../../src/job/projection.ts';
import { tempDir } from '../helpers/tmp.ts';

const SAMPLE = 32;
const CHAT = '/v1/chat/completions';
let engine: LocalEngine;
let proxy: CountingProxy;
let work: string;

before(async () => {
  engine = await startDemoEngine({ parallel: 8 });
  proxy = await startCountingProxy(engine.endpoint.replace(/\/v1$/, ''));
  work = tempDir('estimate');
});
after(async () => {
  await proxy?.close();
  await engine?.stop();
});

test('estimate → run on the quickstart: prompt tokens exact, completion tokens and wall time within ±25 %, every key once', {
  timeout: 900_000,
}, async (t) => {
  const quick = join(ROOT, 'examples', 'quickstart');
  copyFileSync(join(quick, 'questions.jsonl'), join(work, 'questions.jsonl'));
  // The quickstart's job, with the engine behind the proxy instead of launched (the same llama-server and model).
  const yaml = readFileSync(join(quick, 'job.yaml'), 'utf8');
  const job = join(work, 'job.yaml');
  writeFileSync(
    job,
    yaml.replace(
      /engine:\n {2}launch:\n(?: {4}.*\n)+/,
      `engine:\n  endpoint: "${proxy.endpoint}"\n  kind: llama-server\n  # the quickstart's own llama-server, started by the test\n`,
    ),
  );
  assert.match(readFileSync(job, 'utf8'), /endpoint: "http:\/\/127\.0\.0\.1:\d+\/v1"\n {2}kind: llama-server/);

  const est = await runCli(['estimate', job, '--json', '--sample', String(SAMPLE)], { timeoutMs: 600_000 });
  assert.equal(est.code, 0, est.stderr.slice(-3000));
  const p = summaryOf(est) as unknown as Projection & { run_dir: string };
  assert.equal(proxy.postsTo(CHAT), SAMPLE, 'the estimate generated for the sample only');
  assert.equal(proxy.postsTo('/apply-template'), 100, 'every prompt rendered by the engine once');
  assert.equal(proxy.postsTo('/tokenize'), 100, 'and counted once');
  assert.equal(p.rows, 100);
  assert.equal(p.rows_done, SAMPLE);
  assert.equal(p.rows_left, 100 - SAMPLE);
  assert.equal(p.completion.sampled, SAMPLE);
  assert.match(est.stderr, /prompt tokens {6}\d+ \(every row, counted by the engine's tokenizer\)/);
  assert.match(est.stderr, /wall time {10}.* for the next run: start-up/);

  const run = await runCli(['run', job, '--json'], { timeoutMs: 600_000 });
  assert.equal(run.code, 0, run.stderr.slice(-3000));
  const s = summaryOf(run);
  assert.equal(proxy.postsTo(CHAT), 100, 'the run generated only the rows the sample left');
  assert.equal(s.rows_from_ledger, SAMPLE);
  assert.equal(s.rows_inferred, 100 - SAMPLE);
  const rows = readJsonOutput(join(work, 'out'));
  assert.equal(rows.length, 100);
  assert.equal(new Set(rows.map((r) => r.id)).size, 100, 'every key exactly once');

  const realCompletion = s.completion_tokens as number;
  const realWall = s.wall_s as number;
  t.diagnostic(`prompt tokens: estimate ${p.prompt_tokens}, run ${String(s.prompt_tokens)}`);
  t.diagnostic(
    `completion tokens: estimate ${p.completion_tokens.mid} (${p.completion_tokens.low}–${p.completion_tokens.high}), run ${realCompletion}`,
  );
  t.diagnostic(
    `wall s: estimate ${p.wall_s.mid} (${p.wall_s.low}–${p.wall_s.high}; start-up ${p.startup_s} + inference ${p.infer_s.mid} + wrap-up ${p.tail_s}), run ${realWall}; estimate's own ${Math.round(est.ms / 1000)} s`,
  );
  assert.equal(p.prompt_tokens, s.prompt_tokens, 'prompt tokens exactly');
  const off = (a: number, b: number): number => Math.abs(a - b) / b;
  assert.ok(off(p.completion_tokens.mid, realCompletion) <= 0.25, `completion tokens ${p.completion_tokens.mid} vs ${realCompletion}`);
  assert.ok(off(p.wall_s.mid, realWall) <= 0.25, `wall ${p.wall_s.mid} s vs ${realWall} s`);
});
