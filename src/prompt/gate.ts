/**
 * Stage gates (docs/stages.md "Gates"): the `when:` expression of a stage, parsed here into a small
 * tree and evaluated over a row (its input columns and earlier stages' results). A safe language of
 * its own, never `eval`: `name.field` paths, string/number/bool/null literals, == != < <= > >=,
 * `is null`, `is not null`, `and`, `or`, `not` and parentheses.
 */
import { SpecError } from '../errors.ts';

type Op = '==' | '!=' | '<' | '<=' | '>' | '>=';

export type GateNode =
  | { k: 'lit'; v: string | number | boolean | null }
  | { k: 'path'; parts: string[]; col: number }
  | { k: 'cmp'; op: Op; a: GateNode; b: GateNode }
  | { k: 'null'; e: GateNode; negated: boolean }
  | { k: 'not'; e: GateNode }
  | { k: 'and' | 'or'; a: GateNode; b: GateNode };

/** A name the gate reads: its root (a column or a stage), the whole path, its 1-based column in the source. */
export interface GatePath {
  root: string;
  parts: string[];
  col: number;
}

export interface Gate {
  source: string;
  node: GateNode;
  paths: GatePath[];
}

/** A gate that does not parse; `col` is the 1-based column of the problem. */
export class GateSyntaxError extends SpecError {
  readonly col: number;
  constructor(message: string, col: number) {
    super(`${message} at column ${col}`);
    this.col = col;
  }
}

interface Token {
  t: 'id' | 'str' | 'num' | 'op' | 'end';
  v: string;
  col: number;
}

const OPS = ['==', '!=', '<=', '>=', '<', '>', '(', ')', '.'];

function readString(src: string, start: number): { v: string; end: number } {
  const q = src[start];
  let v = '';
  let i = start + 1;
  while (i < src.length && src[i] !== q) {
    if (src[i] === '\\' && i + 1 < src.length) i++;
    v += src[i];
    i++;
  }
  if (i >= src.length) throw new GateSyntaxError('unterminated string', start + 1);
  return { v, end: i + 1 };
}

function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const ch = src[i] as string;
    if (/\s/.test(ch)) {
      i++;
      continue;
    }
    const col = i + 1;
    if (ch === "'" || ch === '"') {
      const s = readString(src, i);
      out.push({ t: 'str', v: s.v, col });
      i = s.end;
      continue;
    }
    const num = /^-?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?/.exec(src.slice(i));
    if (num !== null && (ch !== '-' || out.at(-1)?.t !== 'num')) {
      out.push({ t: 'num', v: num[0], col });
      i += num[0].length;
      continue;
    }
    const id = /^[A-Za-z_][A-Za-z0-9_]*/.exec(src.slice(i));
    if (id !== null) {
      out.push({ t: 'id', v: id[0], col });
      i += id[0].length;
      continue;
    }
    const op = OPS.find((o) => src.startsWith(o, i));
    if (op === undefined) throw new GateSyntaxError(`unexpected character ${JSON.stringify(ch)}`, col);
    out.push({ t: 'op', v: op, col });
    i += op.length;
  }
  out.push({ t: 'end', v: '', col: src.length + 1 });
  return out;
}

const KEYWORDS = new Set(['and', 'or', 'not', 'is', 'null', 'true', 'false']);

/** Recursive descent over the tokens: or → and → not → comparison → primary. */
class Parser {
  #i = 0;
  readonly paths: GatePath[] = [];
  readonly toks: Token[];
  constructor(toks: Token[]) {
    this.toks = toks;
  }

  peek(): Token {
    return this.toks[this.#i] as Token;
  }
  next(): Token {
    return this.toks[this.#i++] as Token;
  }
  word(w: string): boolean {
    const t = this.peek();
    if (t.t === 'id' && t.v === w) {
      this.#i++;
      return true;
    }
    return false;
  }
  or(): GateNode {
    let a = this.and();
    while (this.word('or')) a = { k: 'or', a, b: this.and() };
    return a;
  }
  and(): GateNode {
    let a = this.not();
    while (this.word('and')) a = { k: 'and', a, b: this.not() };
    return a;
  }
  not(): GateNode {
    return this.word('not') ? { k: 'not', e: this.not() } : this.comparison();
  }
  comparison(): GateNode {
    const a = this.primary();
    const t = this.peek();
    if (t.t === 'op' && ['==', '!=', '<', '<=', '>', '>='].includes(t.v)) {
      this.next();
      return { k: 'cmp', op: t.v as Op, a, b: this.primary() };
    }
    if (this.word('is')) {
      const negated = this.word('not');
      if (!this.word('null')) throw new GateSyntaxError('expected `null` after `is`', this.peek().col);
      return { k: 'null', e: a, negated };
    }
    return a;
  }
  primary(): GateNode {
    const t = this.next();
    if (t.t === 'str') return { k: 'lit', v: t.v };
    if (t.t === 'num') return { k: 'lit', v: Number(t.v) };
    if (t.t === 'op' && t.v === '(') {
      const e = this.or();
      const close = this.next();
      if (close.t !== 'op' || close.v !== ')') throw new GateSyntaxError('expected `)`', close.col);
      return e;
    }
    if (t.t === 'id' && (t.v === 'true' || t.v === 'false')) return { k: 'lit', v: t.v === 'true' };
    if (t.t === 'id' && t.v === 'null') return { k: 'lit', v: null };
    if (t.t === 'id' && !KEYWORDS.has(t.v)) return this.path(t);
    throw new GateSyntaxError(t.t === 'end' ? 'expected a value, got the end' : `expected a value, got ${JSON.stringify(t.v)}`, t.col);
  }
  path(first: Token): GateNode {
    const parts = [first.v];
    while (this.peek().t === 'op' && this.peek().v === '.') {
      this.next();
      const f = this.next();
      if (f.t !== 'id') throw new GateSyntaxError('expected a field name after `.`', f.col);
      parts.push(f.v);
    }
    this.paths.push({ root: first.v, parts, col: first.col });
    return { k: 'path', parts, col: first.col };
  }
}

/** Parses a `when:` expression. @throws GateSyntaxError naming the column of the problem. */
export function parseGate(source: string): Gate {
  const p = new Parser(tokenize(source));
  const node = p.or();
  const rest = p.peek();
  if (rest.t !== 'end') throw new GateSyntaxError(`unexpected ${JSON.stringify(rest.v)}`, rest.col);
  return { source, node, paths: p.paths };
}

function lookup(scope: Record<string, unknown>, parts: readonly string[]): unknown {
  let v: unknown = scope;
  for (const p of parts) {
    // Own fields only: `constructor` or `__proto__` read nothing of the object's prototype.
    if (v === null || typeof v !== 'object' || Array.isArray(v) || !Object.hasOwn(v, p)) return null;
    v = (v as Record<string, unknown>)[p];
  }
  return v === undefined ? null : v;
}

function truthy(v: unknown): boolean {
  return v === true || (typeof v === 'number' && v !== 0) || (typeof v === 'string' && v !== '');
}

function compare(op: Op, a: unknown, b: unknown): boolean {
  if (op === '==') return a === b;
  if (op === '!=') return a !== b;
  const ordered = (typeof a === 'number' && typeof b === 'number') || (typeof a === 'string' && typeof b === 'string');
  if (!ordered) return false;
  const [x, y] = [a as number | string, b as number | string];
  return op === '<' ? x < y : op === '<=' ? x <= y : op === '>' ? x > y : x >= y;
}

function value(n: GateNode, scope: Record<string, unknown>): unknown {
  switch (n.k) {
    case 'lit':
      return n.v;
    case 'path':
      return lookup(scope, n.parts);
    case 'cmp':
      return compare(n.op, value(n.a, scope), value(n.b, scope));
    case 'null':
      return (value(n.e, scope) === null) !== n.negated;
    case 'not':
      return !truthy(value(n.e, scope));
    case 'and':
      return truthy(value(n.a, scope)) && truthy(value(n.b, scope));
    case 'or':
      return truthy(value(n.a, scope)) || truthy(value(n.b, scope));
  }
}

/** Whether the gate lets a row through: `scope` holds its columns and earlier stages' results by name. */
export function evalGate(gate: Gate, scope: Record<string, unknown>): boolean {
  return truthy(value(gate.node, scope));
}
