/**
 * Delta Lake and Iceberg outputs end to end (docs/storage.md "Delta Lake and Iceberg"), real
 * components only: CLI → spark-submit (local mode) with the pinned table jars → bundled worker →
 * a real llama-server with the demo model, behind a counting proxy (a test instrument that
 * forwards every request unchanged and counts them). Each table is read back by an independent
 * reader, not Spark: delta-rs (`deltalake`) and `pyiceberg` (test/helpers/read_table.py, in the
 * test-tools venv of scripts/setup.sh --test-servers).
 *
 * `output.mode: incremental` (docs/storage.md "Incremental tables"): a first run; a second after
 * deleting, changing and adding rows sends requests for the changed and added rows only (counted at
 * the proxy); a run with no change sends none; changed sampling recomputes every row; a run
 * SIGKILLed after its answers are staged and before its MERGE leaves the table as it was, and the
 * rerun commits them from the ledger without a request.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, runCli, summaryOf } from '../helpers/cli.ts';
import { countedDemoEngine } from '../helpers/engine.ts';
import { motoVenv } from '../helpers/s3-server.ts';
import { tempDir } from '../helpers/tmp.ts';
import { readGroups } from '../../src/launch/procs.ts';

const CHAT = '/v1/chat/completions';
const ROWS = 12;
const counted = countedDemoEngine(4);
const work = tempDir('tables');

type Row = Record<string, unknown>;

/** The table's rows through the independent reader of its format. */
export function readTable(format: string, path: string, cols: string[]): { rows: Row[]; version: number } {
  const py = join(motoVenv(), 'bin', 'python');
  const r = spawnSync(py, [join(ROOT, 'test', 'helpers', 'read_table.py'), format, path, ...cols], { encoding: 'utf8' });
  assert.equal(r.status, 0, `read_table.py ${format} ${path}: status ${r.status} signal ${r.signal}\n${r.stderr}`);
  return JSON.parse(r.stdout) as { rows: Row[]; version: number };
}

function writeInput(file: string, rows: Array<[number, string]>): void {
  writeFileSync(file, `${rows.map(([id, q]) => JSON.stringify({ id, q })).join('\n')}\n`);
}

/** `<name>.yaml` writing the table `out-<name>` (name: the format by default). */
function writeJob(format: string, extraOutput = '', name = format): string {
  const job = join(work, `${name}.yaml`);
  writeFileSync(
    job,
    [
      `name: tables-${name}`,
      'input: { format: json, path: in.jsonl, key: id }',
      'prompt: { api: chat, user: "Say one word about: {{ q }}" }',
      'model: smollm2-135m-instruct',
      'sampling: { temperature: 0, max_tokens: 6 }',
      `engine: { endpoint: "${counted.proxy().endpoint}", kind: llama-server, concurrency: 4 }`,
      `output: { format: ${format}, path: out-${name}, include: [q]${extraOutput} }`,
      'spark: { master: "local[2,2]", partitions: 2 }',
      '',
    ].join('\n'),
  );
  return job;
}

for (const format of ['delta', 'iceberg']) {
  test(`output.format ${format}: a path table with every key once, read back by an independent reader`, { timeout: 600_000 }, async () => {
    writeInput(
      join(work, 'in.jsonl'),
      Array.from({ length: ROWS }, (_, i) => [i + 1, `topic ${i + 1}`]),
    );
    const job = writeJob(format);
    const sent = counted.proxy().postsTo(CHAT);
    const r = await runCli(['run', job, '--json'], { timeoutMs: 540_000 });
    assert.equal(r.code, 0, r.stderr.slice(-3000));
    const s = summaryOf(r);
    assert.equal(s.rows_in, ROWS);
    assert.equal(s.rows_ok, ROWS);
    assert.equal(counted.proxy().postsTo(CHAT) - sent, ROWS, 'one request per row');
    const t = readTable(format, join(work, `out-${format}`), ['id', 'q', 'text', 'error_code', 'run_id']);
    const ids = t.rows.map((x) => Number(x.id)).sort((a, b) => a - b);
    assert.deepEqual(
      ids,
      Array.from({ length: ROWS }, (_, i) => i + 1),
      'every key exactly once',
    );
    for (const x of t.rows) {
      assert.equal(x.error_code, null);
      assert.equal(x.run_id, s.run_id);
      assert.equal(x.q, `topic ${String(x.id)}`);
      assert.ok(typeof x.text === 'string' && x.text.length > 0);
    }
  });
}

/** Runs the job (`--set` pairs), returns its summary, the driver's summary and the requests it sent. */
async function runCounted(job: string, set: string[] = []): Promise<{ s: Row; driver: Row; sent: number }> {
  const before = counted.proxy().postsTo(CHAT);
  const r = await runCli(['run', job, '--json', ...set.flatMap((kv) => ['--set', kv])], { timeoutMs: 540_000 });
  assert.equal(r.code, 0, r.stderr.slice(-3000));
  const s = summaryOf(r);
  const driver = JSON.parse(readFileSync(join(String(s.run_dir), 'driver_summary.json'), 'utf8')) as Row;
  return { s, driver, sent: counted.proxy().postsTo(CHAT) - before };
}

for (const format of ['delta', 'iceberg']) {
  test(`output.mode incremental on ${format}: only new, changed and recomputed rows are sent; gone keys deleted`, {
    timeout: 900_000,
  }, async () => {
    const input = join(work, 'in.jsonl');
    const rows: Array<[number, string]> = Array.from({ length: 10 }, (_, i) => [i + 1, `topic ${i + 1}`]);
    writeInput(input, rows);
    const job = writeJob(format, ', mode: incremental', `${format}-inc`);
    const path = join(work, `out-${format}-inc`);
    const cols = ['id', 'q', 'text', 'error_code', 'run_id', 'fingerprint', 'model', 'inferred_at'];

    const first = await runCounted(job);
    assert.equal(first.sent, 10, 'the first run infers every row');
    let t = readTable(format, path, cols);
    assert.deepEqual(
      t.rows.map((x) => Number(x.id)).sort((a, b) => a - b),
      rows.map(([id]) => id),
    );
    for (const x of t.rows) {
      assert.match(String(x.fingerprint), /^[0-9a-f]{64}$/);
      assert.equal(x.model, 'smollm2-135m-instruct');
      assert.ok(x.inferred_at !== null);
    }
    const fp1 = new Map(t.rows.map((x) => [Number(x.id), String(x.fingerprint)]));

    // delete 1 and 2, change 3 and 4, add 11 and 12
    const next: Array<[number, string]> = [
      ...rows.filter(([id]) => id > 2).map(([id, q]): [number, string] => [id, id <= 4 ? `${q} changed` : q]),
      [11, 'topic 11'],
      [12, 'topic 12'],
    ];
    writeInput(input, next);
    const second = await runCounted(job);
    assert.equal(second.sent, 4, 'two changed and two added rows, nothing else');
    assert.equal(second.driver.rows_unchanged, 6);
    t = readTable(format, path, cols);
    assert.deepEqual(
      t.rows.map((x) => Number(x.id)).sort((a, b) => a - b),
      next.map(([id]) => id),
      'every current key once',
    );
    for (const x of t.rows) {
      const id = Number(x.id);
      const changed = id === 3 || id === 4 || id > 10;
      assert.equal(x.run_id, changed ? second.s.run_id : first.s.run_id, `row ${id}`);
      assert.equal(x.q, next.find(([k]) => k === id)?.[1]);
      if (!changed) assert.equal(x.fingerprint, fp1.get(id), `row ${id} kept its fingerprint`);
    }

    const third = await runCounted(job);
    assert.equal(third.sent, 0, 'no change, no request');
    assert.equal(third.driver.rows_unchanged, 10);
    assert.equal(readTable(format, path, ['id']).rows.length, 10);

    const fourth = await runCounted(job, ['sampling.max_tokens=5']);
    assert.equal(fourth.sent, 10, 'changed sampling recomputes every row');
    t = readTable(format, path, cols);
    assert.equal(t.rows.length, 10);
    for (const x of t.rows) assert.equal(x.run_id, fourth.s.run_id);

    if (format === 'delta') {
      // estimate on an incremental job (last: it leaves a run to resume): only the rows a run would infer are projected
      writeInput(
        input,
        next.map(([id, q]): [number, string] => [id, id === 5 ? `${q} again` : q]),
      );
      const est = await runCli(['estimate', job, '--json', '--sample', '1', '--set', 'sampling.max_tokens=5'], { timeoutMs: 540_000 });
      assert.equal(est.code, 0, est.stderr.slice(-3000));
      assert.equal(summaryOf(est).rows, 1, 'the estimate counts only the changed row');
    }
  });
}

/** SIGKILLs the CLI's group and the Spark group it recorded once a new run under `runs` has staged its answers. */
function killWhenStaged(runs: string, cliPid: () => number | undefined): Promise<void> {
  const earlier = new Set(existsSync(runs) ? readdirSync(runs) : []);
  return new Promise((resolve) => {
    const tick = setInterval(() => {
      const pid = cliPid();
      if (pid === undefined || !existsSync(runs)) return;
      for (const id of readdirSync(runs)) {
        if (earlier.has(id) || !existsSync(join(runs, id, 'incremental', '_SUCCESS'))) continue;
        clearInterval(tick);
        for (const g of [pid, ...readGroups(join(runs, id, 'pids')).map((x) => x.pgid)]) {
          try {
            process.kill(-g, 'SIGKILL');
          } catch {
            /* gone */
          }
        }
        resolve();
        return;
      }
    }, 25);
  });
}

for (const format of ['delta', 'iceberg']) {
  test(`output.mode incremental on ${format}: a run killed before its MERGE leaves the table as it was; the rerun commits from the ledger`, {
    timeout: 900_000,
  }, async () => {
    const input = join(work, 'in.jsonl');
    const rows: Array<[number, string]> = Array.from({ length: 8 }, (_, i) => [i + 1, `topic ${i + 1}`]);
    writeInput(input, rows);
    const job = writeJob(format, ', mode: incremental', `${format}-kill`);
    const path = join(work, `out-${format}-kill`);
    const first = await runCounted(job);
    assert.equal(first.sent, 8);
    const before = readTable(format, path, ['id', 'q', 'run_id']);

    writeInput(
      input,
      rows.map(([id, q]): [number, string] => [id, id <= 3 ? `${q} changed` : q]),
    );
    let pid: number | undefined;
    const sent0 = counted.proxy().postsTo(CHAT);
    const killed = killWhenStaged(`${path}.sparkinfer`, () => pid);
    const r = await runCli(['run', job, '--json'], { timeoutMs: 540_000, onStart: (p) => (pid = p) });
    await killed;
    assert.notEqual(r.code, 0, 'the run was killed');
    assert.equal(counted.proxy().postsTo(CHAT) - sent0, 3, 'the killed run inferred the 3 changed rows');
    const after = readTable(format, path, ['id', 'q', 'run_id']);
    assert.deepEqual(after, before, 'the table is at its previous version, rows and all');

    const rerun = await runCounted(job);
    assert.equal(rerun.sent, 0, 'the rerun takes the 3 answers from the ledger');
    const t = readTable(format, path, ['id', 'q', 'run_id']);
    assert.equal(t.rows.length, 8);
    for (const x of t.rows) {
      const id = Number(x.id);
      assert.equal(x.q, id <= 3 ? `topic ${id} changed` : `topic ${id}`);
      assert.equal(x.run_id, id <= 3 ? rerun.s.run_id : first.s.run_id, `row ${id}`);
    }
  });
}
