/**
 * The Python driver's error codes and exit codes (python/sparkinfer/error_codes.py) are exactly
 * what the TypeScript list makes (src/errors.ts, src/exit-codes.ts, via
 * scripts/lib/error-codes-py.ts), and every error class carries one code of that list.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ERROR_CODES_PY, errorCodesPython } from '../../scripts/lib/error-codes-py.ts';
import { BadArgumentError, ERROR_CODES, InputError, RuntimeFailure, SpecError } from '../../src/errors.ts';
import { EXIT, exitCodeFor, exitCodeOfCode } from '../../src/exit-codes.ts';

const ROOT = join(import.meta.dirname, '..', '..');

test('python/sparkinfer/error_codes.py is what src/errors.ts and src/exit-codes.ts make (else run: node scripts/gen-contract.ts)', () => {
  assert.equal(readFileSync(join(ROOT, ERROR_CODES_PY), 'utf8'), errorCodesPython());
});

test('the generated list holds every code with its exit code, and the exit table', () => {
  const py = errorCodesPython();
  for (const code of ERROR_CODES) {
    assert.ok(py.includes(`    '${code}': ${exitCodeOfCode(code)},`), code);
    assert.ok(py.includes(`\n${code} = '${code}'\n`), code);
  }
  assert.ok(py.includes(`EXIT_UNUSABLE = ${EXIT.UNUSABLE}\n`));
  assert.equal(exitCodeOfCode('E_SPEC'), 2);
  assert.equal(exitCodeOfCode('E_INPUT'), 2);
  assert.equal(exitCodeOfCode('E_HTTP_5XX'), 1);
});

test('each error class has one code from the closed list; a programmer error is not a spec error', () => {
  for (const [Class, code] of [
    [SpecError, 'E_SPEC'],
    [InputError, 'E_INPUT'],
    [RuntimeFailure, 'E_RUNTIME'],
    [BadArgumentError, 'E_RUNTIME'],
  ] as const) {
    const e = new Class('x');
    assert.equal(e.code, code);
    assert.ok(ERROR_CODES.includes(e.code));
    assert.equal(e.name, Class.name);
  }
  assert.equal(exitCodeFor(new BadArgumentError('x')), EXIT.RUNTIME);
  assert.ok(!(new BadArgumentError('x') instanceof SpecError));
});
