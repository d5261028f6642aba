/**
 * Reply checking for `response.format: json`: the validator of the supported subset (first error
 * with its JSON path) and the per-row outcome (json, E_LENGTH, E_PARSE_JSON, E_SCHEMA).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileValidator } from '../../src/response/validate.ts';
import { makeJsonReplyChecker } from '../../src/response/reply.ts';
import { parseJsonExact, stringifyJsonExact } from '../../src/json-exact.ts';
import { analyzeSchema, sparkTypeString } from '../../src/response/schema.ts';

const PERSON = {
  type: 'object',
  properties: {
    name: { type: 'string', minLength: 1, maxLength: 5 },
    age: { type: 'integer', minimum: 0, maximum: 150 },
    score: { type: 'number', exclusiveMinimum: 0 },
    mood: { enum: ['happy', 'sad'] },
    tags: { type: 'array', items: { type: 'string', pattern: '^[a-z]+$' }, maxItems: 2 },
    born: { type: 'string', format: 'date' },
    id: { type: 'string', format: 'uuid' },
    at: { type: 'string', format: 'date-time' },
    alias: { type: ['string', 'null'] },
    pet: { anyOf: [{ $ref: '#/$defs/Pet' }, { type: 'null' }] },
    one: {
      oneOf: [
        { type: 'string', maxLength: 3 },
        { type: 'string', pattern: '^a' },
      ],
    },
    counts: { type: 'object', additionalProperties: { type: 'integer' } },
  },
  required: ['name', 'age'],
  additionalProperties: false,
  $defs: { Pet: { type: 'object', properties: { kind: { const: 'cat' } }, required: ['kind'] } },
};
const validate = compileValidator(PERSON);

test('the test schema is in the supported subset', () => {
  const a = analyzeSchema(PERSON);
  assert.deepEqual(a.problems, []);
  assert.match(
    sparkTypeString(a.type as NonNullable<typeof a.type>),
    /^struct<name:string,age:bigint,score:double,mood:string,tags:array<string>,/,
  );
});

const GOOD: unknown[] = [
  { name: 'Ann', age: 31 },
  {
    name: 'Ann',
    age: 0,
    score: 0.5,
    mood: 'sad',
    tags: ['a', 'bc'],
    born: '2024-02-29',
    id: '123e4567-e89b-12d3-a456-426614174000',
    at: '2024-01-02T03:04:05.5+01:00',
    alias: null,
    pet: { kind: 'cat' },
    one: 'xyz',
    counts: { a: 1 },
  },
  { name: '😀😀😀😀😀', age: 150, pet: null, one: 'abcd' },
];
for (const [i, v] of GOOD.entries()) test(`valid value ${i} passes`, () => assert.equal(validate(v), undefined));

const BAD: Array<[unknown, string, RegExp]> = [
  [[], '$', /expected object, got array/],
  [{ age: 1 }, '$', /missing required property "name"/],
  [{ name: 'Ann', age: 1, extra: true }, '$.extra', /not allowed \(additionalProperties: false\)/],
  [{ name: 'Annabel', age: 1 }, '$.name', /at most 5 characters, got 7/],
  [{ name: '', age: 1 }, '$.name', /at least 1 characters/],
  [{ name: 'A', age: 'old' }, '$.age', /expected integer, got string "old"/],
  [{ name: 'A', age: 1.5 }, '$.age', /expected integer, got number 1.5/],
  [{ name: 'A', age: 151 }, '$.age', /<= 150/],
  [{ name: 'A', age: 1, score: 0 }, '$.score', /> 0/],
  [{ name: 'A', age: 1, mood: 'meh' }, '$.mood', /one of "happy", "sad", got string "meh"/],
  [{ name: 'A', age: 1, tags: ['ok', 'Bad'] }, '$.tags[1]', /does not match pattern/],
  [{ name: 'A', age: 1, tags: ['a', 'b', 'c'] }, '$.tags', /at most 2 items/],
  [{ name: 'A', age: 1, born: '2023-02-29' }, '$.born', /not a valid date/],
  [{ name: 'A', age: 1, id: 'nope' }, '$.id', /not a valid uuid/],
  [{ name: 'A', age: 1, at: '2024-01-02 25:00:00Z' }, '$.at', /not a valid date-time/],
  [{ name: 'A', age: 1, alias: 3 }, '$.alias', /expected string or null/],
  [{ name: 'A', age: 1, pet: { kind: 'dog' } }, '$.pet.kind', /expected "cat".*no anyOf branch fits/],
  [{ name: 'A', age: 1, one: 'abc' }, '$.one', /matches 2 branches of oneOf/],
  [{ name: 'A', age: 1, counts: { 'a b': 'x' } }, '$.counts["a b"]', /expected integer/],
];
for (const [v, path, msg] of BAD) {
  test(`invalid value at ${path}: ${msg.source}`, () => {
    const e = validate(v);
    assert.ok(e !== undefined, 'expected a violation');
    assert.equal(e.path, path);
    assert.match(e.message, msg);
  });
}

test('integers: BigInt within 64 bits passes, beyond fails; numbers must be finite', () => {
  const v = compileValidator({ type: 'object', properties: { n: { type: 'integer' }, d: { type: 'number' } } });
  assert.equal(v({ n: 9223372036854775807n }), undefined);
  assert.match(v({ n: 9223372036854775808n })?.message ?? '', /does not fit a 64-bit bigint/);
  assert.match(v({ d: Infinity })?.message ?? '', /out of range/);
  assert.equal(v({ d: 3 }), undefined, 'an integer is a number');
});

test('parseJsonExact keeps integers beyond 2^53 exact, and stringifyJsonExact writes them back', () => {
  const text = '{"big":12345678901234567890,"small":1,"f":1.5,"neg":-9007199254740993}';
  const v = parseJsonExact(text) as Record<string, unknown>;
  assert.equal(v.big, 12345678901234567890n);
  assert.equal(v.neg, -9007199254740993n);
  assert.equal(stringifyJsonExact(v), text);
});

const checker = makeJsonReplyChecker(PERSON);

test('a valid reply: json is the compact re-serialization (integral numbers without a fraction)', () => {
  assert.deepEqual(checker.check('{\n  "name": "Ann",\n  "age": 31.0\n}', 'stop'), { json: '{"name":"Ann","age":31}' });
});

test('E_LENGTH: the engine stopped at max_tokens and the JSON is incomplete', () => {
  const r = checker.check('{"name": "An', 'length');
  assert.equal(r.error_code, 'E_LENGTH');
  assert.equal(r.json, undefined);
});

test('E_PARSE_JSON: invalid JSON that was not cut, an empty reply, a null content', () => {
  for (const t of ['```json\n{"name":"A"}\n```', '', '   ', null]) {
    const r = checker.check(t, 'stop');
    assert.equal(r.error_code, 'E_PARSE_JSON', String(t));
    assert.match(r.error_message ?? '', /not valid JSON/);
  }
});

test('E_SCHEMA: parses but does not fit, with the first path; a complete object cut exactly at max_tokens still validates', () => {
  const r = checker.check('{"name":"A","age":-1}', 'stop');
  assert.equal(r.error_code, 'E_SCHEMA');
  assert.match(r.error_message ?? '', /at \$\.age: expected a number >= 0, got -1/);
  assert.deepEqual(checker.check('{"name":"A","age":1}', 'length'), { json: '{"name":"A","age":1}' });
});
