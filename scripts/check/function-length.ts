/**
 * Fails when a function in src/ is longer than the limit (80 lines): every function declaration,
 * function expression, arrow function, method, constructor and accessor with a body, counted from
 * its first line to its last, nested functions each on their own (a nested one counts inside its
 * parent too). Run by scripts/lint.sh as `node scripts/check/function-length.ts [root]`; prints
 * each offender as `file:line name (N lines)` and exits 1, or prints `function length: none over
 * 80 (N functions in M files)`. There is no allow-list: split a long function instead.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import ts from 'typescript';

export const LIMIT = 80;

export interface FunctionSpan {
  file: string;
  line: number;
  name: string;
  lines: number;
}

/** The name a reader would search for: the declaration's own, else the variable, property or call it sits in. */
function nameOf(node: ts.FunctionLikeDeclaration, sf: ts.SourceFile): string {
  if (node.name !== undefined) return node.name.getText(sf);
  if (ts.isConstructorDeclaration(node)) return 'constructor';
  const parent = node.parent;
  if (ts.isVariableDeclaration(parent) || ts.isPropertyAssignment(parent) || ts.isPropertyDeclaration(parent)) {
    return parent.name.getText(sf);
  }
  if (ts.isCallExpression(parent)) return `(callback of ${parent.expression.getText(sf).slice(0, 40)})`;
  return '(anonymous)';
}

/** Every function with a body in one source text, with its length in lines. */
export function functionSpans(file: string, text: string): FunctionSpan[] {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const spans: FunctionSpan[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isFunctionLike(node) && 'body' in node && node.body !== undefined) {
      const fn = node as ts.FunctionLikeDeclaration;
      const first = sf.getLineAndCharacterOfPosition(fn.getStart(sf)).line;
      const last = sf.getLineAndCharacterOfPosition(fn.getEnd()).line;
      spans.push({ file, line: first + 1, name: nameOf(fn, sf), lines: last - first + 1 });
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return spans;
}

function tsFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return tsFiles(p);
    return p.endsWith('.ts') ? [p] : [];
  });
}

/** The functions over `limit` lines under `root`, files named relative to it. */
export function offenders(root: string, limit = LIMIT): { long: FunctionSpan[]; functions: number; files: number } {
  const files = tsFiles(root);
  const all = files.flatMap((f) => functionSpans(relative(root, f), readFileSync(f, 'utf8')));
  const long = all.filter((s) => s.lines > limit);
  return { long, functions: all.length, files: files.length };
}

if (import.meta.main) {
  const root = resolve(process.argv[2] ?? join(import.meta.dirname, '..', '..', 'src'));
  const { long, functions, files } = offenders(root);
  const where = relative(process.cwd(), root) || '.';
  if (long.length > 0) {
    const lines = long.map((s) => `  ${join(where, s.file)}:${s.line} ${s.name} (${s.lines} lines)\n`);
    process.stderr.write(`functions over ${LIMIT} lines in ${where} (split them into phases):\n${lines.join('')}`);
    process.exit(1);
  }
  process.stdout.write(`function length: none over ${LIMIT} (${functions} functions in ${files} files)\n`);
}
