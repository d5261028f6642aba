/**
 * Writes python/sparkinfer/contract.py from scripts/lib/contract.ts (the job schema's formats, units,
 * driver defaults and failure-budget examples). Run it after changing the job schema:
 *   node scripts/gen-contract.ts            write the file
 *   node scripts/gen-contract.ts --check    exit 1 when the file is out of date
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { contractPython } from './lib/contract.ts';

const file = join(import.meta.dirname, '..', 'python', 'sparkinfer', 'contract.py');
const want = contractPython();
if (process.argv.includes('--check')) {
  let have = '';
  try {
    have = readFileSync(file, 'utf8');
  } catch {
    /* missing: out of date */
  }
  if (have !== want) {
    process.stderr.write(`${file} is out of date with scripts/lib/contract.ts; run: node scripts/gen-contract.ts\n`);
    process.exit(1);
  }
} else {
  writeFileSync(file, want);
  process.stdout.write(`wrote ${file}\n`);
}
