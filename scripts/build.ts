/**
 * Bundles what is shipped: the worker as one file (sent to executors with --files) and the CLI.
 * Node refuses to strip types under node_modules, so anything installed or shipped is plain JS.
 */
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const common = { bundle: true, platform: 'node', format: 'esm', target: 'node24', sourcemap: false, logLevel: 'warning', legalComments: 'none' } as const;
// Bundled CJS dependencies call require(); give the ESM bundle one.
const banner = { js: "import { createRequire as __sparkinferRequire } from 'node:module'; const require = __sparkinferRequire(import.meta.url);" };
await build({ ...common, banner, entryPoints: [join(root, 'src/worker/main.ts')], outfile: join(root, 'dist/sparkinfer-worker.mjs') });
await build({ ...common, banner, entryPoints: [join(root, 'src/cli/main.ts')], outfile: join(root, 'dist/sparkinfer.mjs') });
process.stderr.write('built dist/sparkinfer-worker.mjs and dist/sparkinfer.mjs\n');
