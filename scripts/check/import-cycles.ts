/**
 * Fails when a file under src/ imports itself through a chain of relative imports (type-only
 * imports included: a cycle of types is still two files that each need the other to be read).
 * Run by `npm test` (scripts/test.sh) as `node scripts/check/import-cycles.ts [root]`; prints each
 * cycle as `a.ts → b.ts → a.ts` and exits 1, or prints `import cycles: none (N files)`.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const root = resolve(process.argv[2] ?? join(import.meta.dirname, '..', '..', 'src'));

function tsFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return tsFiles(p);
    return p.endsWith('.ts') ? [p] : [];
  });
}

// `import … from './x.ts'`, `export … from '../y.ts'`, `import './z.ts'` and `import('./w.ts')`.
const SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(?\s*)['"](\.{1,2}\/[^'"]+)['"]/g;

function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8')
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .replace(/^\s*\/\/.*$/gm, '');
  return [...text.matchAll(SPECIFIER)].map((m) => resolve(dirname(file), m[1] as string)).filter((p) => p.startsWith(root));
}

const files = tsFiles(root);
const graph = new Map(files.map((f) => [f, importsOf(f)]));
const cycles: string[] = [];
const state = new Map<string, 'open' | 'done'>();
const stack: string[] = [];

function visit(f: string): void {
  state.set(f, 'open');
  stack.push(f);
  for (const g of graph.get(f) ?? []) {
    if (!graph.has(g)) continue;
    if (state.get(g) === 'open') {
      const cycle = [...stack.slice(stack.indexOf(g)), g].map((p) => relative(root, p));
      cycles.push(cycle.join(' → '));
    } else if (state.get(g) === undefined) visit(g);
  }
  stack.pop();
  state.set(f, 'done');
}

for (const f of files) if (state.get(f) === undefined) visit(f);
if (cycles.length > 0) {
  process.stderr.write(`import cycles in ${relative(process.cwd(), root) || '.'}:\n${cycles.map((c) => `  ${c}\n`).join('')}`);
  process.exit(1);
}
process.stdout.write(`import cycles: none (${files.length} files)\n`);
