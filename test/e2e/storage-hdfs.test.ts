/**
 * Data on HDFS, end to end: the real CLI and Spark (local mode, pyspark's own HDFS client) against
 * a real NameNode and DataNode on loopback (Hadoop 3.4.1's own daemons, test/helpers/hdfs-server.ts).
 * The engine is the instant fake (src/sim/server.ts): the storage is what is under test.
 *
 *   A  JSON from hdfs:// → Parquet to hdfs://, the run directory local beside the job file
 *   B  A's Parquet read back from hdfs:// → JSON to hdfs://, read with Hadoop's FsShell: every key
 *      once, each with its original question
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli, summaryOf } from '../helpers/cli.ts';
import { startHdfs, type HdfsServer } from '../helpers/hdfs-server.ts';
import { questionText, tally, writeQuestions } from '../reliability/lib.ts';
import { startSimServer, type SimServer } from '../../src/sim/server.ts';
import { tempDir } from '../helpers/tmp.ts';

const ROWS = 40;
let hdfs: HdfsServer;
let engine: SimServer;
const work = tempDir('hdfs-e2e');
let ids: number[] = [];

before(async () => {
  hdfs = await startHdfs();
  engine = await startSimServer({ mode: 'instant', model: 'm' });
  const local = join(work, 'questions.jsonl');
  ids = writeQuestions(local, ROWS);
  await hdfs.put(local, '/in/questions.jsonl');
});
after(async () => {
  await engine?.close();
  await hdfs?.stop();
});

function job(name: string, body: string, spark = 'spark: { master: "local[2]", partitions: 2 }'): string {
  const p = join(work, `${name}.yaml`);
  writeFileSync(
    p,
    `name: ${name}
prompt: { system: "Answer in one word.", user: "{{ question }}" }
model: m
sampling: { max_tokens: 4 }
engine: { endpoint: "${engine.url}/v1", kind: openai, concurrency: 4, startup_timeout: 60s }
limits: { max_failed_fraction: 0, min_rows_for_budget: 1 }
${spark}
${body}
`,
  );
  return p;
}

test('hdfs:// in and out: JSON → Parquet → JSON, every key once, the run directory local', { timeout: 300_000 }, async () => {
  const a = await runCli(
    [
      'run',
      job(
        'hdfs-a',
        `input: { format: json, path: "${hdfs.uri}/in/questions.jsonl", key: id }
output: { format: parquet, path: "${hdfs.uri}/out/a", include: [question] }`,
      ),
      '--json',
    ],
    { timeoutMs: 240_000 },
  );
  assert.equal(a.code, 0, a.stderr.slice(-3000));
  const sa = summaryOf(a);
  assert.equal(sa.rows_ok, ROWS);
  const listed = await hdfs.ls('/out/a');
  assert.ok(
    listed.some((p) => p.endsWith('/out/a/_SUCCESS')),
    listed.join('\n'),
  );
  assert.ok(listed.some((p) => /\/out\/a\/part-[^/]+\.parquet$/.test(p)));
  assert.deepEqual(
    listed.filter((p) => /_temporary/.test(p)),
    [],
    'nothing left of the commit',
  );
  const root = join(work, 'sparkinfer-runs', `${hdfs.uri.replace(/[^A-Za-z0-9_.-]+/g, '_')}_out_a`);
  assert.ok(existsSync(join(root, String(sa.run_id), 'summary.json')), `run directory under ${root}`);
  assert.match(a.stderr, /the output is on hdfs:\/\/, so the run directory \(ledger, logs\) is local/);

  const b = await runCli(
    [
      'run',
      job(
        'hdfs-b',
        `input: { format: parquet, path: "${hdfs.uri}/out/a", key: id }
output: { format: json, path: "${hdfs.uri}/out/b", include: [question] }`,
      ),
      '--json',
    ],
    { timeoutMs: 240_000 },
  );
  assert.equal(b.code, 0, b.stderr.slice(-3000));
  const rows = (await hdfs.cat('/out/b/part-*'))
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  const t = tally(rows, ids);
  assert.equal(t.rowsOut, ROWS);
  assert.equal(t.duplicates, 0);
  assert.equal(t.lost, 0);
  assert.equal(t.foreign, 0);
  for (const [k, row] of t.byKey) assert.equal(row.question, questionText(Number(k)), `question of ${k} through hdfs:// twice, unchanged`);
});

test('a Hive table whose location is on hdfs://: written from a query over hdfs:// Parquet, read back as a table', {
  timeout: 300_000,
}, async () => {
  // A Derby metastore in the work folder (derby.log goes to the working directory: work too); the
  // warehouse, and so every managed table's files, on HDFS.
  const hive = `spark:
  master: "local[2]"
  hive: true
  conf: { spark.sql.warehouse.dir: "${hdfs.uri}/warehouse", javax.jdo.option.ConnectionURL: "jdbc:derby:;databaseName=${join(work, 'metastore_db')};create=true" }`;
  const w = await runCli(
    [
      'run',
      job(
        'hdfs-hive-w',
        `input: { format: sql, query: "SELECT id, question FROM parquet.\`${hdfs.uri}/out/a\`", key: id }
output: { format: table, table: answers_hdfs, include: [question] }`,
        hive,
      ),
      '--json',
    ],
    { timeoutMs: 240_000, cwd: work },
  );
  assert.equal(w.code, 0, w.stderr.slice(-3000));
  assert.equal(summaryOf(w).rows_ok, ROWS);
  const files = await hdfs.ls('/warehouse/answers_hdfs');
  assert.ok(
    files.some((p) => /\/warehouse\/answers_hdfs\/part-[^/]+$/.test(p)),
    `the table's files are on HDFS: ${files.join(', ')}`,
  );

  const r = await runCli(
    [
      'run',
      job(
        'hdfs-hive-r',
        `input: { format: table, table: answers_hdfs, key: id }
output: { format: json, path: "${hdfs.uri}/out/hive", include: [question] }`,
        hive,
      ),
      '--json',
    ],
    { timeoutMs: 240_000, cwd: work },
  );
  assert.equal(r.code, 0, r.stderr.slice(-3000));
  const rows = (await hdfs.cat('/out/hive/part-*'))
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  const t = tally(rows, ids);
  assert.deepEqual([t.rowsOut, t.duplicates, t.lost, t.foreign], [ROWS, 0, 0, 0]);
  for (const [k, row] of t.byKey) assert.equal(row.question, questionText(Number(k)));
});
