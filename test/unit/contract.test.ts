/**
 * The job contract the Python driver reads (python/sparkinfer/contract.py) is exactly what the
 * TypeScript schema makes (scripts/lib/contract.ts); test/python/test_units.py checks that the driver
 * applies it.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { contractPython, driverContract } from '../../scripts/lib/contract.ts';
import { InputFormat } from '../../src/jobfile/schema.ts';

const ROOT = join(import.meta.dirname, '..', '..');

test('python/sparkinfer/contract.py is what scripts/lib/contract.ts makes (else run: node scripts/gen-contract.ts)', () => {
  assert.equal(readFileSync(join(ROOT, 'python', 'sparkinfer', 'contract.py'), 'utf8'), contractPython());
});

test('the contract follows the schema: a changed default shows up in it', () => {
  const c = driverContract();
  assert.equal(c.defaults['limits.max_failed_fraction'], 0.01);
  assert.equal(c.defaults['engine.startup_timeout'], 600_000);
  assert.deepEqual(c.input_formats, InputFormat.options);
  const budget = c.failure_budget_examples;
  assert.ok(budget.some((e) => e.exceeded) && budget.some((e) => !e.exceeded));
  // The edge the driver and the CLI must agree on: exactly at the fraction is not over it.
  assert.ok(budget.some((e) => e.finished === 1000 && e.failed === 10 && e.max_failed_fraction === 0.01 && !e.exceeded));
  assert.ok(budget.some((e) => e.finished === 1000 && e.failed === 11 && e.max_failed_fraction === 0.01 && e.exceeded));
});
