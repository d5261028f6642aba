/** src/install/layout.ts: the package folder, checkout vs installed package, and where the venv is. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  isCheckout,
  packageRoot,
  packageVersion,
  PYSPARK_VERSION,
  venvDir,
  workerBundlePath,
  driverScript,
} from '../../src/install/layout.ts';
import { ROOT } from '../helpers/cli.ts';
import { tempDir } from '../helpers/tmp.ts';

test('the package folder of the sources is the checkout, with its version and its .venv', () => {
  assert.equal(packageRoot(), ROOT);
  assert.ok(isCheckout());
  assert.equal(packageVersion(), (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version);
  assert.equal(venvDir(), join(ROOT, '.venv'));
  assert.equal(workerBundlePath(), join(ROOT, 'dist', 'sparkinfer-worker.mjs'));
  assert.equal(driverScript(), join(ROOT, 'python', 'sparkinfer', 'driver.py'));
});

test('an installed package (no src/) keeps its venv in the cache, per pyspark version', () => {
  const pkg = tempDir('layout');
  writeFileSync(join(pkg, 'package.json'), '{"name":"sparkinfer","version":"9.9.9"}');
  assert.equal(isCheckout(pkg), false);
  assert.equal(packageVersion(pkg), '9.9.9');
  assert.equal(venvDir(pkg, { SPARKINFER_CACHE: '/c' }), `/c/venvs/pyspark-${PYSPARK_VERSION}`);
  mkdirSync(join(pkg, 'src', 'cli'), { recursive: true });
  writeFileSync(join(pkg, 'src', 'cli', 'main.ts'), '');
  assert.equal(venvDir(pkg, { SPARKINFER_CACHE: '/c' }), join(pkg, '.venv'));
});

test('setup.sh installs the pyspark version that layout.ts looks for', () => {
  const setup = readFileSync(join(ROOT, 'scripts', 'setup.sh'), 'utf8');
  assert.equal(/^PYSPARK_VERSION=(\S+)/m.exec(setup)?.[1], PYSPARK_VERSION);
});
