/**
 * Static analysis of prompt templates: which root variables (row columns) a template references.
 * The driver checks these against the input schema before any work, because @huggingface/jinja
 * renders a missing variable as an empty string: the strictness has to come from here.
 */
import { Template } from '@huggingface/jinja';
import { SpecError } from '../errors.ts';
import type { Job } from '../jobfile/schema.ts';

/**
 * Names the template runtime provides: Jinja's globals plus the ones @huggingface/jinja adds.
 * `loop`, `caller`, `varargs` and `kwargs` are not here: they are bound only where Jinja binds them.
 */
export const JINJA_BUILTINS: ReadonlySet<string> = new Set([
  'true',
  'false',
  'none',
  'True',
  'False',
  'None',
  'range',
  'namespace',
  'raise_exception',
  'strftime_now',
  'dict',
  'lipsum',
  'cycler',
  'joiner',
]);

/**
 * A parsed template: the library's AST root, seen structurally (its d.ts files use extensionless
 * relative imports that `nodenext` does not resolve, so the library's own types read as `any`).
 */
export interface ParsedTemplate {
  body: unknown;
}

/**
 * Parses a template once. Uses the library's own settings (`trim_blocks`, `lstrip_blocks`, and
 * one trailing newline dropped, like Jinja), so what we analyse is exactly what we render.
 * @throws SpecError naming `field` on a syntax error.
 */
export function parseTemplate(source: string, field: string): Template {
  try {
    return new Template(source);
  } catch (err) {
    // An unclosed block makes the parser run off the end and fail with a TypeError.
    const detail =
      err instanceof TypeError
        ? 'unexpected end of template (an unclosed {% if %}, {% for %}, {% macro %} or similar?)'
        : (err as Error).message.replace(/^Parser Error: /, '');
    throw new SpecError(`${field}: template syntax error: ${detail}`, { cause: err });
  }
}

// Structural views of the AST nodes we read. The library does not export its node classes.
interface Node {
  type: string;
}
type Any = Node & Record<string, unknown>;

const asNodes = (v: unknown): Node[] => (Array.isArray(v) ? (v as Node[]) : []);
const asNode = (v: unknown): Node | undefined =>
  typeof v === 'object' && v !== null && typeof (v as Node).type === 'string' ? (v as Node) : undefined;

class RootVariableWalker {
  readonly names: string[] = [];
  private readonly seen = new Set<string>();
  private readonly scopes: Set<string>[] = [new Set()];

  private isBound(name: string): boolean {
    return JINJA_BUILTINS.has(name) || this.scopes.some((s) => s.has(name));
  }

  private reference(name: string): void {
    if (this.isBound(name) || this.seen.has(name)) return;
    this.seen.add(name);
    this.names.push(name);
  }

  private bind(name: string): void {
    this.scopes[this.scopes.length - 1]?.add(name);
  }

  private inScope(names: Iterable<string>, fn: () => void): void {
    this.scopes.push(new Set(names));
    try {
      fn();
    } finally {
      this.scopes.pop();
    }
  }

  /** Names a `for` target or `set` target binds; member targets (`ns.x`) reference their object. */
  private targetNames(target: Node | undefined): string[] {
    if (target === undefined) return [];
    const t = target as Any;
    if (t.type === 'Identifier') return [String(t.value)];
    if (t.type === 'TupleLiteral' || t.type === 'ArrayLiteral') return asNodes(t.value).flatMap((n) => this.targetNames(n));
    this.expr(target);
    return [];
  }

  /** Parameter names of a macro or call block; default values are walked where they are written. */
  private params(list: unknown): string[] {
    const names: string[] = [];
    for (const p of asNodes(list)) {
      const a = p as Any;
      if (a.type === 'Identifier') names.push(String(a.value));
      else if (a.type === 'KeywordArgumentExpression') {
        this.expr(asNode(a.value));
        names.push(String((a.key as Any).value));
      }
    }
    return names;
  }

  block(list: unknown): void {
    for (const s of asNodes(list)) this.stmt(s);
  }

  private stmt(node: Node): void {
    const n = node as Any;
    switch (n.type) {
      case 'Program':
        this.block(n.body);
        return;
      case 'If':
        this.expr(asNode(n.test));
        this.block(n.body);
        this.block(n.alternate);
        return;
      case 'For': {
        const iterable = asNode(n.iterable) as Any | undefined;
        const select = iterable?.type === 'SelectExpression' ? iterable : undefined;
        this.expr(select !== undefined ? asNode(select.lhs) : iterable);
        this.inScope(['loop'], () => {
          for (const name of this.targetNames(asNode(n.loopvar))) this.bind(name);
          if (select !== undefined) this.expr(asNode(select.test));
          this.block(n.body);
        });
        this.block(n.defaultBlock);
        return;
      }
      case 'Set': {
        const value = asNode(n.value);
        if (value !== undefined) this.expr(value);
        else this.inScope([], () => this.block(n.body));
        for (const name of this.targetNames(asNode(n.assignee))) this.bind(name);
        return;
      }
      case 'Macro': {
        this.bind(String((n.name as Any).value));
        const names = this.params(n.args);
        this.inScope([...names, 'varargs', 'kwargs', 'caller'], () => this.block(n.body));
        return;
      }
      case 'CallStatement': {
        this.expr(asNode(n.call));
        const names = this.params(n.callerArgs);
        this.inScope([...names, 'varargs', 'kwargs'], () => this.block(n.body));
        return;
      }
      case 'FilterStatement':
        this.block(n.body);
        this.filter(asNode(n.filter));
        return;
      case 'Comment':
      case 'Break':
      case 'Continue':
        return;
      default:
        this.expr(node);
    }
  }

  /** A filter's name is not a variable; its call arguments may be. */
  private filter(f: Node | undefined): void {
    const n = f as Any | undefined;
    if (n?.type === 'CallExpression') for (const a of asNodes(n.args)) this.expr(a);
  }

  private expr(node: Node | undefined): void {
    if (node === undefined) return;
    const n = node as Any;
    switch (n.type) {
      case 'Identifier':
        this.reference(String(n.value));
        return;
      case 'StringLiteral':
      case 'IntegerLiteral':
      case 'FloatLiteral':
        return;
      case 'ArrayLiteral':
      case 'TupleLiteral':
        for (const e of asNodes(n.value)) this.expr(e);
        return;
      case 'ObjectLiteral':
        if (n.value instanceof Map)
          for (const [k, v] of n.value as Map<Node, Node>) {
            this.expr(k);
            this.expr(v);
          }
        return;
      case 'MemberExpression':
        this.expr(asNode(n.object));
        if (n.computed === true) this.expr(asNode(n.property));
        return;
      case 'CallExpression':
        this.expr(asNode(n.callee));
        for (const a of asNodes(n.args)) this.expr(a);
        return;
      case 'BinaryExpression':
        this.expr(asNode(n.left));
        this.expr(asNode(n.right));
        return;
      case 'UnaryExpression':
        this.expr(asNode(n.argument));
        return;
      case 'FilterExpression':
        this.expr(asNode(n.operand));
        this.filter(asNode(n.filter));
        return;
      case 'TestExpression':
        this.expr(asNode(n.operand));
        return;
      case 'SelectExpression':
        this.expr(asNode(n.lhs));
        this.expr(asNode(n.test));
        return;
      case 'Ternary':
        // Source order: `a if cond else b`.
        this.expr(asNode(n.trueExpr));
        this.expr(asNode(n.condition));
        this.expr(asNode(n.falseExpr));
        return;
      case 'SliceExpression':
        this.expr(asNode(n.start));
        this.expr(asNode(n.stop));
        this.expr(asNode(n.step));
        return;
      case 'KeywordArgumentExpression':
        this.expr(asNode(n.value));
        return;
      case 'SpreadExpression':
      case 'KeywordSpreadExpression':
        this.expr(asNode(n.argument));
        return;
      default:
        // A statement where an expression was expected cannot happen in a parsed template;
        // an unknown node type means a newer library: fail loudly rather than miss columns. The
        // job's template uses what sparkinfer can't read: a job-file problem, reported at its field.
        throw new SpecError(`unsupported template node type ${JSON.stringify(n.type)}`);
    }
  }
}

/** Root variables of an already parsed template, in first-use order. */
export function rootVariablesOf(parsed: ParsedTemplate): string[] {
  const w = new RootVariableWalker();
  w.block(parsed.body);
  return w.names;
}

/**
 * Root variables a template references, in first-use order: `{{ row.a }}` gives `row`, loop
 * variables, `set` targets, macro parameters and builtins are left out.
 * @param field Names the template in errors, e.g. `prompt.user`.
 * @throws SpecError on a syntax error, or a construct the walker can't read (a newer Jinja library).
 */
export function templateVariables(source: string, field: string): string[] {
  const parsed = parseTemplate(source, field).parsed;
  try {
    return rootVariablesOf(parsed);
  } catch (err) {
    // A construct the walker can't read: said at its field, as a syntax error is.
    if (err instanceof SpecError) throw new SpecError(`${field}: ${err.message}`, { cause: err });
    throw err;
  }
}

/** One template field of a prompt: its path in the job (for positions) and display name. */
export interface TemplateField {
  path: (string | number)[];
  /** `prompt.user`, `prompt.messages[1].content`. */
  field: string;
  source: string;
}

/** Every template field of a prompt, in the order they are rendered. */
export function templateFields(prompt: Partial<Pick<Job['prompt'], 'system' | 'user' | 'messages' | 'text'>>): TemplateField[] {
  const out: TemplateField[] = [];
  if (typeof prompt.system === 'string') out.push({ path: ['prompt', 'system'], field: 'prompt.system', source: prompt.system });
  if (typeof prompt.user === 'string') out.push({ path: ['prompt', 'user'], field: 'prompt.user', source: prompt.user });
  if (Array.isArray(prompt.messages)) {
    prompt.messages.forEach((m, i) => {
      if (typeof m?.content === 'string')
        out.push({ path: ['prompt', 'messages', i, 'content'], field: `prompt.messages[${i}].content`, source: m.content });
    });
  }
  if (typeof prompt.text === 'string') out.push({ path: ['prompt', 'text'], field: 'prompt.text', source: prompt.text });
  return out;
}

/**
 * The input columns a job's prompt references, over all its templates, in first-use order.
 * @throws SpecError naming the field on a template syntax error.
 */
export function referencedColumns(prompt: Job['prompt']): string[] {
  const all = new Set<string>();
  for (const t of templateFields(prompt)) for (const name of templateVariables(t.source, t.field)) all.add(name);
  return [...all];
}

/**
 * The columns that form a row's prefix key (docs/prefix-plan.md): the referenced columns
 * in first-use order, which is the order they are rendered in (system, user, messages, text), all
 * but the last. Rows with equal values in them render the same text up to the last column. One
 * column (or none) leaves only the static text, which every row shares: no key. The driver applies
 * the same rule (`prefix_columns` in python/sparkinfer/prefix_plan.py).
 */
export function prefixColumns(columns: readonly string[]): string[] {
  const cols = [...new Set(columns)];
  return cols.length >= 2 ? cols.slice(0, -1) : [];
}
