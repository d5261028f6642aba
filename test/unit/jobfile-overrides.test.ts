import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SpecError } from '../../src/errors.ts';
import { loadJobFile } from '../../src/validate/job.ts';
import { parseSetArg, parseSetValue } from '../../src/jobfile/overrides.ts';

const GOOD = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'jobs', 'good.yaml');

function errorLines(set: string[]): string[] {
  try {
    loadJobFile(GOOD, { set });
  } catch (err) {
    assert.ok(err instanceof SpecError, `expected a SpecError, got ${String(err)}`);
    return err.message.split('\n');
  }
  assert.fail(`expected --set ${set.join(' ')} to be rejected`);
}

test('--set values are YAML: numbers, booleans, flow lists, quoted strings', () => {
  const job = loadJobFile(GOOD, {
    set: ['engine.concurrency=16', 'sampling.stop=[a, b]', 'output.include_request=true', 'model="123"', 'sampling.temperature=0'],
  });
  assert.equal(job.engine.concurrency, 16);
  assert.deepEqual(job.sampling.stop, ['a', 'b']);
  assert.equal(job.output.include_request, true);
  assert.equal(job.model, '123');
  assert.equal(job.sampling.temperature, 0);
});

test('--set indexes lists, appends one past the end, and creates missing mappings', () => {
  const job = loadJobFile(GOOD, {
    set: ['output.include.0=answer_id', 'output.include.1=topic', 'engine.launch.kind=vllm', 'engine.launch.model=/models/x'],
  });
  assert.deepEqual(job.output.include, ['answer_id', 'topic']);
  assert.equal(job.engine.launch?.kind, 'vllm');
  assert.equal(job.engine.launch?.model, '/models/x');
});

test('--set keeps templates and text with colons as strings', () => {
  const job = loadJobFile(GOOD, { set: ['prompt.user={{ question }}', 'prompt.system=Note: be brief', 'resume.dir=- x'] });
  assert.equal(job.prompt.user, '{{ question }}');
  assert.equal(job.prompt.system, 'Note: be brief');
  assert.equal(job.resume.dir, '- x');
});

test('--set into a mapping of scalars keeps dots in the key (spark.conf)', () => {
  const job = loadJobFile(GOOD, { set: ['spark.conf.spark.executor.memory=4g', 'input.options.multiLine=true'] });
  assert.deepEqual(job.spark.conf, { 'spark.executor.memory': '4g' });
  assert.deepEqual(job.input.options, { multiLine: true });
});

test('the last --set of a path wins', () => {
  assert.equal(loadJobFile(GOOD, { set: ['engine.concurrency=4', 'engine.concurrency=8'] }).engine.concurrency, 8);
});

const BAD_SETS: { set: string[]; line: string | RegExp }[] = [
  { set: ['engine.concurency=16'], line: '--set engine.concurency=16: engine.concurency: unknown field; did you mean "concurrency"?' },
  {
    set: ['engine.concurrency=0'],
    line: '--set engine.concurrency=0: engine.concurrency: expected a whole number from 1 and up or "auto", got 0 (number)',
  },
  {
    set: ['engine.request_timeout=30'],
    line: /^--set engine\.request_timeout=30: engine\.request_timeout: expected a duration with a unit.*got 30 \(number\)$/,
  },
  { set: ['promt.user=x'], line: '--set promt.user=x: promt: unknown field; did you mean "prompt"?' },
  {
    set: ['engine.launch.kind=vllm'],
    line: '--set engine.launch.kind=vllm: engine.launch.model: missing required field; expected a non-empty string',
  },
  { set: ['model.name=x'], line: '--set model.name=x: `model` is a string, not a mapping, so it has no field "name"' },
  { set: ['output.include.5=x'], line: '--set output.include.5=x: `output.include` has 1 item(s); expected an index from 0 to 1, got 5' },
  {
    set: ['output.include.first=x'],
    line: '--set output.include.first=x: `output.include` is a list; expected an index like output.include.0, got "first"',
  },
  { set: ['engine.concurrency'], line: '--set engine.concurrency: expected PATH=VALUE, like --set engine.concurrency=16' },
  {
    set: ['engine..concurrency=1'],
    line: '--set engine..concurrency=1: expected a dotted path before "=", like engine.concurrency or output.include.0, got "engine..concurrency"',
  },
  { set: ['sampling.stop=[a, b'], line: /^--set sampling\.stop=\[a, b: cannot read the value as YAML: .*; quote it for a string$/ },
];

for (const c of BAD_SETS) {
  test(`bad --set ${c.set.join(' ')}`, () => {
    const lines = errorLines(c.set);
    assert.equal(lines.length, 1, lines.join('\n'));
    if (typeof c.line === 'string') assert.equal(lines[0], c.line);
    else assert.match(lines[0] ?? '', c.line);
  });
}

test('file problems keep their positions and come first; --set problems follow in --set order', () => {
  const file = join(dirname(GOOD), 'wrong-type.yaml');
  let lines: string[] = [];
  try {
    loadJobFile(file, { set: ['sampling.top_p=2', 'output.mode=replace', 'engine.retries=-1'] });
    assert.fail('expected a SpecError');
  } catch (err) {
    assert.ok(err instanceof SpecError);
    lines = err.message.split('\n');
  }
  assert.deepEqual(
    lines.map((l) => l.split(': ')[0]),
    [`${file}:10:16 engine.concurrency`, '--set sampling.top_p=2', '--set output.mode=replace', '--set engine.retries=-1'],
  );
});

test('parseSetArg splits on the first "=" only', () => {
  assert.deepEqual(parseSetArg('prompt.user=a=b'), { segments: ['prompt', 'user'], valueText: 'a=b' });
});

test('parseSetValue: YAML scalars, null forms, flow collections', () => {
  assert.equal(parseSetValue('16', 'x'), 16);
  assert.equal(parseSetValue('1.5', 'x'), 1.5);
  assert.equal(parseSetValue('false', 'x'), false);
  assert.equal(parseSetValue('', 'x'), null);
  assert.equal(parseSetValue('~', 'x'), null);
  assert.equal(parseSetValue("'16'", 'x'), '16');
  assert.deepEqual(parseSetValue('{a: 1}', 'x'), { a: 1 });
  assert.equal(parseSetValue('{% if a %}x{% endif %}', 'x'), '{% if a %}x{% endif %}');
});
