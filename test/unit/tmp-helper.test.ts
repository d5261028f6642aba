/**
 * test/helpers/tmp.ts, the one way tests make temporary folders: a test file's folders go when its
 * process exits, also after a failed test and a throwing `after` hook; SPARKINFER_KEEP_TMP=1 keeps them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { tempDir } from '../helpers/tmp.ts';

const FILE = `
  import { test, after } from 'node:test';
  import { writeFileSync } from 'node:fs';
  import { join } from 'node:path';
  import { tempDir } from ${JSON.stringify(new URL('../helpers/tmp.ts', import.meta.url).href)};
  writeFileSync(join(tempDir('top'), 'f'), 'made at the top of the file');
  after(() => { throw new Error('a hook that fails'); });
  test('a test that fails', () => {
    writeFileSync(join(tempDir('inner'), 'g'), 'made in a test');
    throw new Error('boom');
  });
`;

function runFile(root: string, env: Record<string, string> = {}): { status: number | null; stderr: string } {
  // A test file of its own, not one reporting to this runner.
  const parent = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'NODE_TEST_CONTEXT'));
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', FILE], {
    env: { ...parent, TMPDIR: root, ...env },
    encoding: 'utf8',
  });
  return { status: r.status, stderr: r.stderr };
}

test('tempDir: a test file leaves nothing in the temporary directory, even when a test and a hook fail', () => {
  const root = tempDir('tmp-helper');
  const r = runFile(root);
  assert.equal(r.status, 1, r.stderr);
  assert.deepEqual(readdirSync(root), []);
});

test('tempDir: SPARKINFER_KEEP_TMP=1 keeps the folders and names them', () => {
  const root = tempDir('tmp-helper');
  const r = runFile(root, { SPARKINFER_KEEP_TMP: '1' });
  assert.equal(r.status, 1, r.stderr);
  const kept = readdirSync(root).sort();
  assert.deepEqual(
    kept.map((n) => n.replace(/-[^-]+$/, '')),
    ['sparkinfer-inner', 'sparkinfer-top'],
  );
  for (const n of kept) assert.ok(r.stderr.includes(n), r.stderr);
});
