import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseJobText } from '../../src/validate/job.ts';
import { resultColumns } from '../../src/plan/output-columns.ts';
import { runColumns } from '../../src/plan/run-block.ts';

const JOB = `name: staged
model: small
input: { format: json, path: in.jsonl }
output: { path: out }
engine: { endpoint: "http://127.0.0.1:8080/v1" }
stages:
  - name: check
    prompt: { system: "{{ lang }}", user: "Billing? {{ body }}" }
    response:
      format: json
      schema: { type: object, properties: { answer: { type: string } }, required: [answer] }
  - name: draft
    when: check.json.answer == 'yes' and tier is not null
    prompt: { user: "Answer {{ body }} ({{ check.text }})" }
`;

test('a staged job: one struct column per stage (json typed per stage), then the row outcome', () => {
  const cols = resultColumns(parseJobText(JOB, 'job.yaml'));
  assert.deepEqual(
    cols.map((c) => c.name),
    ['check', 'draft', 'error_code', 'error_message', 'prompt_tokens', 'completion_tokens', 'attempts'],
  );
  const check = cols[0]?.ddl ?? '';
  assert.match(check, /^struct<`text`:string,`reasoning`:string,`json`:struct<`answer`:string>,`finish_reason`:string,/);
  assert.match(check, /`error_code`:string,`error_message`:string,`model`:string>$/);
  assert.match(cols[1]?.ddl ?? '', /`json`:string,/);
});

test("a staged job's run columns: the input columns its templates and gates read, not its stages", () => {
  assert.deepEqual(runColumns(parseJobText(JOB, 'job.yaml')), ['lang', 'body', 'tier']);
});
