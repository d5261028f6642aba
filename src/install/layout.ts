/**
 * Where sparkinfer finds its own pieces, in a git checkout and in an installed npm package alike:
 * the package folder (the one with sparkinfer's package.json), the bundled worker, the Python
 * driver, the pyspark venv and the version. The layout and the venv rule: docs/setup.md,
 * "Checkout and installed package".
 *
 * One rule tells the two apart, the same one bin/sparkinfer and scripts/setup.sh use: a checkout
 * has the TypeScript sources (`src/cli/main.ts`); an installed package has only the bundle.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cacheDir } from '../launch/paths.ts';
import { RuntimeFailure } from '../errors.ts';

/** The pyspark that setup installs; keep in sync with `PYSPARK_VERSION` in scripts/setup.sh (a test checks it). */
export const PYSPARK_VERSION = '4.0.1';

type Env = Readonly<Record<string, string | undefined>>;

function isSparkinferPackage(dir: string): boolean {
  try {
    return (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: unknown }).name === 'sparkinfer';
  } catch {
    return false;
  }
}

let root: string | undefined;

/**
 * The package folder: the nearest folder above this module holding sparkinfer's package.json
 * (`<root>/src/install/` in a checkout, `<root>/dist/` in the bundle).
 */
export function packageRoot(): string {
  if (root !== undefined) return root;
  const here = dirname(fileURLToPath(import.meta.url));
  for (let dir = here; ; dir = dirname(dir)) {
    if (isSparkinferPackage(dir)) return (root = dir);
    if (dirname(dir) === dir) break;
  }
  throw new RuntimeFailure(`sparkinfer's package.json was not found in any folder above ${here}; reinstall sparkinfer`);
}

/** A git checkout (TypeScript sources present) rather than an installed package. */
export function isCheckout(pkg: string = packageRoot()): boolean {
  return existsSync(join(pkg, 'src', 'cli', 'main.ts'));
}

/** The version in package.json (`sparkinfer --version`). */
export function packageVersion(pkg: string = packageRoot()): string {
  const v = (JSON.parse(readFileSync(join(pkg, 'package.json'), 'utf8')) as { version?: unknown }).version;
  return typeof v === 'string' ? v : 'unknown';
}

/** The bundled worker that spark-submit ships to executors (`--files`). */
export function workerBundlePath(pkg: string = packageRoot()): string {
  return join(pkg, 'dist', 'sparkinfer-worker.mjs');
}

/** The PySpark driver script spark-submit runs. */
export function driverScript(pkg: string = packageRoot()): string {
  return join(pkg, 'python', 'sparkinfer', 'driver.py');
}

/**
 * The pyspark venv: `<checkout>/.venv` in a checkout (contributors, `bash scripts/setup.sh`), and
 * `<cache>/venvs/pyspark-<version>` for an installed package (`sparkinfer setup`), so that nothing
 * is ever written into the package folder.
 */
export function venvDir(pkg: string = packageRoot(), env: Env = process.env): string {
  return isCheckout(pkg) ? join(pkg, '.venv') : join(cacheDir(env), 'venvs', `pyspark-${PYSPARK_VERSION}`);
}

/** The setup script (`sparkinfer setup`), shipped in the package. */
export function setupScript(pkg: string = packageRoot()): string {
  return join(pkg, 'scripts', 'setup.sh');
}
