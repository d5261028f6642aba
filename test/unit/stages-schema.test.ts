import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SpecError } from '../../src/errors.ts';
import { parseJobText } from '../../src/validate/job.ts';
import { stageInputColumns } from '../../src/prompt/stage-names.ts';
import { fingerprint } from '../../src/jobfile/fingerprint.ts';

const HEAD = `name: staged
model: small
input: { format: json, path: in.jsonl }
output: { path: out }
engine: { endpoint: "http://127.0.0.1:8080/v1" }
`;

const TWO = `${HEAD}stages:
  - name: check
    prompt: { user: "Billing? {{ body }}" }
    response:
      format: json
      schema: { type: object, properties: { answer: { type: string } }, required: [answer] }
  - name: draft
    when: check.json.answer == 'yes'
    model: large
    engine: { endpoint: "http://127.0.0.1:8081/v1" }
    prompt: { user: "Answer {{ body }} ({{ check.json.answer }}, {{ lang }})" }
`;

function problems(text: string): string[] {
  try {
    parseJobText(text, 'job.yaml');
  } catch (err) {
    assert.ok(err instanceof SpecError, String(err));
    return err.message.split('\n');
  }
  assert.fail('expected a SpecError');
}

/** Asserts that one of the problem lines matches `re`. */
function expectIn(p: string[], re: RegExp): void {
  assert.ok(
    p.some((l) => re.test(l)),
    `${re} not in:\n${p.join('\n')}`,
  );
}

test('a two-stage job loads; its input columns leave out the earlier stages', () => {
  const job = parseJobText(TWO, 'job.yaml');
  assert.equal(job.stages?.length, 2);
  assert.equal(job.stages?.[1]?.model, 'large');
  assert.equal(job.stages?.[1]?.engine?.endpoint, 'http://127.0.0.1:8081/v1');
  assert.equal(job.stages?.[0]?.response.format, 'json');
  assert.equal(job.stages?.[1]?.response.format, 'text');
  assert.deepEqual(stageInputColumns(job.stages ?? []), ['body', 'lang']);
});

test('a job with a top-level prompt has no stages and keeps its fingerprint', () => {
  const one = parseJobText(`${HEAD}prompt: { user: "{{ body }}" }\n`, 'job.yaml');
  assert.equal(one.stages, undefined);
  const staged = parseJobText(TWO, 'job.yaml');
  assert.notEqual(fingerprint(one, 'x'), fingerprint(staged, 'x'));
  // A stage's engine changes how fast, not what: not in the fingerprint.
  const moved = parseJobText(TWO.replace('8081', '9999'), 'job.yaml');
  assert.equal(fingerprint(staged, 'x'), fingerprint(moved, 'x'));
});

test('prompt and stages together, duplicate, reserved and invalid names are refused at their lines', () => {
  const text = `${HEAD}prompt: { user: "{{ body }}" }
output: { path: out, include: [body] }
stages:
  - { name: a, prompt: { user: "{{ body }}" } }
  - { name: a, prompt: { user: "{{ body }}" } }
  - { name: error_code, prompt: { user: "{{ body }}" } }
  - { name: body, prompt: { user: "{{ body }}" } }
  - { name: 2x, prompt: { user: "{{ body }}" } }
`.replace('output: { path: out }\n', '');
  const p = problems(text);
  const has = (re: RegExp): void => expectIn(p, re);
  has(/^job\.yaml:\d+:\d+ prompt: a job has either `prompt` \(one stage\) or `stages:`/);
  has(/^job\.yaml:9:\d+ stages\[1\]\.name: stage name `a` is used twice/);
  has(/stages\[2\]\.name: stage name `error_code` is a result column/);
  has(/stages\[3\]\.name: stage name `body` is also in `output.include`/);
  has(/stages\[4\]\.name: expected an identifier/);
});

test('a gate with bad syntax is refused with its column; a later stage or the stage itself cannot be read', () => {
  const p = problems(`${HEAD}stages:
  - name: a
    when: b.text == 'x
    prompt: { user: "{{ body }}" }
  - name: b
    prompt: { user: "{{ b.text }} {{ body }}" }
  - name: c
    when: d.text is null
    prompt: { user: "{{ a.text }}" }
  - name: d
    prompt: { user: "{{ c.text }}" }
`);
  const has = (re: RegExp): void => expectIn(p, re);
  has(/^job\.yaml:8:\d+ stages\[0\]\.when: gate syntax error: unterminated string at column 11/);
});

test('names of later stages and of the stage itself are refused', () => {
  const p = problems(`${HEAD}stages:
  - name: b
    prompt: { user: "{{ b.text }} {{ body }}" }
  - name: c
    when: d.text is null
    prompt: { user: "{{ b.text }}" }
  - name: d
    prompt: { user: "{{ c.text }}" }
`);
  const has = (re: RegExp): void => expectIn(p, re);
  has(/stages\[0\]\.prompt\.user: `b` is this stage itself/);
  has(/stages\[1\]\.when: `d` is stage 3, which runs later/);
  assert.equal(p.filter((l) => /stages\[2\]/.test(l)).length, 0, p.join('\n'));
});

test('stages are refused with embeddings, an openai-batch input and a csv output', () => {
  const st = `stages:\n  - { name: a, prompt: { user: "{{ body }}" } }\n`;
  assert.ok(problems(`${HEAD}task: embed\n${st}`).some((l) => /`stages:` is for `task: generate`/.test(l)));
  assert.ok(
    problems(`${HEAD.replace('output: { path: out }', 'output: { path: out, format: csv }')}${st}`).some((l) =>
      /struct column of a stage/.test(l),
    ),
  );
});
