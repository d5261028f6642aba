import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SpecError } from '../../src/errors.ts';
import { loadJobFile, parseJobText } from '../../src/validate/job.ts';

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'jobs');
const fixture = (name: string): string => join(FIXTURES, name);

/** Runs `fn`, asserts it throws a SpecError, and returns the message lines. */
function specErrorLines(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof SpecError, `expected a SpecError, got ${String(err)}`);
    assert.equal(err.code, 'E_SPEC');
    return err.message.split('\n');
  }
  assert.fail('expected a SpecError, but the job loaded');
}

test('a valid job file loads with defaults applied and durations in ms', () => {
  const job = loadJobFile(fixture('good.yaml'));
  assert.equal(job.name, 'quickstart');
  assert.equal(job.task, 'generate');
  assert.equal(job.prompt.api, 'chat');
  assert.equal(job.prompt.user, 'Answer briefly: {{ question }}');
  assert.deepEqual(job.sampling.stop, ['\n\n']);
  assert.equal(job.engine.request_timeout, 30_000);
  assert.equal(job.engine.outage_timeout, 600_000);
  assert.equal(job.engine.concurrency, 'auto');
  assert.deepEqual(job.output.include, ['question']);
  assert.equal(job.spark.master, 'local[*,4]');
});

test('a completions job keeps its block-scalar template text', () => {
  const job = loadJobFile(fixture('completions.yaml'));
  assert.equal(job.prompt.api, 'completions');
  assert.equal(job.prompt.text, 'Q: {{ value }}\nA:\n');
  assert.equal(job.engine.launch?.kind, 'llama-server');
});

// Each bad file names the exact position and field (or, for YAML syntax, the position alone).
const BAD_FILES: { file: string; prefix: string; mentions: RegExp }[] = [
  {
    file: 'wrong-type.yaml',
    prefix: ':10:16 engine.concurrency: ',
    mentions: /expected a whole number from 1 and up or "auto", got "fast" \(string\)$/,
  },
  { file: 'unknown-field.yaml', prefix: ':5:1 promt: ', mentions: /unknown field; did you mean "prompt"\?$/ },
  { file: 'missing-required.yaml', prefix: ':1:1 model: ', mentions: /missing required field; expected a non-empty string$/ },
  {
    file: 'duration-no-unit.yaml',
    prefix: ':10:20 engine.request_timeout: ',
    mentions: /expected a duration with a unit.*got 30 \(number\)$/,
  },
  {
    file: 'unquoted-template.yaml',
    prefix: ':6:9 prompt.user: ',
    mentions: /a Jinja template must be a quoted string: write user: "\{\{ question \}\}"$/,
  },
  { file: 'unquoted-message.yaml', prefix: ':10:16 prompt.messages[1].content: ', mentions: /write content: "\{\{ question \}\}"$/ },
  { file: 'duplicate-key.yaml', prefix: ':8:1: ', mentions: /Map keys must be unique: model is given twice$/ },
  { file: 'bad-indent.yaml', prefix: ':3:11: ', mentions: /mapping/i },
  { file: 'template-syntax.yaml', prefix: ':7:9 prompt.user: ', mentions: /template syntax error: Unexpected end of input$/ },
  { file: 'alias-bomb.yaml', prefix: ':4:8: ', mentions: /resource exhaustion/ },
];

for (const c of BAD_FILES) {
  test(`bad job file ${c.file} → ${c.prefix.trim()}`, () => {
    const path = fixture(c.file);
    const lines = specErrorLines(() => loadJobFile(path));
    assert.equal(lines.length, 1, `expected exactly one problem, got:\n${lines.join('\n')}`);
    const [line] = lines as [string];
    assert.ok(line.startsWith(path + c.prefix), `expected prefix ${JSON.stringify(path + c.prefix)}, got ${JSON.stringify(line)}`);
    assert.match(line, c.mentions);
  });
}

test('every problem in a file is reported at once, one line each, sorted by position', () => {
  const path = fixture('many-errors.yaml');
  const lines = specErrorLines(() => loadJobFile(path));
  const prefixes = lines.map((l) => l.slice(path.length).split(': ')[0]);
  assert.deepEqual(prefixes, [':1:7 name', ':2:1 input.table', ':8:10 sampling.top_p', ':11:12 engine.retries', ':14:9 output.mode']);
  assert.match(lines[0] ?? '', /got "Quick_Start" \(string\)$/);
  assert.match(lines[2] ?? '', /expected a number above 0 and at most 1, got 1\.5 \(number\)$/);
  assert.match(lines[4] ?? '', /expected one of "error", "overwrite", "append" or "incremental", got "replace" \(string\)$/);
});

const BASE = `name: q
input: {format: json, path: a.jsonl}
model: m
engine: {endpoint: "http://127.0.0.1:1/v1"}
output: {path: out}
`;

test('engine.rate_limit: per-minute numbers above 0, at least one; a bad value is pointed at', () => {
  const withLimit = (rl: string): string =>
    `${BASE.replace('engine: {endpoint: "http://127.0.0.1:1/v1"}', `engine:\n  endpoint: "http://127.0.0.1:1/v1"\n  rate_limit: ${rl}\n`)}prompt: {user: "x"}\n`;
  const job = parseJobText(withLimit('{requests_per_minute: 240, tokens_per_minute: 90000}'), 'job.yaml');
  assert.deepEqual(job.engine.rate_limit, { requests_per_minute: 240, tokens_per_minute: 90_000 });
  assert.equal(parseJobText(`${BASE}prompt: {user: "x"}\n`, 'job.yaml').engine.rate_limit, undefined);
  assert.deepEqual(
    specErrorLines(() => parseJobText(withLimit('{requests_per_minute: 0}'), 'job.yaml')),
    ['job.yaml:6:37 engine.rate_limit.requests_per_minute: expected a number above 0, got 0 (number)'],
  );
  assert.match(
    specErrorLines(() => parseJobText(withLimit('{tokens_per_minute: "lots"}'), 'job.yaml'))[0] ?? '',
    /^job\.yaml:6:35 engine\.rate_limit\.tokens_per_minute: /,
  );
  assert.match(
    specErrorLines(() => parseJobText(withLimit('{}'), 'job.yaml'))[0] ?? '',
    /^job\.yaml:6:15 engine\.rate_limit: expected `requests_per_minute` or `tokens_per_minute` \(or both\), got \{\} \(mapping\)$/,
  );
  assert.match(
    specErrorLines(() => parseJobText(withLimit('{requests_per_minute: 60, rpm: 60}'), 'job.yaml'))[0] ?? '',
    /^job\.yaml:6:41 engine\.rate_limit\.rpm: unknown field/,
  );
});

test('an unquoted template in a flow list is pointed at with a "- " fix', () => {
  const lines = specErrorLines(() => parseJobText(`${BASE}prompt: {user: "x"}\nsampling:\n  stop: [{{ a }}]\n`, 'job.yaml'));
  assert.deepEqual(lines, ['job.yaml:8:10 sampling.stop[0]: a Jinja template must be a quoted string: write - "{{ a }}"']);
});

test('a YAML syntax error on a template line gets a quoting hint', () => {
  const lines = specErrorLines(() => parseJobText(`${BASE}prompt:\n  user: {{ a }} and {{ b }}\n`, 'job.yaml'));
  assert.equal(lines.length, 1);
  assert.match(
    lines[0] ?? '',
    /^job\.yaml:7:\d+: .*\(a Jinja template must be a quoted string: write user: "\{\{ a \}\} and \{\{ b \}\}"\)$/,
  );
});

test('an unclosed block is a template syntax error with a useful message', () => {
  const lines = specErrorLines(() => parseJobText(`${BASE}prompt:\n  user: "{% if a %}yes"\n`, 'job.yaml'));
  assert.deepEqual(lines, [
    'job.yaml:7:9 prompt.user: template syntax error: unexpected end of template (an unclosed {% if %}, {% for %}, {% macro %} or similar?)',
  ]);
});

test('empty files, top-level lists and unresolved aliases are reported with positions', () => {
  assert.match(specErrorLines(() => parseJobText('# only a comment\n', 'job.yaml'))[0] ?? '', /^job\.yaml:1:1: the job file is empty/);
  assert.match(
    specErrorLines(() => parseJobText('- a\n- b\n', 'job.yaml'))[0] ?? '',
    /^job\.yaml:1:1: expected a mapping of job settings .* got a list$/,
  );
  assert.deepEqual(
    specErrorLines(() => parseJobText(`${BASE}prompt: {user: *nope}\n`, 'job.yaml')),
    ['job.yaml:6:16: Unresolved alias (the anchor must be set before the alias): nope'],
  );
});

test('nested unknown fields point at the key, missing nested fields at the parent key', () => {
  const text = `${BASE.replace('engine: {endpoint: "http://127.0.0.1:1/v1"}', 'engine:\n  launch:\n    kind: vllm\n')}prompt: {user: "{{ q }}"}\nspark:\n  partitons: 4\n`;
  const lines = specErrorLines(() => parseJobText(text, 'job.yaml'));
  assert.deepEqual(lines, [
    'job.yaml:5:3 engine.launch.model: missing required field; expected a non-empty string',
    'job.yaml:11:3 spark.partitons: unknown field; did you mean "partitions"?',
  ]);
});

test('an unknown field with no near match lists the fields that exist', () => {
  const lines = specErrorLines(() => parseJobText(`${BASE}prompt: {user: "x"}\nlimits: {zzz: 1}\n`, 'job.yaml'));
  assert.deepEqual(lines, [
    'job.yaml:7:10 limits.zzz: unknown field; expected one of max_failed_fraction, min_rows_for_budget, max_completion_tokens, max_prompt_tokens, max_wall',
  ]);
});

test('CRLF line endings give the same positions', () => {
  const text = `${BASE}prompt:\n  user: {{ q }}\n`.replaceAll('\n', '\r\n');
  assert.deepEqual(
    specErrorLines(() => parseJobText(text, 'job.yaml')),
    ['job.yaml:7:9 prompt.user: a Jinja template must be a quoted string: write user: "{{ q }}"'],
  );
});

test('YAML 1.2 core schema: yes/no/on stay strings, so a boolean field rejects them', () => {
  const lines = specErrorLines(() =>
    parseJobText(`${BASE.replace('output: {path: out}', 'output: {path: out, include_request: yes}')}prompt: {user: "x"}\n`, 'job.yaml'),
  );
  assert.deepEqual(lines, ['job.yaml:5:38 output.include_request: expected true or false, got "yes" (string)']);
});

test('a missing file is a SpecError naming the path', () => {
  const lines = specErrorLines(() => loadJobFile(fixture('does-not-exist.yaml')));
  assert.match(lines[0] ?? '', /does-not-exist\.yaml: cannot read the job file: ENOENT/);
});

test('the estimate: section takes prices from 0 up; a bad one fails at its line and column, and so does an empty section', () => {
  const job = parseJobText(
    `${BASE}prompt: {user: "x"}\nestimate:\n  price_per_hour: 2.5\n  price_per_million_completion_tokens: 0\n`,
    'job.yaml',
  );
  assert.deepEqual(job.estimate, { price_per_hour: 2.5, price_per_million_completion_tokens: 0 });
  assert.equal(parseJobText(`${BASE}prompt: {user: "x"}\n`, 'job.yaml').estimate, undefined);
  const bad = specErrorLines(() =>
    parseJobText(
      `${BASE}prompt: {user: "x"}\nestimate:\n  price_per_hour: -1\n  price_per_million_prompt_tokens: "cheap"\n  price_per_gpu: 3\n`,
      'job.yaml',
    ),
  );
  assert.equal(bad.length, 3, bad.join('\n'));
  assert.match(bad[0] ?? '', /^job\.yaml:8:19 estimate\.price_per_hour: expected a number from 0 and up, got -1 \(number\)$/);
  assert.match(bad[1] ?? '', /^job\.yaml:9:36 estimate\.price_per_million_prompt_tokens: expected a number.*got "cheap" \(string\)$/);
  assert.match(bad[2] ?? '', /^job\.yaml:10:3 estimate\.price_per_gpu: unknown field/);
  const empty = specErrorLines(() => parseJobText(`${BASE}prompt: {user: "x"}\nestimate: {}\n`, 'job.yaml'));
  assert.match(empty[0] ?? '', /^job\.yaml:7:\d+ estimate: expected a price: `price_per_hour`/);
  // --set is checked the same way.
  const set = specErrorLines(() => parseJobText(`${BASE}prompt: {user: "x"}\n`, 'job.yaml', ['estimate.price_per_hour=-3']));
  assert.match(set[0] ?? '', /^--set estimate\.price_per_hour=-3: estimate\.price_per_hour: expected a number from 0 and up/);
});

test('sampling.extra: a mapping, kept as written; it may not repeat a sampling key, set the request itself or ask for n > 1', () => {
  const job = parseJobText(
    `${BASE}prompt: {user: "x"}\nsampling: { temperature: 0.2, extra: { mirostat: 2, dry_base: 1.75 } }\n`,
    'job.yaml',
  );
  assert.deepEqual(job.sampling.extra, { mirostat: 2, dry_base: 1.75 });
  const lines = specErrorLines(() =>
    parseJobText(
      `${BASE}prompt: {user: "x"}\nsampling:\n  temperature: 0.2\n  extra: { temperature: 0.3, model: x, n: 2, stream: true }\n`,
      'job.yaml',
    ),
  );
  assert.deepEqual(
    lines.map((l) => l.replace(/:\d+:\d+ /, ' ')),
    [
      'job.yaml sampling.extra.temperature: `temperature` is set in `sampling` already; keep one',
      'job.yaml sampling.extra.model: `model` is set by sparkinfer from the job; remove it',
      'job.yaml sampling.extra.n: `n` > 1 is not supported: sparkinfer writes one result per row',
      'job.yaml sampling.extra.stream: `stream` is not supported in batch jobs',
    ],
  );
  assert.match(
    specErrorLines(() => parseJobText(`${BASE}prompt: {user: "x"}\nsampling: { extra: [1] }\n`, 'job.yaml'))[0] ?? '',
    /sampling\.extra: expected/,
  );
});
