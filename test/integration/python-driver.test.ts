/**
 * The PySpark driver's own suite (python/sparkinfer, test/python): unit tests without Spark and
 * driver tests on one real local[2] session, run through the project venv's unittest.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { ROOT } from '../helpers/cli.ts';

test('python driver suite (unittest discover test/python)', { timeout: 900_000 }, () => {
  const r = spawnSync(join(ROOT, '.venv/bin/python'), ['-m', 'unittest', 'discover', '-s', 'test/python', '-p', 'test_*.py'], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, SPARKINFER_NODE: process.execPath },
    maxBuffer: 64 * 1024 * 1024,
  });
  const tail = (r.stderr ?? '').split('\n').slice(-40).join('\n');
  assert.equal(r.status, 0, tail);
  assert.match(r.stderr ?? '', /\nOK/, tail);
  const ran = /Ran (\d+) tests?/.exec(r.stderr ?? '');
  assert.ok(ran !== null && Number(ran[1]) >= 40, `ran ${ran?.[1] ?? 0} python tests`);
});
