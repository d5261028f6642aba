/**
 * The supported JSON Schema subset: which schemas map to which Spark type (the `json` column), and
 * which are refused at validate time with a reason. test/fixtures/json-schemas.json is shared with
 * the Python driver's mapping (test/python/test_formats.py).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { analyzeSchema, engineSchemaProblems, sparkTypeString } from '../../src/response/schema.ts';
import { parseJobText } from '../../src/validate/job.ts';
import { SpecError } from '../../src/errors.ts';
import { ROOT } from '../helpers/cli.ts';

interface Fixtures {
  supported: Array<{ name: string; schema: unknown; spark: string }>;
  unsupported: Array<{ name: string; schema: unknown; error: string }>;
}
const FIX = JSON.parse(readFileSync(join(ROOT, 'test/fixtures/json-schemas.json'), 'utf8')) as Fixtures;

for (const c of FIX.supported) {
  test(`supported schema "${c.name}" → ${c.spark}`, () => {
    const a = analyzeSchema(c.schema);
    assert.deepEqual(a.problems, []);
    assert.ok(a.type !== undefined);
    assert.equal(sparkTypeString(a.type), c.spark);
  });
}

for (const c of FIX.unsupported) {
  test(`unsupported schema "${c.name}" is refused with its reason`, () => {
    const a = analyzeSchema(c.schema);
    assert.equal(a.type, undefined);
    assert.ok(a.problems.length > 0);
    assert.ok(
      a.problems.some((p) => new RegExp(c.error).test(p.message)),
      JSON.stringify(a.problems),
    );
  });
}

test('problems name where in the schema they are', () => {
  const a = analyzeSchema({
    type: 'object',
    properties: { person: { type: 'object', properties: { tags: { type: 'array', items: { type: 'string', format: 'email' } } } } },
  });
  assert.deepEqual(
    a.problems.map((p) => p.path),
    ['properties.person.properties.tags.items.format'],
  );
});

test('a shared $defs entry with a problem is reported once, however often it is used', () => {
  const a = analyzeSchema({
    type: 'object',
    $defs: { B: { type: 'string', format: 'email' } },
    properties: { a: { $ref: '#/$defs/B' }, b: { $ref: '#/$defs/B' } },
  });
  assert.equal(a.problems.length, 1);
});

test('llama-server: unanchored patterns are refused (it would silently accept any string)', () => {
  const s = {
    type: 'object',
    properties: { a: { type: 'string', pattern: '[0-9]+' }, b: { type: 'string', pattern: '^x$' }, c: { enum: ['pattern'] } },
  };
  const p = engineSchemaProblems(s, 'llama-server');
  assert.equal(p.length, 1);
  assert.equal(p[0]?.path, 'properties.a.pattern');
  assert.match(p[0]?.message ?? '', /anchored with \^ and \$/);
  assert.deepEqual(engineSchemaProblems(s, 'vllm'), []);
});

const JOB = (response: string, extra = ''): string => `
name: j
input: { format: json, path: in.jsonl }
prompt: { user: "{{ q }}" }
model: m
engine: { endpoint: "http://127.0.0.1:9/v1", kind: llama-server }
output: { format: json, path: out }
${response}
${extra}`;

function specLines(text: string): string[] {
  try {
    parseJobText(text, 'job.yaml', []);
  } catch (err) {
    assert.ok(err instanceof SpecError, String(err));
    return err.message.split('\n');
  }
  assert.fail('expected a SpecError');
}

test('validate: an unsupported schema is a spec error (exit 2) naming the place and the reason', () => {
  const lines = specLines(
    JOB('response: { format: json, schema: { type: object, properties: { a: { oneOf: [{ type: string }, { type: integer }] } } } }'),
  );
  assert.equal(lines.length, 1);
  assert.match(lines[0] ?? '', /response\.schema: unsupported schema at properties\.a\.oneOf: branches have different Spark types/);
});

test('validate: engine-specific problems come from the job engine kind', () => {
  const lines = specLines(JOB('response: { format: json, schema: { type: object, properties: { a: { type: string, pattern: "x+" } } } }'));
  assert.match(lines.join('\n'), /llama-server enforces only patterns anchored/);
});

test('validate: a good schema passes; schema without format json, and json with embed, are refused', () => {
  const job = parseJobText(
    JOB('response: { format: json, schema: { type: object, properties: { a: { type: string } } } }'),
    'job.yaml',
    [],
  );
  assert.equal(job.response.format, 'json');
  assert.match(
    specLines(JOB('response: { schema: { type: object, properties: { a: { type: string } } } }')).join('\n'),
    /`schema` needs `format: json`/,
  );
  assert.match(
    specLines(JOB('response: { format: json, schema: { type: object, properties: { a: { type: string } } } }', 'task: embed')).join('\n'),
    /`task: embed` returns vectors/,
  );
  const csv = JOB('response: { format: json, schema: { type: object, properties: { a: { type: string } } } }').replace(
    'output: { format: json, path: out }',
    'output: { format: csv, path: out }',
  );
  assert.match(specLines(csv).join('\n'), /csv` cannot hold the `json` struct column/);
});

test('validate: openai-batch jobs need no prompt, are keyed by custom_id, and refuse what does not apply', () => {
  const base = (more: string): string => `
name: b
input: { format: openai-batch, path: in.jsonl }
model: m
engine: { endpoint: "http://127.0.0.1:9/v1" }
output: { format: openai-batch, path: out }
${more}`;
  const job = parseJobText(base(''), 'job.yaml', []);
  assert.equal(job.input.key, 'custom_id');
  assert.equal(job.input.keep_model, false);
  assert.equal(job.prompt.api, 'chat');
  assert.match(specLines(base('prompt: { user: "x" }')).join('\n'), /carries its own request bodies; remove `prompt`/);
  assert.match(specLines(base('task: embed')).join('\n'), /picks the endpoint/);
  const out = specLines(`
name: b
input: { format: json, path: in.jsonl }
prompt: { user: "{{ q }}" }
model: m
engine: { endpoint: "http://127.0.0.1:9/v1" }
output: { format: openai-batch, path: out, mode: append }`).join('\n');
  assert.match(out, /needs `input.format: openai-batch`/);
  assert.match(out, /use `error` or `overwrite`/);
  assert.match(
    specLines(
      JOB('', 'input: { format: json, path: in.jsonl, keep_model: true }').replace('input: { format: json, path: in.jsonl }\n', ''),
    ).join('\n'),
    /`keep_model` is for `format: openai-batch`/,
  );
});

test('validate: a job without prompt (and not openai-batch) still says the field is missing', () => {
  const lines = specLines(`
name: j
input: { format: json, path: in.jsonl }
model: m
engine: { endpoint: "http://127.0.0.1:9/v1" }
output: { format: json, path: out }`);
  assert.equal(lines.length, 1);
  assert.match(lines[0] ?? '', /prompt: missing required field/);
});
