/**
 * The spend budgets (`limits.max_completion_tokens`, `max_prompt_tokens`, `max_wall`) against real
 * Spark and a real llama-server: each one stops a run within one window of requests, keeps what
 * finished in the ledger, writes no output and exits 1 naming the budget; the budgets come from
 * `--set`, so every rerun resumes (a budget is not part of the job's identity), and the last one,
 * without a budget, writes every key once.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startDemoEngine } from '../helpers/engine.ts';
import { runCli, summaryOf } from '../helpers/cli.ts';
import type { LocalEngine } from '../../src/launch/engine.ts';
import { ledgerResults, readOutput, runDirs, tally, writeQuestions } from './lib.ts';
import { tempDir } from '../helpers/tmp.ts';

const ROWS = 40;
const WINDOW = 2;
let engine: LocalEngine;
let work: string;

before(async () => {
  engine = await startDemoEngine({ parallel: 4 });
  work = tempDir('spend');
});
after(async () => {
  await engine?.stop();
});

/** Rows of `results` (in completion order) that finished after the running sum of `field` had reached `limit`. */
function rowsPastBudget(results: Array<Record<string, unknown>>, field: string, limit: number): number {
  let sum = 0;
  let past = 0;
  for (const r of results) {
    if (sum >= limit) past++;
    sum += (r[field] as number | null) ?? 0;
  }
  return past;
}

test('each spend budget stops the run within one window, no output, exit 1 naming it; --set reruns resume; every key once', {
  timeout: 900_000,
}, async () => {
  const input = join(work, 'q.jsonl');
  const out = join(work, 'out');
  const ids = writeQuestions(input, ROWS);
  const path = join(work, 'spend.yaml');
  // One partition: its worker's ledger is in completion order, so "within one window" is checkable row by row.
  writeFileSync(
    path,
    `
name: spend
input: { format: json, path: "${input}", key: id }
prompt: { system: "Answer in one sentence.", user: "{{ question }}" }
model: smollm2-135m-instruct
sampling: { temperature: 0, max_tokens: 24, ignore_eos: true }
engine: { endpoint: "${engine.endpoint}", kind: llama-server, concurrency: ${WINDOW}, request_timeout: 120s, startup_timeout: 60s }
output: { format: json, path: "${out}" }
spark: { master: "local[2,3]", partitions: 1 }
`,
  );
  const root = `${out}.sparkinfer`;
  const stops: Array<{ key: string; set: string; field?: string; limit?: number }> = [
    { key: 'max_completion_tokens', set: 'limits.max_completion_tokens=150', field: 'completion_tokens', limit: 150 },
    { key: 'max_prompt_tokens', set: 'limits.max_prompt_tokens=300', field: 'prompt_tokens', limit: 300 },
    { key: 'max_wall', set: 'limits.max_wall=1s' },
  ];
  let inLedger = 0;
  for (const s of stops) {
    const r = await runCli(['run', path, '--json', '--set', s.set], { timeoutMs: 600_000 });
    assert.equal(r.code, 1, `${s.key}: ${r.stderr.slice(-3000)}`);
    assert.match(r.stderr, new RegExp(`limits\\.${s.key} \\(\\S+\\) reached`), s.key);
    assert.match(r.stderr, /rows are done and kept in the ledger/);
    assert.match(r.stderr, /run the same command again to continue/);
    assert.equal(existsSync(join(out, '_SUCCESS')), false, `${s.key}: no output was written`);
    assert.equal(summaryOf(r).status, 'failed');
    const dir = runDirs(root).at(-1) as string;
    const results = ledgerResults(dir);
    inLedger += results.length;
    const done = Number(/; (\d+) of 40 rows are done/.exec(r.stderr)?.[1]);
    assert.equal(done, inLedger, `${s.key}: the message counts the rows in the ledgers (${r.stderr.slice(-600)})`);
    if (s.field !== undefined && s.limit !== undefined) {
      const spent = results.reduce((a, x) => a + ((x[s.field as string] as number | null) ?? 0), 0);
      assert.ok(spent >= s.limit, `${s.key}: spent ${spent}, the budget ${s.limit} was reached`);
      const past = rowsPastBudget(results, s.field, s.limit);
      assert.ok(past <= WINDOW, `${s.key}: ${past} rows finished after the budget was reached; at most the window (${WINDOW})`);
    }
    assert.ok(inLedger < ROWS, `${s.key}: stopped before the end (${inLedger} of ${ROWS} done)`);
    process.stderr.write(`spend-budget: ${s.key}: ${results.length} rows in this run's ledger, ${inLedger} of ${ROWS} done\n`);
  }
  assert.ok(inLedger < ROWS, `the budgets left rows to do (${inLedger} of ${ROWS} done)`);
  const last = await runCli(['run', path, '--json'], { timeoutMs: 600_000 });
  assert.equal(last.code, 0, last.stderr.slice(-3000));
  const s = summaryOf(last);
  assert.equal(s.rows_from_ledger, inLedger, 'every row the stopped runs finished was reused');
  assert.equal(s.rows_inferred, ROWS - inLedger);
  const t = tally(readOutput(out), ids);
  assert.equal(t.rowsOut, ROWS);
  assert.equal(t.duplicates, 0);
  assert.equal(t.lost, 0);
});
