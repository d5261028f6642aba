/**
 * Bundles what is shipped: the worker as one file (sent to executors with --files) and the CLI.
 * Node refuses to strip types under node_modules, so anything installed or shipped is plain JS.
 */
import { build, type Plugin } from 'esbuild';
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
// The OpenTelemetry SDK (src/trace/otel.ts), bundled apart and embedded in the bundles below as a
// `data:` URL that src/trace/otel-module.ts imports only for a traced run: parsing the SDK's code
// would add ~70 ms to every worker start, a string literal next to nothing. A data: module
// resolves only node: built-ins, so its require() is made from the working directory.
const otel = await build({
  ...common,
  minify: true,
  write: false,
  banner: { js: "import { createRequire as __otelRequire } from 'node:module'; const require = __otelRequire(process.cwd() + '/');" },
  entryPoints: [join(root, 'src/trace/otel.ts')],
});
const otelUrl = `data:text/javascript;base64,${Buffer.from(otel.outputFiles[0]?.text ?? '').toString('base64')}`;
const embedOtel: Plugin = {
  name: 'embed-otel',
  setup(b) {
    b.onLoad({ filter: /[\\/]src[\\/]trace[\\/]otel-module\.ts$/ }, () => ({
      loader: 'js',
      contents: `export const loadOtel = () => import(${JSON.stringify(otelUrl)});`,
    }));
  },
};
await build({
  ...common,
  banner,
  plugins: [embedOtel],
  entryPoints: [join(root, 'src/worker/main.ts')],
  outfile: join(root, 'dist/sparkinfer-worker.mjs'),
});
// The run report's PNG rasterizer has a native binary: loaded where it is installed (a checkout), else
// the run writes report.html only (src/report/run-report.ts).
await build({
  ...common,
  banner,
  external: ['@resvg/resvg-js'],
  plugins: [embedOtel],
  entryPoints: [join(root, 'src/cli/main.ts')],
  outfile: join(root, 'dist/sparkinfer.mjs'),
});
// The GPU benchmark's driver (bench/gpu), carried to a machine that has Node but no node_modules;
// only in a checkout: the image's build context (deploy/Dockerfile.dockerignore) has no bench/.
const gpuBench = join(root, 'bench/gpu/gpu-bench.ts');
if (existsSync(gpuBench)) await build({ ...common, banner, entryPoints: [gpuBench], outfile: join(root, 'dist/gpu-bench.mjs') });
process.stderr.write(`built dist/sparkinfer-worker.mjs, dist/sparkinfer.mjs${existsSync(gpuBench) ? ' and dist/gpu-bench.mjs' : ''}\n`);
