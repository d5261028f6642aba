/**
 * The function-length check (scripts/check/function-length.ts) on small fake sources: which
 * functions it sees, how it counts their lines and names them, and what it reports over the limit.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { functionSpans, offenders } from '../../scripts/check/function-length.ts';

/** A body of `n` lines in all, braces included. */
const body = (n: number): string => `{\n${'  x++;\n'.repeat(n - 2)}}`;

const FAKE = [
  `export function declared() ${body(5)}`,
  `const arrow = () => ${body(3)};`,
  `class C {\n  constructor() ${body(2)}\n  method() ${body(4)}\n  get value() { return 1; }\n}`,
  `items.map((x) => x + 1);`,
  `function outer() {\n  const inner = function () ${body(3)};\n}`,
  `declare function bodiless(): void;`,
].join('\n');

test('every function with a body is seen, named and counted from its first line to its last', () => {
  const spans = functionSpans('fake.ts', FAKE).map((s) => `${s.name}@${s.line}:${s.lines}`);
  assert.deepEqual(spans, [
    'declared@1:5',
    'arrow@6:3',
    'constructor@10:2',
    'method@12:4',
    'value@16:1',
    '(callback of items.map)@18:1',
    'outer@19:5',
    'inner@20:3',
  ]);
});

test('a tree: functions over the limit are listed with file and line; shorter ones are not', () => {
  const root = mkdtempSync(join(tmpdir(), 'fnlen-'));
  try {
    mkdirSync(join(root, 'a'));
    mkdirSync(join(root, 'worker'));
    writeFileSync(join(root, 'a', 'long.ts'), `// header\nexport function long() ${body(12)}\nfunction short() ${body(10)}\n`);
    writeFileSync(join(root, 'worker', 'pipeline.ts'), `export async function runPipeline() ${body(40)}\n`);
    writeFileSync(join(root, 'notes.md'), `function ignored() ${body(40)}\n`);
    const r = offenders(root, 10);
    assert.deepEqual(r.long, [
      { file: join('a', 'long.ts'), line: 2, name: 'long', lines: 12 },
      { file: join('worker', 'pipeline.ts'), line: 1, name: 'runPipeline', lines: 40 },
    ]);
    assert.equal(r.files, 2);
    assert.equal(r.functions, 3);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('src/ itself: no function over 80 lines, with no exception', () => {
  assert.deepEqual(offenders(join(import.meta.dirname, '..', '..', 'src'), 80).long, []);
});
