import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describeExpected, jobJsonSchema, knownFields, schemaAt } from '../../src/jobfile/json-schema.ts';

test('jobJsonSchema describes the job file, including engine', () => {
  const s = jobJsonSchema() as {
    type?: unknown;
    properties?: Record<string, { properties?: Record<string, unknown> }>;
    required?: unknown;
  };
  assert.equal(s.type, 'object');
  assert.ok(s.properties?.engine, 'properties.engine');
  assert.ok(s.properties?.engine?.properties?.concurrency, 'properties.engine.properties.concurrency');
  // `prompt` is optional here: an `openai-batch` input carries its own bodies (the zod refinement requires it otherwise).
  assert.deepEqual(s.required, ['name', 'input', 'model', 'engine', 'output']);
  // Durations are written as strings in the file (io: input).
  assert.deepEqual(schemaAt(['engine', 'request_timeout'])?.type, 'string');
});

test('jobJsonSchema returns a fresh copy each time', () => {
  const a = jobJsonSchema();
  a.type = 'mutated';
  assert.equal(jobJsonSchema().type, 'object');
});

test('describeExpected reads like a sentence', () => {
  const at = (...p: (string | number)[]): string => {
    const s = schemaAt(p);
    assert.ok(s, p.join('.'));
    return describeExpected(s);
  };
  assert.equal(at('engine', 'concurrency'), 'a whole number from 1 and up or "auto"');
  assert.equal(at('sampling', 'top_p'), 'a number above 0 and at most 1');
  assert.equal(at('limits', 'max_failed_fraction'), 'a number from 0 to 1');
  assert.equal(at('output', 'mode'), 'one of "error", "overwrite", "append" or "incremental"');
  assert.equal(at('sampling', 'stop'), 'a string or a list of strings');
  assert.equal(at('spark', 'conf', 'x'), 'a string, a number or a boolean');
  assert.equal(at('output', 'include_request'), 'true or false');
  assert.equal(at('prompt', 'messages'), 'a non-empty list of mappings');
  assert.equal(at('engine', 'endpoint'), 'a URL');
});

test("knownFields lists a mapping's fields", () => {
  assert.deepEqual(knownFields(['limits']), [
    'max_failed_fraction',
    'min_rows_for_budget',
    'max_completion_tokens',
    'max_prompt_tokens',
    'max_wall',
  ]);
  assert.ok(knownFields([]).includes('prompt'));
  assert.deepEqual(knownFields(['spark', 'conf']), []);
});
