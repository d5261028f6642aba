/**
 * Disk faults against real Spark and a real llama-server: the run directory's filesystem fills up
 * mid-run, and the output's filesystem is full when Spark writes. Each run stops with exit 1 and a
 * message naming the path and the cause; the ledger keeps every complete line; once space is
 * freed the same command resumes and writes every key once. The filesystems are tmpfs mounts the
 * test makes (as root) and unmounts after.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { startDemoEngine } from '../helpers/engine.ts';
import { runCli, summaryOf, type CliResult } from '../helpers/cli.ts';
import { waitFor } from '../helpers/wait.ts';
import { parseLedgerText } from '../../src/rundir/ledger.ts';
import type { LocalEngine } from '../../src/launch/engine.ts';
import { ledgerLineCount, printTable, readOutput, row, runDirs, tally, writeQuestions, type ScenarioRow } from './lib.ts';
import { tempDir } from '../helpers/tmp.ts';

const ROWS = 40;
let engine: LocalEngine;
const work = tempDir('rel-disk');
const mounts: string[] = [];
const table: ScenarioRow[] = [];

/** A tmpfs of `size` at a new folder under `work`; unmounted in `after`. */
function mountTmpfs(name: string, size: string): string {
  const dir = join(work, name);
  mkdirSync(dir, { recursive: true });
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0755`, 'sparkinfer-test', dir]);
  mounts.push(dir);
  return dir;
}

/** Writes a file until the filesystem says ENOSPC; returns its path. */
function fill(dir: string): string {
  const path = join(dir, 'filler');
  const fd = openSync(path, 'w');
  const block = Buffer.alloc(64 * 1024, 1);
  try {
    for (let i = 0; i < 1_000_000; i++) writeSync(fd, block);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  } finally {
    closeSync(fd);
  }
  return path;
}

function writeJob(name: string, runsDir: string, out: string, master = 'local[2,2]'): { path: string; ids: number[] } {
  const input = join(work, `${name}.jsonl`);
  const ids = writeQuestions(input, ROWS);
  const path = join(work, `${name}.yaml`);
  writeFileSync(
    path,
    `
name: ${name}
input: { format: json, path: "${input}", key: id }
prompt: { user: "{{ question }}" }
model: smollm2-135m-instruct
sampling: { temperature: 0, max_tokens: 8, ignore_eos: true }
engine: { endpoint: "${engine.endpoint}", kind: llama-server, concurrency: 2, request_timeout: 60s }
output: { format: json, path: "${out}", include_request: true }
resume: { dir: "${runsDir}" }
spark: { master: "${master}", partitions: 2 }
`,
  );
  return { path, ids };
}

/** Every ledger file parses (a torn last line is skipped; a torn middle line would throw). */
function ledgerKeys(runsDir: string): Set<string> {
  const keys = new Set<string>();
  for (const dir of runDirs(runsDir)) {
    const ledger = join(dir, 'ledger');
    for (const f of readdirSync(ledger)) for (const r of parseLedgerText(readFileSync(join(ledger, f), 'utf8'))) keys.add(String(r.k));
  }
  return keys;
}

function resumed(r: CliResult, ids: number[], out: string): { fromLedger: number; inferred: number } {
  assert.equal(r.code, 0, r.stderr.slice(-3000));
  const t = tally(readOutput(out), ids);
  assert.equal(t.lost, 0);
  assert.equal(t.duplicates, 0);
  assert.equal(t.ok, ids.length);
  const s = summaryOf(r);
  return { fromLedger: s.rows_from_ledger as number, inferred: s.rows_inferred as number };
}

before(async () => {
  engine = await startDemoEngine({ parallel: 4 });
});
after(async () => {
  await engine?.stop();
  for (const m of mounts.reverse()) {
    try {
      execFileSync('umount', [m]);
    } catch {
      execFileSync('umount', ['-l', m]);
    }
  }
  printTable('reliability: disk faults', table);
});

test('the run directory fills up mid-run: exit 1 naming the ledger and ENOSPC; complete lines kept; after freeing space the rerun resumes, every key once', {
  timeout: 600_000,
}, async () => {
  const t0 = Date.now();
  const runsDir = join(mountTmpfs('runs-fs', '4m'), 'runs');
  const out = join(work, 'out-runs-full');
  const { path, ids } = writeJob('runsfull', runsDir, out);
  const first = runCli(['run', path, '--json'], { timeoutMs: 300_000 });
  // Lines of ~600 bytes (the request included): the rest of the run needs pages the full tmpfs lacks.
  await waitFor('the first ledger lines', () => ledgerLineCount(runsDir) >= 4, 240_000, 20);
  const filler = fill(join(runsDir, '..'));
  const r1 = await first;
  assert.equal(r1.code, 1, r1.stderr.slice(-3000));
  const msg = String(summaryOf(r1).message);
  // Usually the ledger (`cannot append to the ledger <file>: …`); the driver's own files when it writes first.
  assert.match(msg, new RegExp(`${runsDir}/\\S+: no space left on device \\(ENOSPC\\)`));
  assert.match(msg, /run the same command again: it resumes/);
  const kept = ledgerKeys(runsDir);
  assert.ok(kept.size >= 4 && kept.size < ROWS, `the ledger kept ${kept.size} complete lines`);
  rmSync(filler);
  const r2 = resumed(await runCli(['run', path, '--json'], { timeoutMs: 300_000 }), ids, out);
  assert.equal(r2.fromLedger, kept.size, 'every complete ledger line was reused');
  assert.equal(r2.fromLedger + r2.inferred, ROWS);
  table.push(
    row(
      'run directory full mid-run, then rerun',
      ROWS,
      tally(readOutput(out), ids),
      null,
      `exit 1 (${msg.slice(0, 60)}…); rerun: ${r2.fromLedger} from ledger + ${r2.inferred} inferred`,
      (Date.now() - t0) / 1000,
    ),
  );
});

test("the output's filesystem is full: exit 1 naming the output and ENOSPC; after freeing space the rerun writes every key once from the ledger", {
  timeout: 600_000,
}, async () => {
  const t0 = Date.now();
  const outFs = mountTmpfs('out-fs', '1m');
  const out = join(outFs, 'out');
  const runsDir = join(work, 'runs-outfull');
  // One attempt per task: a retried task would only infer its rows again before the same write fails.
  const { path, ids } = writeJob('outfull', runsDir, out, 'local[2,1]');
  const filler = fill(outFs);
  const r1 = await runCli(['run', path, '--json'], { timeoutMs: 300_000 });
  assert.equal(r1.code, 1, r1.stderr.slice(-3000));
  const msg = String(summaryOf(r1).message);
  assert.match(msg, new RegExp(`writing the output ${out} failed: no space left on device \\(ENOSPC\\); free space`));
  rmSync(filler);
  const r2 = resumed(await runCli(['run', path, '--json'], { timeoutMs: 300_000 }), ids, out);
  assert.equal(r2.fromLedger + r2.inferred, ROWS);
  table.push(
    row(
      'output filesystem full, then rerun',
      ROWS,
      tally(readOutput(out), ids),
      null,
      `exit 1; rerun: ${r2.fromLedger} from ledger + ${r2.inferred} inferred`,
      (Date.now() - t0) / 1000,
    ),
  );
});
