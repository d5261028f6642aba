import { test } from 'node:test';
import assert from 'node:assert/strict';
import { evalGate, GateSyntaxError, parseGate } from '../../src/prompt/gate.ts';

const row = {
  body: 'hello',
  n: 3,
  check: { json: { answer: 'yes', score: 0.4 }, error_code: null, finish_reason: 'stop' },
  draft: null,
};
const when = (src: string): boolean => evalGate(parseGate(src), row);

test('gates compare paths with string, number, bool and null literals', () => {
  assert.equal(when("check.json.answer == 'yes'"), true);
  assert.equal(when('check.json.answer == "no"'), false);
  assert.equal(when("check.json.answer != 'no'"), true);
  assert.equal(when('check.json.score < 0.5'), true);
  assert.equal(when('check.json.score >= 0.5'), false);
  assert.equal(when('n > 2 and n <= 3'), true);
  assert.equal(when('n == -3'), false);
  assert.equal(when('true'), true);
  assert.equal(when('check.error_code == null'), true);
});

test('null tests, missing paths and paths through a null stage are null', () => {
  assert.equal(when('check.error_code is null'), true);
  assert.equal(when('check.error_code is not null'), false);
  assert.equal(when('draft is null'), true);
  assert.equal(when('draft.text is null'), true);
  assert.equal(when('check.json.missing is null'), true);
  assert.equal(when('nothing.at.all is not null'), false);
});

test('and, or, not and parentheses, with not binding tighter than and, and and tighter than or', () => {
  assert.equal(when("not check.json.answer == 'no'"), true);
  assert.equal(when("check.json.answer == 'no' or n == 3 and body == 'hello'"), true);
  assert.equal(when("(check.json.answer == 'no' or n == 3) and body == 'bye'"), false);
  assert.equal(when('not (n == 3)'), false);
});

test('ordering a number against a string (or null) is false, never an error', () => {
  assert.equal(when("n < 'a'"), false);
  assert.equal(when('draft.text > 1'), false);
  assert.equal(when("body < 'z'"), true);
});

test('a gate reports the names it reads, with their columns', () => {
  const g = parseGate("check.json.answer == 'yes' and body is not null");
  assert.deepEqual(
    g.paths.map((p) => [p.root, p.parts.join('.'), p.col]),
    [
      ['check', 'check.json.answer', 1],
      ['body', 'body', 32],
    ],
  );
});

test('bad syntax is a GateSyntaxError naming the column', () => {
  const cases: Array<[string, RegExp]> = [
    ["check.json.answer == 'yes", /unterminated string at column 22/],
    ['check.json.answer ==', /expected a value, got the end at column 21/],
    ['a == b c', /unexpected "c" at column 8/],
    ['a = b', /unexpected character "=" at column 3/],
    ['(a == b', /expected `\)` at column 8/],
    ['a is nul', /expected `null` after `is` at column 6/],
    ['a. == 1', /expected a field name after `.` at column 4/],
    ['and', /expected a value, got "and" at column 1/],
    ['x && y', /unexpected character "&" at column 3/],
  ];
  for (const [src, re] of cases) {
    assert.throws(
      () => parseGate(src),
      (err: unknown) => err instanceof GateSyntaxError && re.test(err.message),
      src,
    );
  }
});

test('a gate is data, never code: a path named like a JS global reads the row only', () => {
  assert.equal(evalGate(parseGate('constructor is null'), {}), true);
  assert.equal(evalGate(parseGate('process.env is null'), {}), true);
});
