/**
 * src/spark/jvm-archive.ts and its use in the spark-submit argv: where the driver JVM's
 * class-data archive lives, when a run maps it, and how it joins the job's own java options.
 * (The real JVM mapping it is checked in test/integration/jvm-archive.test.ts.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, utimesSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { archiveToUse, jvmArchivePath, mergeJavaOptions, safeInOptions } from '../../src/spark/jvm-archive.ts';
import { buildSubmitArgs } from '../../src/spark/submit.ts';
import { loadJobFile } from '../../src/validate/job.ts';
import type { ResolvedJob } from '../../src/jobfile/resolved.ts';
import { tempDir } from '../helpers/tmp.ts';

const work = tempDir('jvm-archive');

test('the archive is keyed by the spark-submit and java that run the driver, under <cache>/jvm', () => {
  const env = { SPARKINFER_CACHE: join(work, 'cache'), PATH: '/usr/bin:/bin' };
  const a = jvmArchivePath('/opt/spark-a/bin/spark-submit', env);
  assert.equal(dirname(a), join(work, 'cache', 'jvm'));
  assert.match(a, /spark-driver-[0-9a-f]{16}\.jsa$/);
  assert.equal(jvmArchivePath('/opt/spark-a/bin/spark-submit', env), a, 'stable');
  assert.notEqual(jvmArchivePath('/opt/spark-b/bin/spark-submit', env), a, 'another Spark install');
  assert.notEqual(jvmArchivePath('/opt/spark-a/bin/spark-submit', { ...env, JAVA_HOME: '/opt/jdk-21' }), a, 'another Java');
  // A venv re-created at the same path has new jars, which the JVM would refuse the old archive for.
  const submit = join(work, 'spark-submit');
  writeFileSync(submit, '#!/bin/sh\n');
  utimesSync(submit, 1_700_000_000, 1_700_000_000);
  const first = jvmArchivePath(submit, env);
  utimesSync(submit, 1_700_000_100, 1_700_000_100);
  assert.notEqual(jvmArchivePath(submit, env), first, 'a reinstall at the same path');
});

test('a run maps the archive only when it exists, is not turned off, and sits at a path Spark can carry', () => {
  const cache = join(work, 'cache2');
  const env = { SPARKINFER_CACHE: cache, PATH: '/usr/bin:/bin' };
  const submit = '/opt/spark/bin/spark-submit';
  assert.equal(archiveToUse(submit, env), undefined, 'not built yet');
  const path = jvmArchivePath(submit, env);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, 'x');
  assert.deepEqual(archiveToUse(submit, env), { use: path });
  assert.equal(archiveToUse(submit, { ...env, SPARKINFER_JVM_ARCHIVE: 'off' }), undefined);
  assert.equal(safeInOptions('/home/a b/x.jsa'), false);
  assert.equal(safeInOptions('/tmp/"x.jsa'), false);
  assert.equal(safeInOptions('/root/.cache/sparkinfer/jvm/spark-driver-0123.jsa'), true);
  const spaced = { ...env, SPARKINFER_CACHE: join(work, 'with space') };
  const spacedPath = jvmArchivePath(submit, spaced);
  mkdirSync(dirname(spacedPath), { recursive: true });
  writeFileSync(spacedPath, 'x');
  assert.equal(archiveToUse(submit, spaced), undefined, 'a path with a space is left out, not split');
});

function job(conf: string): ResolvedJob {
  const p = join(work, `job-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(
    p,
    [
      'name: t',
      'input: { format: json, path: in.jsonl }',
      'prompt: { user: "{{ q }}" }',
      'model: m',
      'engine: { endpoint: "http://127.0.0.1:9/v1" }',
      'output: { format: parquet, path: out }',
      `spark: { master: "local[2]"${conf} }`,
      '',
    ].join('\n'),
  );
  return { ...loadJobFile(p), run: { id: 'r1' } } as unknown as ResolvedJob;
}

const confOf = (args: string[]): Record<string, string> => {
  const out: Record<string, string> = {};
  args.forEach((a, i) => {
    if (a !== '--conf') return;
    const kv = args[i + 1] ?? '';
    const eq = kv.indexOf('=');
    out[kv.slice(0, eq)] = kv.slice(eq + 1);
  });
  return out;
};
const paths = { root: '/r', jobJson: '/r/job.json', workerBundle: '/r/w.mjs' };

test("spark-submit: the archive flag goes into spark.driver.extraJavaOptions, after the job's own options", () => {
  const plain = confOf(buildSubmitArgs(job(''), paths, { nodePath: '/n' }));
  assert.equal(plain['spark.driver.extraJavaOptions'], undefined, 'no archive: the option is not set');
  const used = confOf(buildSubmitArgs(job(''), paths, { nodePath: '/n', jvmArchive: { use: '/c/jvm/a.jsa' } }));
  assert.equal(used['spark.driver.extraJavaOptions'], '-XX:SharedArchiveFile=/c/jvm/a.jsa');
  const own = job(', conf: { spark.driver.extraJavaOptions: "-Xss4m -Dx=1" }');
  const merged = confOf(buildSubmitArgs(own, paths, { nodePath: '/n', jvmArchive: { use: '/c/jvm/a.jsa' } }));
  assert.equal(merged['spark.driver.extraJavaOptions'], '-Xss4m -Dx=1 -XX:SharedArchiveFile=/c/jvm/a.jsa');
  const create = confOf(buildSubmitArgs(job(''), paths, { nodePath: '/n', jvmArchive: { create: '/c/jvm/t/a.jsa' } }));
  assert.equal(create['spark.driver.extraJavaOptions'], '-XX:ArchiveClassesAtExit=/c/jvm/t/a.jsa');
  assert.equal(mergeJavaOptions('  ', '-X'), '-X');
});
