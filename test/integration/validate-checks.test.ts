/**
 * `validate`'s checks of what a run would trip on, before anything starts (src/job/preflight.ts):
 * the input path, the columns the job reads (JSON Lines, CSV, Parquet, part-file folders, partition
 * folders), and sampling keys per engine kind. Each spawns the real CLI on a job file in a temp
 * folder and asserts the exit code, the file:line:col and the did-you-mean. No Spark, no engine.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, runCli, summaryOf } from '../helpers/cli.ts';
import { tempDir } from '../helpers/tmp.ts';

const PARQUET = join(ROOT, 'test', 'fixtures', 'parquet', 'questions.parquet');

/** A folder holding the job file (job.yaml, whose line 2 is `input:`, line 4 `user:`) and `files`. */
function jobDir(input: string, user: string, rest = '', files: Record<string, string> = {}): string {
  const dir = tempDir('validate');
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(dir, name, '..'), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  writeFileSync(
    join(dir, 'job.yaml'),
    `name: t
input: ${input}
prompt:
  user: ${JSON.stringify(user)}
model: m
engine: { endpoint: "http://127.0.0.1:9/v1" }
output: { path: out }
${rest}`,
  );
  return join(dir, 'job.yaml');
}

const QUESTIONS = '{"id": 1, "question": "What is Spark?"}\n{"id": 2, "question": "And Hive?", "lang": "en"}\n';

test('JSON Lines: a misspelled column is exit 2 at the name inside the template, with a did-you-mean and the columns', async () => {
  const job = jobDir('{ format: json, path: q.jsonl }', 'Q: {{ questoin }}', '', { 'q.jsonl': QUESTIONS });
  const r = await runCli(['validate', job]);
  assert.equal(r.code, 2, r.stderr);
  // Line 4 is `  user: "Q: {{ questoin }}"`: the name starts at column 16.
  assert.match(
    r.stderr,
    /job\.yaml:4:16 prompt\.user: input has no column "questoin" \(did you mean "question"\?\); available columns: id, question, lang\n/,
  );
  // `lang` is only in the second line: the keys are the union over the records.
  const ok = await runCli([
    'validate',
    jobDir('{ format: json, path: q.jsonl }', '{{ question }} ({{ lang }})', '', { 'q.jsonl': QUESTIONS }),
  ]);
  assert.equal(ok.code, 0, ok.stderr);
});

test('input.key and output.include are checked against the columns too', async () => {
  const job = jobDir('{ format: json, path: q.jsonl, key: ID }', '{{ question }}', '', { 'q.jsonl': QUESTIONS });
  writeFileSync(job, readFileSync(job, 'utf8').replace('output: { path: out }', 'output: { path: out, include: [langs] }'));
  const r = await runCli(['validate', job]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /job\.yaml:2:44 input\.key: input has no column "ID" \(did you mean "id"\?\)/);
  assert.match(r.stderr, /job\.yaml:7:32 output\.include\[0\]: input has no column "langs" \(did you mean "lang"\?\)/);
});

test("CSV: the header line under the job's reader options (header, sep); without a header the columns are _c0, _c1, …", async () => {
  const files = { 'q.csv': '\n"id";"the question"\n1;"What is Spark?"\n' };
  const misspelled = jobDir('{ format: csv, path: q.csv, options: { header: true, sep: ";" } }', '{{ the_question }}', '', files);
  const r = await runCli(['validate', misspelled]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(
    r.stderr,
    /job\.yaml:4:13 prompt\.user: input has no column "the_question" \(did you mean "the question"\?\); available columns: id, the question\n/,
  );
  const good = jobDir('{ format: csv, path: q.csv, options: { header: "true", delimiter: ";" } }', '{{ id }}', '', files);
  assert.equal((await runCli(['validate', good])).code, 0);
  const noHeader = jobDir('{ format: csv, path: q.csv, options: { sep: ";" } }', '{{ id }}', '', files);
  const h = await runCli(['validate', noHeader]);
  assert.equal(h.code, 2, h.stderr);
  assert.match(h.stderr, /job\.yaml:4:13 prompt\.user: input has no column "id"; available columns: _c0, _c1\n/);
});

test('Parquet: a folder of part files (one footer read, _SUCCESS skipped) with a partition folder', async () => {
  const dir = tempDir('validate-pq');
  mkdirSync(join(dir, 'data', 'lang=en'), { recursive: true });
  copyFileSync(PARQUET, join(dir, 'data', 'lang=en', 'part-00000.parquet'));
  writeFileSync(join(dir, 'data', '_SUCCESS'), '');
  const job = (user: string): string => jobDir(`{ format: parquet, path: ${join(dir, 'data')} }`, user);
  const r = await runCli(['validate', job('{{ questoin }} in {{ lang }}')]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(
    r.stderr,
    /job\.yaml:4:13 prompt\.user: input has no column "questoin" \(did you mean "question"\?\); available columns: id, question, meta, tags, m, größe, c00/,
  );
  const ok = await runCli(['validate', job('{{ question }} {{ meta.a }} in {{ lang }}')]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stderr, /columns: question, meta, lang/);
});

test('a missing input path is exit 2 at input.path, relative to the job file, with the near name; a matching glob passes', async () => {
  const job = jobDir('{ format: json, path: qustions.jsonl }', '{{ question }}', '', { 'questions.jsonl': QUESTIONS });
  // The CLI runs in the checkout (runCli's cwd), not in the job's folder: the path resolves against the job file.
  const r = await runCli(['validate', job]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(
    r.stderr,
    /job\.yaml:2:30 input\.path: the input \/\S+\/qustions\.jsonl does not exist \(did you mean "questions\.jsonl"\?\)\n/,
  );
  const glob = jobDir('{ format: json, path: "parts/*.jsonl" }', '{{ question }}', '', { 'parts/a.jsonl': QUESTIONS });
  assert.equal((await runCli(['validate', glob])).code, 0);
  const none = jobDir('{ format: json, path: "parts/*.json" }', '{{ question }}', '', { 'parts/a.jsonl': QUESTIONS });
  const n = await runCli(['validate', none]);
  assert.equal(n.code, 2, n.stderr);
  assert.match(n.stderr, /job\.yaml:2:30 input\.path: the input \/\S+\/parts\/\*\.json matches no file\n/);
});

test('an unknown sampling key is a warning with a did-you-mean (exit 0); sampling.extra passes engine keys without one', async () => {
  const job = jobDir(
    '{ format: json, path: q.jsonl }',
    '{{ question }}',
    'sampling:\n  temperatur: 0.7\n  extra: { mirostat: 2 }\nengine: { endpoint: "http://127.0.0.1:9/v1", kind: llama-server }\n',
    { 'q.jsonl': QUESTIONS },
  );
  writeFileSync(job, readFileSync(job, 'utf8').replace('engine: { endpoint: "http://127.0.0.1:9/v1" }\n', ''));
  const r = await runCli(['validate', job]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(
    r.stderr,
    /job\.yaml:8:3 sampling\.temperatur: warning: unknown sampling key for engine kind llama-server \(did you mean "temperature"\?\)/,
  );
  assert.doesNotMatch(r.stderr, /mirostat/);
  // A key this kind documents is no warning; the same key for a generic OpenAI server is one.
  const known = jobDir('{ format: json, path: q.jsonl }', '{{ question }}', 'sampling: { mirostat: 2 }\n', { 'q.jsonl': QUESTIONS });
  const k = await runCli(['validate', known, '--set', 'engine.kind=llama-server']);
  assert.equal(k.code, 0, k.stderr);
  assert.doesNotMatch(k.stderr, /warning/);
  const generic = await runCli(['validate', known]);
  assert.match(
    generic.stderr,
    /job\.yaml:8:13 sampling\.mirostat: warning: "mirostat" is not a parameter of engine kind openai \(llama-server documents it\)/,
  );
});

test('run: the same warning, and a misspelled column fails before anything starts (no run directory, no Spark)', async () => {
  const job = jobDir('{ format: json, path: q.jsonl }', '{{ questoin }}', 'sampling: { temperatur: 0.7 }\n', { 'q.jsonl': QUESTIONS });
  const r = await runCli(['run', job, '--json']);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /job\.yaml:8:13 sampling\.temperatur: warning: unknown sampling key/);
  assert.match(r.stderr, /job\.yaml:4:13 prompt\.user: input has no column "questoin" \(did you mean "question"\?\)/);
  assert.equal(summaryOf(r).status, 'failed');
  assert.equal(existsSync(join(job, '..', 'out.sparkinfer')), false, 'no run directory was made');
  assert.ok(r.ms < 10_000, `took ${r.ms} ms`);
});

test('what cannot be known before the run is "not checked" on stderr with exit 0: tables, SQL, object stores, ORC', async () => {
  for (const input of [
    '{ format: table, table: db.questions }',
    '{ format: sql, query: "SELECT 1 AS question" }',
    '{ format: json, path: "s3a://bucket/q.jsonl" }',
    '{ format: json, path: "hdfs://nn:8020/q.jsonl" }',
    '{ format: orc, path: q.orc }',
  ]) {
    const r = await runCli(['validate', jobDir(input, '{{ questoin }}', '', { 'q.orc': 'x' })]);
    assert.equal(r.code, 0, `${input}: ${r.stderr}`);
    assert.match(r.stderr, /job\.yaml: input columns not checked before the run \(the driver checks them\): /, input);
  }
});

test("no false positives: an OpenAI Batch input, and infer()'s --no-input-check; the derived _key is named as such", async () => {
  const batch = tempDir('validate-batch');
  writeFileSync(join(batch, 'requests.jsonl'), '{"custom_id": "a", "method": "POST", "url": "/v1/chat/completions", "body": {}}\n');
  writeFileSync(
    join(batch, 'job.yaml'),
    'name: b\ninput: { format: openai-batch, path: requests.jsonl }\nmodel: m\nengine: { endpoint: "http://127.0.0.1:9/v1" }\noutput: { format: openai-batch, path: out.jsonl }\n',
  );
  const b = await runCli(['validate', join(batch, 'job.yaml')]);
  assert.equal(b.code, 0, b.stderr);
  assert.doesNotMatch(b.stderr, /not checked|warning/);
  const missing = jobDir('{ format: json, path: nowhere.jsonl }', '{{ anything }}');
  assert.equal((await runCli(['validate', missing, '--no-input-check'])).code, 0);
  const key = jobDir('{ format: json, path: q.jsonl }', '{{ _key }}', '', { 'q.jsonl': QUESTIONS });
  const k = await runCli(['validate', key]);
  assert.equal(k.code, 2, k.stderr);
  assert.match(k.stderr, /input has no column "_key" \(_key is the derived key of the output, not an input column\)/);
});
