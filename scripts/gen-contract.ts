/**
 * Writes the Python driver's generated modules, so that the two languages cannot drift:
 *   - python/sparkinfer/contract.py from scripts/lib/contract.ts (the job schema's formats, units,
 *     driver defaults and failure-budget examples);
 *   - python/sparkinfer/error_codes.py from src/errors.ts and src/exit-codes.ts (the closed list of
 *     error codes, the exit codes; scripts/lib/error-codes-py.ts).
 * Run it after changing the job schema or the error codes:
 *   node scripts/gen-contract.ts            write the files
 *   node scripts/gen-contract.ts --check    exit 1 when a file is out of date
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { contractPython } from './lib/contract.ts';
import { ERROR_CODES_PY, errorCodesPython } from './lib/error-codes-py.ts';

const root = join(import.meta.dirname, '..');
const files: Array<{ path: string; from: string; text: string }> = [
  { path: 'python/sparkinfer/contract.py', from: 'scripts/lib/contract.ts', text: contractPython() },
  { path: ERROR_CODES_PY, from: 'src/errors.ts and src/exit-codes.ts', text: errorCodesPython() },
];
const check = process.argv.includes('--check');
let stale = false;
for (const f of files) {
  const file = join(root, f.path);
  if (check) {
    let have = '';
    try {
      have = readFileSync(file, 'utf8');
    } catch {
      /* missing: out of date */
    }
    if (have !== f.text) {
      process.stderr.write(`${file} is out of date with ${f.from}; run: node scripts/gen-contract.ts\n`);
      stale = true;
    }
  } else {
    writeFileSync(file, f.text);
    process.stdout.write(`wrote ${file}\n`);
  }
}
if (stale) process.exit(1);
