/**
 * The layer check: each folder of src/ lists the folders it may import (LAYERS, below, and the
 * table in docs/architecture.md "Layers"), and this fails on
 *   - an import from one folder into another that its list does not name (file, import, rule);
 *   - a folder-level loop, in the table or in the imports (a → b → a);
 *   - a folder of src/ that the table does not know;
 *   - a file of src/ over MAX_LINES lines.
 * No exceptions: change the code or, with a reason, the table. Run by scripts/lint.sh (and so by
 * `npm test`) as `node scripts/check/layers.ts [root]`; prints `layers: ok (…)` or the problems and
 * exits 1. `.` is the shared files at the top of src/ (errors.ts, checks.ts, …). Type-only imports
 * count: a type is still a dependency on the folder that owns it.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/** A folder's rule: the folders it may import, and why it sits where it does. */
export interface Layer {
  may: readonly string[];
  why: string;
}

/** Bottom to top. A folder may import the shared files (`.`) only where its list says so. */
export const LAYERS: Readonly<Record<string, Layer>> = {
  '.': { may: [], why: 'errors, exit codes, option checks, exact JSON, pid liveness: shared by every folder, import nothing' },
  jobfile: { may: ['.'], why: 'the job file (schema, loading, types) is the contract everyone reads: it sits at the bottom' },
  engine: { may: ['.'], why: 'the OpenAI-compatible client and what engines say; knows nothing of jobs or Spark' },
  response: { may: ['.'], why: 'the JSON Schema subset and reply validation, pure functions' },
  sim: { may: ['.'], why: 'the simulated and instant fake engines, standalone servers' },
  trace: { may: ['.'], why: 'OpenTelemetry traces: traceparent, sampling, settings, the SDK loaded on demand' },
  prompt: { may: ['.', 'jobfile'], why: 'renders the prompt templates of the job' },
  input: { may: ['.', 'jobfile'], why: "reads an input's columns for the pre-run checks" },
  rundir: { may: ['.', 'jobfile'], why: "the run directory's file formats and readers, shared by worker, job and report" },
  scheduler: { may: ['.', 'engine'], why: 'the in-flight window, fed by what the engine client hears' },
  launch: { may: ['.', 'engine', 'jobfile'], why: "starts local engines and waits on the engine's health" },
  validate: {
    may: ['.', 'jobfile', 'prompt', 'response'],
    why: 'the one validation step: the contract plus the rules that need their subject',
  },
  plan: {
    may: ['.', 'jobfile', 'prompt', 'response'],
    why: "what every target resolves alike: the run id, the resolved job's run block, the result columns",
  },
  install: { may: ['.', 'launch'], why: 'checkout versus installed package, over the cache paths of launch' },
  worker: {
    may: ['.', 'engine', 'jobfile', 'prompt', 'response', 'rundir', 'scheduler', 'trace'],
    why: 'the executor side: one bundle with no Spark, Kubernetes, launcher or CLI code',
  },
  report: { may: ['.', 'rundir'], why: 'renders only, from the run directory' },
  spark: { may: ['.', 'install', 'jobfile', 'launch', 'rundir'], why: 'spark-submit, progress, storage confs, the JVM archive' },
  k8s: { may: ['.', 'jobfile', 'plan', 'prompt', 'rundir', 'spark', 'trace', 'validate'], why: 'render, submit and watch on Kubernetes' },
  job: {
    may: [
      '.',
      'engine',
      'input',
      'install',
      'jobfile',
      'launch',
      'plan',
      'prompt',
      'report',
      'rundir',
      'scheduler',
      'sim',
      'spark',
      'trace',
      'validate',
    ],
    why: 'one run end to end: orchestrates every layer below',
  },
  cli: {
    may: ['.', 'install', 'job', 'jobfile', 'k8s', 'launch', 'plan', 'report', 'rundir'],
    why: 'commander wiring and what the commands print',
  },
};

/** A file of src/ longer than this fails the check. */
export const MAX_LINES = 450;

// `import … from './x.ts'`, `export … from '../y.ts'`, `import './z.ts'` and `import('./w.ts')`.
const SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(?\s*)['"](\.{1,2}\/[^'"]+)['"]/g;

function tsFiles(dir: string): string[] {
  return readdirSync(dir)
    .sort()
    .flatMap((name) => {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) return tsFiles(p);
      return p.endsWith('.ts') ? [p] : [];
    });
}

/** `.` for a file at the top of root, else the first folder under root. */
function folderOf(root: string, file: string): string {
  const parts = relative(root, file).split(sep);
  return parts.length === 1 ? '.' : (parts[0] as string);
}

/** Folder-level loops in a graph: each as `a → b → a`, found once. */
function loops(edges: ReadonlyMap<string, ReadonlySet<string>>): string[] {
  const found: string[] = [];
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (a: string): void => {
    state.set(a, 'open');
    stack.push(a);
    for (const b of [...(edges.get(a) ?? [])].sort()) {
      if (state.get(b) === 'open') found.push([...stack.slice(stack.indexOf(b)), b].join(' → '));
      else if (state.get(b) === undefined) visit(b);
    }
    stack.pop();
    state.set(a, 'done');
  };
  for (const a of [...edges.keys()].sort()) if (state.get(a) === undefined) visit(a);
  return found;
}

export interface LayerReport {
  problems: string[];
  files: number;
  /** Imports between two different folders, all allowed when `problems` is empty. */
  crossImports: number;
}

/** Checks the tree under `root` against `layers`; `maxLines` bounds a file's length. */
export function checkLayers(root: string, layers: Readonly<Record<string, Layer>> = LAYERS, maxLines = MAX_LINES): LayerReport {
  const problems: string[] = [];
  const rules = new Map<string, ReadonlySet<string>>();
  for (const [folder, layer] of Object.entries(layers)) {
    for (const m of layer.may) if (!(m in layers)) problems.push(`layer table: ${folder} may import ${m}, which the table does not know`);
    rules.set(folder, new Set(layer.may.filter((m) => m !== folder)));
  }
  for (const l of loops(rules)) problems.push(`layer table: a loop of folders that may import each other: ${l}`);
  const files = tsFiles(root);
  const actual = new Map<string, Set<string>>();
  let crossImports = 0;
  for (const file of files) {
    const rel = relative(root, file);
    const text = readFileSync(file, 'utf8');
    const lines = text.split('\n').length - (text.endsWith('\n') ? 1 : 0);
    if (lines > maxLines) problems.push(`${rel}: ${lines} lines, over the limit of ${maxLines}: split it by responsibility`);
    const from = folderOf(root, file);
    const layer = layers[from];
    if (layer === undefined) {
      problems.push(`${rel}: folder ${from}/ is not in the layer table (scripts/check/layers.ts LAYERS): add it with what it may import`);
      continue;
    }
    const code = text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
    for (const m of code.matchAll(SPECIFIER)) {
      const target = resolve(dirname(file), m[1] as string);
      if (relative(root, target).startsWith('..')) continue;
      const to = folderOf(root, target);
      if (to === from) continue;
      crossImports++;
      if (!actual.has(from)) actual.set(from, new Set());
      actual.get(from)?.add(to);
      if (!layer.may.includes(to))
        problems.push(
          `${rel}: imports ${m[1]} (${to === '.' ? 'the shared files of src/' : `${to}/`}), but ${from === '.' ? 'the shared files' : `${from}/`} may import only ${layer.may.length > 0 ? layer.may.join(', ') : 'nothing'} (${layer.why})`,
        );
    }
  }
  for (const l of loops(actual)) problems.push(`imports: a loop of folders: ${l}`);
  return { problems, files: files.length, crossImports };
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const root = resolve(process.argv[2] ?? join(import.meta.dirname, '..', '..', 'src'));
  const r = checkLayers(root);
  if (r.problems.length > 0) {
    process.stderr.write(
      `layers: ${r.problems.length} problem(s) in ${relative(process.cwd(), root) || '.'} (rules: scripts/check/layers.ts, docs/architecture.md "Layers"):\n`,
    );
    for (const p of r.problems) process.stderr.write(`  ${p}\n`);
    process.exit(1);
  }
  process.stdout.write(
    `layers: ok (${r.files} files, ${r.crossImports} imports between folders, all in the layer table; none over ${MAX_LINES} lines)\n`,
  );
}
