import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { canonicalJson, fingerprint } from '../../src/jobfile/fingerprint.ts';
import { loadJobFile } from '../../src/validate/job.ts';

const GOOD = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'jobs', 'good.yaml');
const IDENTITY = 'data/questions.jsonl:1234:1700000000000';
const base = fingerprint(loadJobFile(GOOD), IDENTITY);
const withSet = (...set: string[]): string => fingerprint(loadJobFile(GOOD, { set }), IDENTITY);

test('the fingerprint is a hex sha256 and stable across loads', () => {
  assert.match(base, /^[0-9a-f]{64}$/);
  assert.equal(withSet(), base);
});

test('writing a default explicitly does not change the fingerprint', () => {
  assert.equal(withSet('task=generate', 'prompt.api=chat', 'response.format=text'), base);
});

const CHANGES_IT = [
  'task=embed',
  'input.path=data/other.jsonl',
  'input.format=parquet',
  'input.key=qid',
  'input.options.multiLine=true',
  'prompt.user=Q: {{ question }}',
  'prompt.system=Be rude.',
  'model=other-model',
  'sampling.temperature=0.8',
  'sampling.max_tokens=65',
  'sampling.seed=1',
  'response.format=json', // (response.schema needed: set below)
];

for (const s of CHANGES_IT) {
  test(`--set ${s} changes the fingerprint`, () => {
    const extra = s.startsWith('response.format=json') ? ['response.schema={type: object, properties: {a: {type: string}}}'] : [];
    assert.notEqual(withSet(s, ...extra), base);
  });
}

test('the input identity changes the fingerprint', () => {
  assert.notEqual(fingerprint(loadJobFile(GOOD), `${IDENTITY}x`), base);
});

const KEEPS_IT = [
  'engine.concurrency=64',
  'engine.concurrency_max=1024',
  'engine.request_timeout=5m',
  'engine.outage_timeout=1h',
  'engine.retries=9',
  'engine.endpoint=http://10.0.0.1:8000/v1',
  'engine.launch={kind: vllm, model: /models/x}',
  'spark.partitions=200',
  'spark.master=local[2]',
  'spark.conf.spark.executor.memory=4g',
  'spark.hive=true',
  'output.path=elsewhere',
  'output.mode=overwrite',
  'output.include=[]',
  'output.files=3',
  'resume.dir=/tmp/r',
  'limits.max_failed_fraction=0.5',
  'name=renamed',
  'kubernetes.namespace=ml',
];

test('settings that only change speed or placement keep the fingerprint', () => {
  for (const s of KEEPS_IT) assert.equal(withSet(s), base, `--set ${s} must not change the fingerprint`);
});

test('canonicalJson sorts keys at every level and drops undefined members', () => {
  assert.equal(
    canonicalJson({ b: 1, a: { d: [1, { z: 1, y: undefined, x: null }], c: 'é' } }),
    '{"a":{"c":"é","d":[1,{"x":null,"z":1}]},"b":1}',
  );
  assert.equal(canonicalJson({ a: 1, b: 2 }), canonicalJson({ b: 2, a: 1 }));
});
