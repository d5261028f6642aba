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
 * the proxy); a run with no change sends none; changed sampling recomputes every row.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, runCli, summaryOf } from '../helpers/cli.ts';
import { countedDemoEngine } from '../helpers/engine.ts';
import { motoVenv } from '../helpers/s3-server.ts';
import { tempDir } from '../helpers/tmp.ts';

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
