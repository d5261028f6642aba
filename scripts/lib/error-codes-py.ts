/**
 * What python/sparkinfer/error_codes.py holds: the closed list of error codes (src/errors.ts), the
 * exit codes (src/exit-codes.ts) and each code's exit code, so the Python driver's errors
 * (python/sparkinfer/errors.py) cannot drift from the CLI's. scripts/gen-contract.ts writes it,
 * and with `--check` (scripts/lint.sh) fails when the file is not what this module makes.
 */
import { ERROR_CODES } from '../../src/errors.ts';
import { EXIT, exitCodeOfCode } from '../../src/exit-codes.ts';

export const ERROR_CODES_PY = 'python/sparkinfer/error_codes.py';

export function errorCodesPython(): string {
  const lines = [
    '"""The error codes and exit codes the driver shares with the CLI. Generated from src/errors.ts and',
    'src/exit-codes.ts by `node scripts/gen-contract.ts`; do not edit (scripts/lint.sh fails when it drifts)."""',
    '',
    '# The closed list of codes (docs/errors.md), in the order of ERROR_CODES in src/errors.ts.',
    'ERROR_CODES = (',
    ...ERROR_CODES.map((c) => `    '${c}',`),
    ')',
    '',
    '# The exit codes (src/exit-codes.ts EXIT; docs/architecture.md, "Exit codes").',
    ...Object.entries(EXIT).map(([name, n]) => `EXIT_${name} = ${n}`),
    '',
    '# The exit code of a failure with each code (src/exit-codes.ts exitCodeOfCode).',
    'EXIT_CODE_OF = {',
    ...ERROR_CODES.map((c) => `    '${c}': ${exitCodeOfCode(c)},`),
    '}',
    '',
    ...ERROR_CODES.map((c) => `${c} = '${c}'`),
    '',
  ];
  return lines.join('\n');
}
