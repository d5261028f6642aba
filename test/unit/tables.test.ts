/**
 * src/spark/tables.ts and the job file's `output.format: delta | iceberg`: the pinned jar list,
 * the jars and SQL extensions a run gets only for its table format, and the job file's errors at
 * file:line:col. (Real Spark, the real jars and independent readers: test/e2e/tables.test.ts.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SpecError } from '../../src/errors.ts';
import { parseJobText } from '../../src/validate/job.ts';
import { buildSubmitArgs } from '../../src/spark/submit.ts';
import { pinnedJarNames } from '../../src/spark/storage.ts';
import { tableConf, tableJars, tableJarsList } from '../../src/spark/tables.ts';
import type { Job } from '../../src/jobfile/schema.ts';
import type { ResolvedJob } from '../../src/jobfile/resolved.ts';

function load(output: string): Job {
  const text = [
    'name: t',
    'input: { format: json, path: "in.jsonl", key: id }',
    'prompt: { user: "{{ q }}" }',
    'model: m',
    'engine: { endpoint: "http://127.0.0.1:9/v1" }',
    `output: ${output}`,
    '',
  ].join('\n');
  return parseJobText(text, 'job.yaml');
}

test('table-jars.txt: delta-spark and delta-storage for Spark 4.0 / Scala 2.13, the Iceberg runtime for Spark 4.0, every line pinned', () => {
  const lines = readFileSync(tableJarsList(), 'utf8')
    .split('\n')
    .filter((l) => /^[a-z]/.test(l));
  for (const l of lines) assert.match(l, /^[\w.-]+:[\w.-]+:[\w.-]+ [0-9a-f]{64}$/);
  assert.deepEqual(pinnedJarNames(tableJarsList(), 'io.delta'), ['delta-spark_2.13-4.0.1.jar', 'delta-storage-4.0.1.jar']);
  assert.deepEqual(pinnedJarNames(tableJarsList(), 'org.apache.iceberg'), ['iceberg-spark-runtime-4.0_2.13-1.10.1.jar']);
  assert.equal(lines.length, 3);
});

test('only a delta or iceberg output gets the table jars and the SQL extensions', () => {
  const env = { SPARKINFER_CACHE: '/c' };
  const delta = load('{ format: delta, path: out }');
  assert.deepEqual(
    tableJars(delta, env).jars,
    ['delta-spark_2.13-4.0.1.jar', 'delta-storage-4.0.1.jar'].map((n) => join('/c', 'jars', 'tables', n)),
  );
  assert.equal(tableConf(delta)['spark.sql.extensions'], 'io.delta.sql.DeltaSparkSessionExtension');
  assert.equal(tableConf(delta)['spark.sql.catalog.spark_catalog'], 'org.apache.spark.sql.delta.catalog.DeltaCatalog');
  const ice = load('{ format: iceberg, path: out, mode: overwrite }');
  assert.deepEqual(tableJars(ice, env).jars, [join('/c', 'jars', 'tables', 'iceberg-spark-runtime-4.0_2.13-1.10.1.jar')]);
  assert.equal(tableConf(ice)['spark.sql.extensions'], 'org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions');
  const plain = load('{ format: parquet, path: out }');
  assert.deepEqual(tableJars(plain, env).jars, []);
  assert.deepEqual(tableConf(plain), {});

  const paths = { root: '/r', jobJson: '/r/job.json', workerBundle: '/r/w.mjs' };
  const args = buildSubmitArgs({ ...ice, run: { id: 'r1' } } as unknown as ResolvedJob, paths, { nodePath: '/n' });
  assert.ok(args.includes('spark.sql.extensions=org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions'));
  const none = buildSubmitArgs({ ...plain, run: { id: 'r1' } } as unknown as ResolvedJob, paths, { nodePath: '/n' });
  assert.ok(!none.some((a) => a.startsWith('spark.sql.extensions=')));
});

test('a delta or iceberg output needs a path: the error points at the output section', () => {
  for (const format of ['delta', 'iceberg']) {
    let message = '';
    try {
      load(`{ format: ${format}, table: db.t }`);
    } catch (err) {
      assert.ok(err instanceof SpecError);
      message = err.message;
    }
    assert.match(message, new RegExp(`^job\\.yaml:6:\\d+ output\\.path: expected \`path\` for output format \`${format}\``));
  }
});

test('output.mode incremental needs a delta or iceberg output; on_missing needs incremental: errors at their line', () => {
  const message = (output: string): string => {
    try {
      load(output);
    } catch (err) {
      assert.ok(err instanceof SpecError);
      return err.message;
    }
    return '';
  };
  assert.match(
    message('{ format: parquet, path: out, mode: incremental }'),
    /^job\.yaml:6:\d+ output\.mode: `incremental` needs `output\.format: delta` or `iceberg`/,
  );
  assert.match(
    message('{ format: delta, path: out, on_missing: keep }'),
    /^job\.yaml:6:\d+ output\.on_missing: `on_missing` is for `output\.mode: incremental`/,
  );
  assert.match(message('{ format: iceberg, path: out, mode: incremental, on_missing: drop }'), /^job\.yaml:6:\d+ output\.on_missing: /);
  const ok = load('{ format: iceberg, path: out, mode: incremental, on_missing: keep }');
  assert.equal(ok.output.mode, 'incremental');
  assert.equal(ok.output.on_missing, 'keep');
  assert.equal(load('{ format: delta, path: out, mode: incremental }').output.on_missing, undefined, 'the driver defaults it to delete');
});
