/**
 * src/spark/storage.ts and its uses: the `storage:` section, where the run directory goes for an
 * output on a URI store, a URI `resume.dir` refused with file:line:col, and the spark-submit argv
 * (--jars, fs.s3a.* options, the S3A committer only for s3a:// outputs, the job's conf winning).
 * (The real server round trips are test/e2e/storage-s3.test.ts.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SpecError } from '../../src/errors.ts';
import { parseJobText } from '../../src/validate/job.ts';
import { runsRoot } from '../../src/job/run-setup.ts';
import { buildSubmitArgs } from '../../src/spark/submit.ts';
import { cloudJarNames, cloudJarsList, cloudJarsDir, S3A_COMMITTER_CONF, storageConf } from '../../src/spark/storage.ts';
import { runDirProblem } from '../../src/jobfile/uri.ts';
import type { Job } from '../../src/jobfile/schema.ts';
import type { ResolvedJob } from '../../src/jobfile/resolved.ts';

function jobText(extra: string, output = 's3a://bucket/data/out'): string {
  return [
    'name: t',
    'input: { format: json, path: "s3a://bucket/data/in.jsonl" }',
    'prompt: { user: "{{ q }}" }',
    'model: m',
    'engine: { endpoint: "http://127.0.0.1:9/v1" }',
    `output: { format: parquet, path: "${output}" }`,
    extra,
    '',
  ].join('\n');
}
const load = (extra: string, output?: string): Job => parseJobText(jobText(extra, output), 'job.yaml');

const confOf = (args: string[]): Record<string, string> => {
  const out: Record<string, string> = {};
  args.forEach((a, i) => {
    if (a !== '--conf') return;
    const kv = args[i + 1] ?? '';
    out[kv.slice(0, kv.indexOf('='))] = kv.slice(kv.indexOf('=') + 1);
  });
  return out;
};
const paths = { root: '/r', jobJson: '/r/job.json', workerBundle: '/r/w.mjs' };
const resolved = (j: Job): ResolvedJob => ({ ...j, run: { id: 'r1' } }) as unknown as ResolvedJob;

test('a resume.dir on a URI store is refused with file:line:col and the reason; a local or file: one is fine', () => {
  for (const dir of ['s3a://bucket/runs', 'hdfs://nn:8020/runs', 'gs://b/r']) {
    let message = '';
    try {
      load(`resume: { dir: "${dir}" }`);
    } catch (err) {
      assert.ok(err instanceof SpecError);
      message = err.message;
    }
    assert.match(message, /^job\.yaml:7:\d+ resume\.dir: the run directory must be a local path, or one every executor mounts/);
    assert.ok(message.includes(`${dir.split(':')[0]}:// cannot take`), message);
  }
  assert.equal(runDirProblem('/shared/runs'), undefined);
  assert.equal(runDirProblem('file:///shared/runs'), undefined);
  assert.equal(runsRoot(load('resume: { dir: "file:///shared/runs" }'), '/jobs'), '/shared/runs');
  assert.equal(runsRoot(load('resume: { dir: "runs" }'), '/jobs'), '/jobs/runs');
});

test('the run directory of a URI output is local, beside the job file; a local output keeps <output>.sparkinfer', () => {
  assert.equal(runsRoot(load(''), '/jobs'), '/jobs/sparkinfer-runs/s3a_bucket_data_out');
  assert.equal(runsRoot(load('', 'hdfs://nn:8020/warehouse/out/'), '/jobs'), '/jobs/sparkinfer-runs/hdfs_nn_8020_warehouse_out');
  assert.equal(runsRoot(load('', 'out'), '/jobs'), '/jobs/out.sparkinfer');
  assert.equal(runsRoot(load('', 'file:///data/out'), '/jobs'), '/data/out.sparkinfer');
});

test("storage: maps to fs.s3a.* options; the S3A committer only for an s3a:// output; the job's spark.conf wins", () => {
  const j = load('storage: { endpoint: "http://127.0.0.1:9000", region: eu-west-1, path_style: true }');
  const c = storageConf(j);
  assert.equal(c['spark.hadoop.fs.s3a.endpoint'], 'http://127.0.0.1:9000');
  assert.equal(c['spark.hadoop.fs.s3a.endpoint.region'], 'eu-west-1');
  assert.equal(c['spark.hadoop.fs.s3a.path.style.access'], 'true');
  assert.match(c['spark.hadoop.fs.s3a.aws.credentials.provider'] ?? '', /DefaultCredentialsProvider$/);
  for (const [k, v] of Object.entries(S3A_COMMITTER_CONF)) assert.equal(c[k], v);
  const local = storageConf(load('', 'out'));
  assert.equal(local['spark.sql.sources.commitProtocolClass'], undefined, "a local output keeps Spark's own committer");
  assert.equal(local['spark.hadoop.fs.s3a.endpoint'], undefined);
  const own = confOf(
    buildSubmitArgs(
      resolved(load('storage: { path_style: true }\nspark: { conf: { spark.hadoop.fs.s3a.path.style.access: false } }')),
      paths,
      { nodePath: '/n' },
    ),
  );
  assert.equal(own['spark.hadoop.fs.s3a.path.style.access'], 'false');
  let message = '';
  try {
    load('storage: { endpoint: "minio:9000" }');
  } catch (err) {
    message = (err as Error).message;
  }
  assert.match(message, /^job\.yaml:7:\d+ storage\.endpoint: expected an http:\/\/ or https:\/\/ URL/);
});

test("the cloud jars travel with --jars, after the job's own spark.jars, which is not passed twice", () => {
  const jars = ['/c/jars/cloud/hadoop-aws-3.4.1.jar', '/c/jars/cloud/s3-2.24.8.jar'];
  const args = buildSubmitArgs(resolved(load('spark: { conf: { spark.jars: "/mine/a.jar" } }')), paths, { nodePath: '/n', jars });
  assert.equal(args[args.indexOf('--jars') + 1], `/mine/a.jar,${jars.join(',')}`);
  assert.equal(confOf(args)['spark.jars'], undefined);
  const none = buildSubmitArgs(resolved(load('', 'out')), paths, { nodePath: '/n' });
  assert.equal(none.indexOf('--jars'), -1);
});

test("cloud-jars.txt: hadoop-aws matches pyspark's Hadoop, one SDK version, every line pinned, all under <cache>/jars/cloud", () => {
  const names = cloudJarNames();
  assert.ok(names.includes('hadoop-aws-3.4.1.jar'));
  assert.ok(names.includes('spark-hadoop-cloud_2.13-4.0.1.jar'));
  assert.ok(!names.some((n) => n.startsWith('bundle-')), 'not the SDK bundle');
  const lines = readFileSync(cloudJarsList(), 'utf8')
    .split('\n')
    .filter((l) => /^[a-z]/.test(l));
  assert.equal(lines.length, names.length);
  for (const l of lines) assert.match(l, /^[\w.-]+:[\w.-]+:[\w.-]+ [0-9a-f]{64}$/);
  const sdk = new Set(lines.filter((l) => l.startsWith('software.amazon.awssdk:')).map((l) => l.split(' ')[0]?.split(':')[2]));
  assert.equal(sdk.size, 1, `one AWS SDK version, got ${[...sdk].join(', ')}`);
  assert.equal(cloudJarsDir({ SPARKINFER_CACHE: '/c' }), join('/c', 'jars', 'cloud'));
});

test('S3 credentials in spark.conf are refused at their line: they would be copied into job.json', () => {
  let message = '';
  try {
    load('spark: { conf: { spark.hadoop.fs.s3a.bucket.data.secret.key: "abc" } }');
  } catch (err) {
    message = (err as Error).message;
  }
  assert.match(
    message,
    /^job\.yaml:7:\d+ spark\.conf\.spark\.hadoop\.fs\.s3a\.bucket\.data\.secret\.key: S3 credentials do not go in the job file/,
  );
  assert.doesNotMatch(message, /abc/, 'the value is not echoed');
  assert.doesNotThrow(() => load('spark: { conf: { spark.hadoop.fs.s3a.connection.maximum: 64 } }'));
});
