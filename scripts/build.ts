/**
 * Bundles what is shipped: the worker as one file (sent to executors with --files) and the CLI.
 * Node refuses to strip types under node_modules, so anything installed or shipped is plain JS.
 */
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { existsSync } from 'node:fs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const common = {
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node24',
  sourcemap: false,
  logLevel: 'warning',
  legalComments: 'none',
} as const;
// Bundled CJS dependencies call require(); give the ESM bundle one.
const banner = {
  js: "import { createRequire as __sparkinferRequire } from 'node:module'; const require = __sparkinferRequire(import.meta.url);",
};
await build({ ...common, banner, entryPoints: [join(root, 'src/worker/main.ts')], outfile: join(root, 'dist/sparkinfer-worker.mjs') });
// The run report's PNG rasterizer has a native binary: loaded where it is installed (a checkout), else
// the run writes report.html only (src/report/run-report.ts).
await build({
  ...common,
  banner,
  external: ['@resvg/resvg-js'],
  entryPoints: [join(root, 'src/cli/main.ts')],
  outfile: join(root, 'dist/sparkinfer.mjs'),
});
// The GPU benchmark's driver (bench/gpu), carried to a machine that has Node but no node_modules;
// only in a checkout: the image's build context (deploy/Dockerfile.dockerignore) has no bench/.
const gpuBench = join(root, 'bench/gpu/gpu-bench.ts');
if (existsSync(gpuBench)) await build({ ...common, banner, entryPoints: [gpuBench], outfile: join(root, 'dist/gpu-bench.mjs') });
process.stderr.write(`built dist/sparkinfer-worker.mjs, dist/sparkinfer.mjs${existsSync(gpuBench) ? ' and dist/gpu-bench.mjs' : ''}\n`);
