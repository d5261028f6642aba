/**
 * The layer check (scripts/check/layers.ts) on small fake trees: an import its table does not
 * allow, a loop, an unknown folder and a long file each fail it, naming the file, the import and
 * the rule; a tree that keeps to its table passes. And src/ itself keeps to the real table, which
 * docs/architecture.md shows.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { checkLayers, type Layer, LAYERS } from '../../scripts/check/layers.ts';

const ROOT = join(import.meta.dirname, '..', '..');

/** A fake src/ with the given files (path → text), removed after `fn`. */
function withTree(files: Record<string, string>, fn: (root: string) => void): void {
  const root = mkdtempSync(join(tmpdir(), 'layers-'));
  try {
    for (const [p, text] of Object.entries(files)) {
      mkdirSync(dirname(join(root, p)), { recursive: true });
      writeFileSync(join(root, p), text);
    }
    fn(root);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

const TABLE: Record<string, Layer> = {
  '.': { may: [], why: 'shared' },
  low: { may: ['.'], why: 'the bottom' },
  high: { may: ['.', 'low'], why: 'the top' },
};

test('a tree that keeps to its table passes', () => {
  withTree(
    {
      'errors.ts': 'export const E = 1;\n',
      'low/a.ts': "import { E } from '../errors.ts';\nexport const A = E;\n",
      'high/b.ts': "import { A } from '../low/a.ts';\nimport type { X } from './c.ts';\nexport const B = A;\n",
      'high/c.ts': 'export type X = number;\n',
    },
    (root) => {
      const r = checkLayers(root, TABLE);
      assert.deepEqual(r.problems, []);
      assert.equal(r.files, 4);
      assert.equal(r.crossImports, 2);
    },
  );
});

test('an import against the table fails, naming the file, the import and the rule', () => {
  withTree(
    {
      'low/a.ts': "import type { B } from '../high/b.ts';\nexport const A = 1;\n",
      'high/b.ts': 'export type B = number;\n',
    },
    (root) => {
      const r = checkLayers(root, TABLE);
      assert.equal(r.problems.length, 1);
      assert.match(r.problems[0] ?? '', /^low\/a\.ts: imports \.\.\/high\/b\.ts \(high\/\), but low\/ may import only \. \(the bottom\)$/);
    },
  );
});

test('a loop of folders fails, in the imports and in the table', () => {
  const loose: Record<string, Layer> = { '.': { may: [], why: 's' }, a: { may: ['b'], why: 'x' }, b: { may: ['a'], why: 'y' } };
  withTree({ 'a/x.ts': "import '../b/y.ts';\n", 'b/y.ts': "import '../a/x.ts';\n" }, (root) => {
    const r = checkLayers(root, loose);
    assert.ok(r.problems.includes('layer table: a loop of folders that may import each other: a → b → a'), r.problems.join('\n'));
    assert.ok(r.problems.includes('imports: a loop of folders: a → b → a'), r.problems.join('\n'));
  });
});

test('a folder missing from the table, and a file over the line limit, fail', () => {
  withTree({ 'new/x.ts': 'export {};\n', 'low/long.ts': 'export const a = 1;\n'.repeat(12) }, (root) => {
    const r = checkLayers(root, TABLE, 10);
    assert.ok(
      r.problems.some((p) => p.startsWith('new/x.ts: folder new/ is not in the layer table')),
      r.problems.join('\n'),
    );
    assert.ok(r.problems.includes('low/long.ts: 12 lines, over the limit of 10: split it by responsibility'), r.problems.join('\n'));
  });
});

test('the command exits 1 on a tree against the table, and src/ keeps to the real one', () => {
  withTree({ 'errors.ts': "import './jobfile/x.ts';\n", 'jobfile/x.ts': 'export {};\n' }, (root) => {
    const r = spawnSync(process.execPath, [join(ROOT, 'scripts', 'check', 'layers.ts'), root], { encoding: 'utf8' });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /errors\.ts: imports \.\/jobfile\/x\.ts \(jobfile\/\), but the shared files may import only nothing/);
  });
  assert.deepEqual(checkLayers(join(ROOT, 'src'), LAYERS).problems, []);
});

test("docs/architecture.md's layer table says what the checker's table says", () => {
  const doc = readFileSync(join(ROOT, 'docs', 'architecture.md'), 'utf8');
  const start = doc.indexOf('**Layers and what each folder may import.**');
  const section = doc.slice(start, doc.indexOf('\n## ', start));
  const documented: Record<string, string[]> = {};
  for (const m of section.matchAll(/^\| `([a-z0-9.]+)` \| ([^|]+) \|/gm)) {
    const may = (m[2] as string).trim();
    documented[m[1] as string] = may === 'nothing' ? [] : may.split(', ').map((s) => s.replace(/`/g, ''));
  }
  const expected = Object.fromEntries(Object.entries(LAYERS).map(([k, v]) => [k, [...v.may]]));
  assert.deepEqual(documented, expected);
});
