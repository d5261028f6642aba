/**
 * The same job on a real standalone cluster (a master and two workers on loopback), and once with
 * Hive support: read from a Hive table, write to one. Real Spark, real llama-server.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli, summaryOf, readJsonOutput, ROOT } from '../helpers/cli.ts';
import { startDemoEngine } from '../helpers/engine.ts';
import { startCountingProxy, type CountingProxy } from '../helpers/counting-proxy.ts';
import { startStandalone } from '../helpers/standalone.ts';
import type { LocalEngine } from '../../src/launch/engine.ts';
import { tempDir } from '../helpers/tmp.ts';

let engine: LocalEngine;
let proxy: CountingProxy;
const work = tempDir('e2e-cluster');
const questions = readFileSync(join(ROOT, 'examples/quickstart/questions.jsonl'), 'utf8')
  .split('\n')
  .filter((l) => l !== '')
  .slice(0, 24);

before(async () => {
  engine = await startDemoEngine({ parallel: 4 });
  proxy = await startCountingProxy(engine.endpoint.replace(/\/v1$/, ''));
  writeFileSync(join(work, 'q.jsonl'), `${questions.join('\n')}\n`);
});
after(async () => {
  await proxy?.close();
  await engine?.stop();
});

test('standalone cluster with two workers: every key once, one request per row', async () => {
  const cluster = await startStandalone(2);
  try {
    writeFileSync(
      join(work, 'cluster.yaml'),
      `
name: cluster
input: { format: json, path: q.jsonl, key: id }
prompt: { system: "Answer briefly.", user: "{{ question }}" }
model: smollm2-135m-instruct
sampling: { temperature: 0, max_tokens: 4 }
engine: { endpoint: "${proxy.endpoint}", kind: llama-server, concurrency: 4, request_timeout: 5m, startup_timeout: 60s }
output: { format: json, path: out-cluster, include: [question] }
spark: { master: "${cluster.master}", partitions: 4, conf: { spark.executor.memory: 512m, spark.task.maxFailures: 2 } }
`,
    );
    const before = proxy.posts();
    const r = await runCli(['run', join(work, 'cluster.yaml'), '--json']);
    assert.equal(r.code, 0, r.stderr.slice(-3000));
    const rows = readJsonOutput(join(work, 'out-cluster'));
    assert.equal(rows.length, questions.length);
    assert.deepEqual(
      rows.map((x) => x.id).sort((a, b) => Number(a) - Number(b)),
      questions.map((q) => (JSON.parse(q) as { id: number }).id),
    );
    assert.equal(proxy.posts() - before, questions.length);
    assert.equal(summaryOf(r).rows_ok, questions.length);
  } finally {
    await cluster.stop();
  }
});

test('Hive support: read a Hive table, write a Hive table', async () => {
  const wh = join(work, 'warehouse');
  const meta = `jdbc:derby:;databaseName=${join(work, 'metastore_db')};create=true`;
  // Make the source table with pyspark itself (a real metastore in Derby).
  writeFileSync(
    join(work, 'mk.py'),
    `
import sys, json
from pyspark.sql import SparkSession
s = (SparkSession.builder.master("local[1]").config("spark.ui.enabled","false")
     .config("spark.sql.warehouse.dir", sys.argv[1]).config("javax.jdo.option.ConnectionURL", sys.argv[2])
     .enableHiveSupport().getOrCreate())
rows = [json.loads(l) for l in open(sys.argv[3])]
s.createDataFrame([(r["id"], r["question"]) for r in rows], "id INT, question STRING").write.saveAsTable("questions_src")
s.stop()
`,
  );
  execFileSync(join(ROOT, '.venv/bin/python'), [join(work, 'mk.py'), wh, meta, join(work, 'q.jsonl')], {
    stdio: 'ignore',
    env: { ...process.env, PYSPARK_PYTHON: join(ROOT, '.venv/bin/python') },
  });
  writeFileSync(
    join(work, 'hive.yaml'),
    `
name: hive
input: { format: table, table: questions_src, key: id }
prompt: { user: "{{ question }}" }
model: smollm2-135m-instruct
sampling: { temperature: 0, max_tokens: 4 }
engine: { endpoint: "${proxy.endpoint}", kind: llama-server, concurrency: 4, request_timeout: 5m, startup_timeout: 60s }
output: { format: table, table: answers_dst }
spark:
  master: "local[2,2]"
  hive: true
  conf: { spark.sql.warehouse.dir: "${wh}", javax.jdo.option.ConnectionURL: "${meta}" }
resume: { dir: "${join(work, 'hive-runs')}" }
`,
  );
  const r = await runCli(['run', join(work, 'hive.yaml'), '--json']);
  assert.equal(r.code, 0, r.stderr.slice(-3000));
  assert.equal(summaryOf(r).rows_in, questions.length);
  writeFileSync(
    join(work, 'rd.py'),
    `
import sys, json
from pyspark.sql import SparkSession
s = (SparkSession.builder.master("local[1]").config("spark.ui.enabled","false")
     .config("spark.sql.warehouse.dir", sys.argv[1]).config("javax.jdo.option.ConnectionURL", sys.argv[2])
     .enableHiveSupport().getOrCreate())
d = s.table("answers_dst")
print(json.dumps({"n": d.count(), "keys": d.select("id").distinct().count(), "ok": d.filter("error_code is null").count()}))
s.stop()
`,
  );
  const out = execFileSync(join(ROOT, '.venv/bin/python'), [join(work, 'rd.py'), wh, meta], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const got = JSON.parse(out.trim().split('\n').pop() ?? '{}') as { n: number; keys: number; ok: number };
  assert.deepEqual(got, { n: questions.length, keys: questions.length, ok: questions.length });
});
