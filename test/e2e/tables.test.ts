/**
 * Delta Lake and Iceberg outputs end to end (docs/storage.md "Delta Lake and Iceberg"), real
 * components only: CLI → spark-submit (local mode) with the pinned table jars → bundled worker →
 * a real llama-server with the demo model, behind a counting proxy (a test instrument that
 * forwards every request unchanged and counts them). Each table is read back by an independent
 * reader, not Spark: delta-rs (`deltalake`) and `pyiceberg` (test/helpers/read_table.py, in the
 * test-tools venv of scripts/setup.sh --test-servers).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
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
  const out = execFileSync(join(motoVenv(), 'bin', 'python'), [join(ROOT, 'test', 'helpers', 'read_table.py'), format, path, ...cols], {
    encoding: 'utf8',
  });
  return JSON.parse(out) as { rows: Row[]; version: number };
}

function writeInput(file: string, rows: Array<[number, string]>): void {
  writeFileSync(file, `${rows.map(([id, q]) => JSON.stringify({ id, q })).join('\n')}\n`);
}

function writeJob(format: string, extraOutput = ''): string {
  const job = join(work, `${format}.yaml`);
  writeFileSync(
    job,
    [
      `name: tables-${format}`,
      'input: { format: json, path: in.jsonl, key: id }',
      'prompt: { api: chat, user: "Say one word about: {{ q }}" }',
      'model: smollm2-135m-instruct',
      'sampling: { temperature: 0, max_tokens: 6 }',
      `engine: { endpoint: "${counted.proxy().endpoint}", kind: llama-server, concurrency: 4 }`,
      `output: { format: ${format}, path: out-${format}, include: [q]${extraOutput} }`,
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
