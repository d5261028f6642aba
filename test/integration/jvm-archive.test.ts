/**
 * The driver JVM's class-data archive with real Spark (pyspark local mode) and the real CLI:
 * `sparkinfer jvm-archive` builds it, the next run's JVM maps it, and an archive the JVM refuses
 * costs only the speed-up: the job still succeeds and the log says how to rebuild it.
 * The engine is the instant fake (src/sim/server.ts): these runs are about the JVM, not answers.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync, writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { runCli, summaryOf } from '../helpers/cli.ts';
import { startSimServer, type SimServer } from '../../src/sim/server.ts';
import { tempDir } from '../helpers/tmp.ts';

const work = tempDir('jvm-archive');
const env = { SPARKINFER_CACHE: join(work, 'cache') };
let fake: SimServer;

before(async () => {
  fake = await startSimServer({ mode: 'instant' });
  writeFileSync(
    join(work, 'in.jsonl'),
    `${Array.from({ length: 30 }, (_, i) => JSON.stringify({ id: i, q: `question ${i}` })).join('\n')}\n`,
  );
  writeFileSync(
    join(work, 'job.yaml'),
    [
      'name: jvm',
      'input: { format: json, path: in.jsonl, key: id }',
      'prompt: { user: "{{ q }}" }',
      'model: m',
      'sampling: { max_tokens: 3 }',
      `engine: { endpoint: "${fake.url}/v1", kind: openai }`,
      'output: { format: parquet, path: out, mode: overwrite }',
      'spark: { master: "local[2]" }',
      '',
    ].join('\n'),
  );
});
after(async () => {
  await fake?.close();
});

function driverLog(runDir: string): string {
  return readFileSync(join(runDir, 'logs', 'driver.log'), 'utf8');
}

test('jvm-archive builds it once; the next run maps it; a refused archive only costs the speed-up', async () => {
  const built = await runCli(['jvm-archive', '--json'], { env });
  assert.equal(built.code, 0, built.stderr.slice(-3000));
  const b = JSON.parse(built.stdout.trim().split('\n').pop() ?? '{}') as { path: string; built: boolean; bytes: number };
  assert.equal(b.built, true);
  assert.ok(b.path.startsWith(join(work, 'cache', 'jvm')), b.path);
  assert.equal(statSync(b.path).size, b.bytes);
  assert.ok(b.bytes > 10 * 1024 * 1024, `an archive of Spark's classes is large, got ${b.bytes} bytes`);
  assert.deepEqual(readdirSync(join(work, 'cache', 'jvm')), [b.path.split('/').pop()], 'the training folder is gone');

  const again = await runCli(['jvm-archive', '--json'], { env });
  assert.equal(again.code, 0);
  assert.equal((JSON.parse(again.stdout.trim()) as { built: boolean }).built, false, 'kept, not rebuilt');

  const r = await runCli(['run', join(work, 'job.yaml'), '--json'], { env });
  const s = summaryOf(r);
  assert.equal(r.code, 0, r.stderr.slice(-3000));
  assert.equal(s.rows_ok, 30);
  assert.match(driverLog(s.run_dir as string), new RegExp(`JVM class-data archive mapped: ${b.path.replace(/[.]/g, '\\.')}`));

  // An archive from another Java build looks like this to the JVM: it refuses it and runs without.
  chmodSync(b.path, 0o644);
  writeFileSync(b.path, Buffer.alloc(4096, 7));
  const refused = await runCli(['run', join(work, 'job.yaml'), '--json', '--fresh'], { env });
  const s2 = summaryOf(refused);
  assert.equal(refused.code, 0, refused.stderr.slice(-3000));
  assert.equal(s2.rows_ok, 30);
  assert.match(driverLog(s2.run_dir as string), /did not use its class-data archive .*sparkinfer jvm-archive --force/);

  const off = await runCli(['run', join(work, 'job.yaml'), '--json', '--fresh'], { env: { ...env, SPARKINFER_JVM_ARCHIVE: 'off' } });
  const s3 = summaryOf(off);
  assert.equal(off.code, 0, off.stderr.slice(-3000));
  assert.doesNotMatch(driverLog(s3.run_dir as string), /class-data archive/, 'off: not passed, nothing said');
});
