/**
 * Nothing survives its run (src/launch/cleanup.ts): a real run (Spark local mode, a launched
 * llama-server, the real workers) is SIGKILLed mid-inference, and every process it started must be
 * gone within 10 s, found by an environment tag that all of them inherit (test/helpers/procs.ts).
 * Then the last line of defence: with the parent-death signal and the reaper switched off by their
 * fault hook, the killed run's engine lives on, and the rerun finds it by its pid file, stops it,
 * says so, and completes with every key once.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli, summaryOf, type CliResult } from '../helpers/cli.ts';
import { newTag, TAG_ENV, taggedProcesses, type TaggedProcess } from '../helpers/procs.ts';
import { waitFor } from '../helpers/wait.ts';
import { groupRunning, readGroups } from '../../src/launch/procs.ts';
import { ledgerLineCount, printTable, readOutput, row, tally, writeQuestions, type ScenarioRow } from './lib.ts';
import { tempDir } from '../helpers/tmp.ts';

const ROWS = 40;
const work = tempDir('rel-leftovers');
const table: ScenarioRow[] = [];
after(() => printTable('reliability: nothing survives a killed run', table));

/** A job that launches its own engine and runs long enough (8 tokens a row, 2 in flight) to be killed mid-way. */
function writeJob(name: string): { path: string; out: string; ids: number[] } {
  const input = join(work, `${name}.jsonl`);
  const ids = writeQuestions(input, ROWS);
  const out = join(work, `out-${name}`);
  const path = join(work, `${name}.yaml`);
  writeFileSync(
    path,
    `
name: ${name}
input: { format: json, path: "${input}", key: id }
prompt: { user: "{{ question }}" }
model: smollm2-135m-instruct
sampling: { temperature: 0, max_tokens: 8, ignore_eos: true }
engine:
  launch: { kind: llama-server, model: smollm2-135m-instruct, parallel: 2, threads: 1 }
  concurrency: 2
  startup_timeout: 60s
output: { format: json, path: "${out}" }
spark: { master: "local[2,2]", partitions: 2 }
`,
  );
  return { path, out, ids };
}

/** Starts a run, waits until it is inferring (ledger lines written), and returns what it started. */
async function startAndWait(
  path: string,
  out: string,
  env: NodeJS.ProcessEnv,
): Promise<{ pid: number; done: Promise<CliResult>; procs: TaggedProcess[] }> {
  let pid = 0;
  const done = runCli(['run', path, '--json'], {
    env,
    onStart: (p) => {
      pid = p;
    },
    timeoutMs: 300_000,
  });
  await waitFor('the first ledger lines', () => ledgerLineCount(`${out}.sparkinfer`) >= 4, 240_000, 50);
  return { pid, done, procs: taggedProcesses(String(env[TAG_ENV])) };
}

function kinds(procs: TaggedProcess[]): string[] {
  return [...new Set(procs.map((p) => p.comm))].sort();
}

for (const how of ['process group', 'CLI alone'] as const) {
  test(`SIGKILL of the ${how}: every process the run started is gone within 10 s`, { timeout: 300_000 }, async () => {
    const tag = newTag();
    const { path, out } = writeJob(how === 'CLI alone' ? 'kill-cli' : 'kill-group');
    const t0 = Date.now();
    const run = await startAndWait(path, out, { [TAG_ENV]: tag });
    const names = kinds(run.procs);
    // What was running: the engine, Spark's JVM, the Python driver and the Node workers.
    for (const want of ['llama-server', 'java', 'python', 'node']) {
      assert.ok(
        names.some((n) => n.startsWith(want)),
        `a ${want} process was running before the kill (saw ${names.join(', ')})`,
      );
    }
    process.kill(how === 'CLI alone' ? run.pid : -run.pid, 'SIGKILL');
    const killedAt = Date.now();
    await run.done;
    await waitFor(
      `no process of the run (left: ${kinds(taggedProcesses(tag)).join(', ')})`,
      () => taggedProcesses(tag).length === 0,
      10_000,
      100,
    );
    const goneMs = Date.now() - killedAt;
    table.push(
      row(
        `SIGKILL of the ${how}`,
        ROWS,
        undefined,
        null,
        `${run.procs.length} processes (${names.join(', ')}) gone ${goneMs} ms after the kill`,
        (Date.now() - t0) / 1000,
      ),
    );
  });
}

test("the layers off (fault hook): the killed run's engine lives on; the rerun stops it, says so, and writes every key once", {
  timeout: 400_000,
}, async () => {
  const tag = newTag();
  const { path, out, ids } = writeJob('sweep');
  const t0 = Date.now();
  const run = await startAndWait(path, out, { [TAG_ENV]: tag, SPARKINFER_FAULT_NO_REAPER: '1' });
  const runDir = join(`${out}.sparkinfer`, readdirSync(`${out}.sparkinfer`).find((n) => n.startsWith('sweep-')) ?? '');
  const engines = readGroups(join(runDir, 'pids')).filter((g) => g.role === 'engine');
  assert.equal(engines.length, 1, 'the run recorded its engine in <run dir>/pids');
  const engine = engines[0]?.pgid ?? 0;
  process.kill(run.pid, 'SIGKILL');
  await run.done;
  // The driver's own watch still takes Spark down; only the engine is left, as with a run that
  // lost its reaper too.
  await waitFor(
    "the killed run's Spark processes to go",
    () => taggedProcesses(tag).every((p) => p.comm.startsWith('llama-server')),
    30_000,
    100,
  );
  assert.ok(groupRunning(engine), 'the engine outlived its CLI with the layers off');
  const rerun = await runCli(['run', path, '--json'], { env: { [TAG_ENV]: tag }, timeoutMs: 300_000 });
  assert.equal(rerun.code, 0, rerun.stderr.slice(-3000));
  assert.match(
    rerun.stderr,
    new RegExp(`sparkinfer: stopped engine llama-server \\(process group ${engine}\\), left running by the killed run sweep-`),
  );
  assert.equal(groupRunning(engine), false);
  const t = tally(readOutput(out), ids);
  assert.equal(t.lost, 0);
  assert.equal(t.duplicates, 0);
  const s = summaryOf(rerun);
  assert.ok((s.rows_from_ledger as number) > 0, "the rerun resumed from the killed run's ledger");
  await waitFor('no process of either run', () => taggedProcesses(tag).length === 0, 10_000, 100);
  table.push(
    row(
      'layers off, rerun sweeps the leftover engine',
      ROWS,
      t,
      null,
      `stopped pgid ${engine}; rerun: ${String(s.rows_from_ledger)} from ledger + ${String(s.rows_inferred)} inferred`,
      (Date.now() - t0) / 1000,
    ),
  );
});
