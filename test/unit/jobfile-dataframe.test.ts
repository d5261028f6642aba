/**
 * The job of infer() (src/jobfile/dataframe.ts): `input:` and `output:` may be left out when the job
 * is loaded with `dataframe: true` (`validate --no-input-check`), and stay required otherwise (run).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SpecError } from '../../src/errors.ts';
import { withoutStandIns } from '../../src/jobfile/dataframe.ts';
import { loadLocatedJobFile } from '../../src/validate/job.ts';
import { tempDir } from '../helpers/tmp.ts';

const BARE = 'name: j\nprompt: { user: "{{ q }}" }\nmodel: m\nengine: { endpoint: "http://127.0.0.1:9/v1" }\n';

function jobFile(text: string): string {
  const path = join(tempDir('df'), 'job.yaml');
  writeFileSync(path, text);
  return path;
}

test('without input and output a job is refused, each at file:line:col, unless it is the job of infer()', () => {
  const path = jobFile(BARE);
  assert.throws(
    () => loadLocatedJobFile(path),
    (err: unknown) => {
      assert.ok(err instanceof SpecError);
      assert.match(err.message, /job\.yaml:1:1 input: missing required field/);
      assert.match(err.message, /job\.yaml:1:1 output: missing required field/);
      return true;
    },
  );
  const { job, standIns } = loadLocatedJobFile(path, { dataframe: true });
  assert.deepEqual(standIns, [
    ['input', 'format'],
    ['input', 'table'],
    ['output', 'path'],
  ]);
  const shown = withoutStandIns(job, standIns);
  assert.deepEqual(shown.input, { options: {}, keep_model: false });
  assert.equal(shown.output.path, undefined);
  assert.deepEqual(shown.output.include, []);
  assert.equal(shown.output.format, 'parquet', "the output's defaults stay");
  assert.equal(job.output.path !== undefined, true, 'the loaded job itself is whole (the stand-ins are in it)');
});

test("infer()'s job may hold only what infer() reads, and what it holds is checked as usual", () => {
  const partial = jobFile(`${BARE}input: { key: id }\noutput: { include: [q], include_request: true }\n`);
  const { job, standIns } = loadLocatedJobFile(partial, { dataframe: true });
  const shown = withoutStandIns(job, standIns);
  assert.equal(shown.input.key, 'id');
  assert.deepEqual(shown.output.include, ['q']);
  assert.equal(shown.output.include_request, true);
  assert.equal(shown.input.format, undefined);

  const whole = jobFile(`${BARE}input: { format: json, path: q.jsonl }\noutput: { path: out }\n`);
  const w = loadLocatedJobFile(whole, { dataframe: true });
  assert.deepEqual(w.standIns, [], 'nothing filled in a job that has both');
  assert.equal(w.job.input.path, 'q.jsonl');

  const bad = jobFile(`${BARE}input: { key: 7 }\noutput: { include: q }\n`);
  assert.throws(() => loadLocatedJobFile(bad, { dataframe: true }), /job\.yaml:5:15 input\.key: .*\n.*job\.yaml:6:20 output\.include: /);
});
