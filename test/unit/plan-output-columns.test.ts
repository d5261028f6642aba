/**
 * The result columns the plan carries (src/plan/output-columns.ts): their order and Spark types as
 * DDL for each kind of job, the `json` struct from the response schema (test/fixtures/json-schemas.json:
 * the DDL is Spark's simpleString with every field name quoted), and that every target's resolved
 * job carries them: a local run's and Kubernetes' run block, and `validate --json` for infer().
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseJobText } from '../../src/validate/job.ts';
import { analyzeSchema } from '../../src/response/schema.ts';
import { resultColumns, sparkDdl } from '../../src/plan/output-columns.ts';
import { resolvedJob, runColumns } from '../../src/plan/run-block.ts';
import { resolveJobForK8s } from '../../src/k8s/cli.ts';
import { ROOT } from '../helpers/cli.ts';

const FIX = JSON.parse(readFileSync(join(ROOT, 'test/fixtures/json-schemas.json'), 'utf8')) as {
  supported: Array<{ name: string; schema: unknown; spark: string }>;
};

const job = (extra: string, input = '{ format: json, path: in.jsonl }'): ReturnType<typeof parseJobText> =>
  parseJobText(
    `name: t\ninput: ${input}\nprompt: { api: chat, messages: [{ role: user, content: "{{ q }}" }] }\nmodel: m\nengine: { endpoint: "http://127.0.0.1:1/v1" }\noutput: { format: parquet, path: out }\n${extra}`,
    'job.yaml',
    [],
  );

test('the json struct as DDL: the fixtures Spark type, with every field name quoted', () => {
  for (const c of FIX.supported) {
    const t = analyzeSchema(c.schema).type;
    assert.ok(t !== undefined, c.name);
    assert.equal(sparkDdl(t).replaceAll('`', ''), c.spark, c.name);
  }
  const odd = analyzeSchema({ type: 'object', properties: { 'a b': { type: 'string' }, 'x`y': { type: 'integer' } } }).type;
  assert.ok(odd !== undefined);
  assert.equal(sparkDdl(odd), 'struct<`a b`:string,`x``y`:bigint>');
});

test('result columns in output order: json typed by the schema, embedding only to embed', () => {
  const names = (j: ReturnType<typeof job>): string =>
    resultColumns(j)
      .map((c) => `${c.name}:${c.ddl}`)
      .join(' ');
  assert.equal(
    names(job('')),
    'text:string reasoning:string json:string finish_reason:string prompt_tokens:int completion_tokens:int latency_ms:double attempts:int error_code:string error_message:string model:string',
  );
  const typed = job('response: { format: json, schema: { type: object, properties: { a: { type: integer } } } }');
  assert.equal(resultColumns(typed)[2]?.ddl, 'struct<`a`:bigint>');
});

test('every target carries the same result columns in its run block', () => {
  const j = job('');
  const local = resolvedJob(j, { id: 'r', dir: '/d/r', root: '/d', endpoint: 'e', engineKind: 'openai', fingerprint: 'f' });
  assert.deepEqual(local.run.result_columns, resultColumns(j));
  assert.deepEqual(resolveJobForK8s(j, { runId: 'r' }).run.result_columns, resultColumns(j));
});

test('the columns the driver packs: those the templates read; an openai-batch input only its raw line', () => {
  assert.deepEqual(runColumns(job('')), ['q']);
  const batch = parseJobText(
    'name: t\ninput: { format: openai-batch, path: in.jsonl }\nmodel: m\nengine: { endpoint: "http://127.0.0.1:1/v1" }\noutput: { format: openai-batch, path: out }\n',
    'job.yaml',
    [],
  );
  assert.deepEqual(runColumns(batch), ['_line']);
  assert.deepEqual(resolveJobForK8s(batch, { runId: 'r' }).run.columns, ['_line']);
  assert.equal(resultColumns(batch).at(-1)?.name, 'response');
});
