/**
 * `validate` on a staged job (docs/stages.md), through the real CLI: names in the stages' templates
 * and gates that are neither input columns nor earlier stages are exit 2 at file:line:col, with a
 * did-you-mean over both; a gate's syntax error names its column. No Spark, no engine.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli } from '../helpers/cli.ts';
import { tempDir } from '../helpers/tmp.ts';

function stagedJob(stages: string): string {
  const dir = tempDir('stages-validate');
  writeFileSync(join(dir, 'in.jsonl'), '{"id": 1, "body": "hi", "lang": "en"}\n');
  writeFileSync(
    join(dir, 'job.yaml'),
    `name: t
input: { format: json, path: in.jsonl }
model: m
engine: { endpoint: "http://127.0.0.1:9/v1" }
output: { path: out }
stages:
${stages}`,
  );
  return join(dir, 'job.yaml');
}

test('a staged job validates; a misspelled column or stage is exit 2 at its position with a did-you-mean', async () => {
  const good = stagedJob(`  - { name: check, prompt: { user: "{{ body }}" } }
  - { name: draft, when: "check.text is not null", prompt: { user: "{{ check.text }} {{ lang }}" } }
`);
  const ok = await runCli(['validate', good]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout + ok.stderr, /columns: body, lang/);

  const bad = stagedJob(`  - { name: check, prompt: { user: "{{ body }}" } }
  - { name: draft, when: "chekc.text is not null", prompt: { user: "{{ check.text }} {{ lnag }}" } }
`);
  const r = await runCli(['validate', bad]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /job\.yaml:8:\d+ stages\[1\]\.when: input has no column "chekc" \(did you mean "check"\?\)/);
  assert.match(r.stderr, /job\.yaml:8:\d+ stages\[1\]\.prompt\.user: input has no column "lnag" \(did you mean "lang"\?\)/);
});

test('a gate syntax error is exit 2 naming its column', async () => {
  const r = await runCli(['validate', stagedJob(`  - { name: a, when: "body = 'x'", prompt: { user: "{{ body }}" } }\n`)]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /job\.yaml:7:\d+ stages\[0\]\.when: gate syntax error: unexpected character "=" at column 6/);
});
