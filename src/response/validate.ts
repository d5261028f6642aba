/**
 * A validator for the supported JSON Schema subset (schema.ts), compiled once per job into
 * closures. It reports the first problem with a JSON path (`$.items[2].age`), which becomes the
 * row's E_SCHEMA message. Integers beyond 2^53 arrive as BigInt (reply.ts keeps their digits).
 *
 * Semantics follow JSON Schema 2020-12 for the keywords it knows; annotations are ignored.
 * Integer values must also fit Spark's bigint (64 bits), and numbers must be finite, so that
 * every value that passes can be parsed by Spark into the derived column type.
 */
import { resolveRef, jsonKind } from './schema.ts';

export interface SchemaViolation {
  /** JSON path of the offending value: `$`, `$.a`, `$.a[3].b`. */
  path: string;
  message: string;
}

/** Returns the first violation, or undefined when the value fits. */
export type Validator = (value: unknown) => SchemaViolation | undefined;

type Check = (value: unknown, path: string) => SchemaViolation | undefined;
type Node = Record<string, unknown>;

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

function isNode(v: unknown): v is Node {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A short rendering of a value for messages. */
export function preview(v: unknown): string {
  let s: string;
  try {
    s = typeof v === 'bigint' ? v.toString() : (JSON.stringify(v) ?? String(v));
  } catch {
    s = String(v);
  }
  return s.length > 50 ? `${s.slice(0, 47)}…` : s;
}

function describe(v: unknown): string {
  return `${jsonKind(v)} ${preview(v)}`;
}

function memberPath(path: string, name: string): string {
  return /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(name) ? `${path}.${name}` : `${path}[${JSON.stringify(name)}]`;
}

/** Unicode code points, as JSON Schema counts string length. */
function codePoints(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

function equalJson(a: unknown, b: unknown): boolean {
  if (typeof a === 'bigint' || typeof b === 'bigint') return String(a) === String(b);
  return a === b;
}

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const TIME = /^([01]\d|2[0-3]):[0-5]\d:([0-5]\d|60)(\.\d+)?(Z|[+-]([01]\d|2[0-3]):[0-5]\d)$/i;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function validDate(s: string): boolean {
  const m = DATE.exec(s);
  if (m === null) return false;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (mo < 1 || mo > 12 || d < 1) return false;
  const days = [31, y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0) ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
  return d <= (days[mo - 1] as number);
}

const FORMATS: Readonly<Record<string, (s: string) => boolean>> = {
  date: validDate,
  time: (s) => TIME.test(s),
  'date-time': (s) => {
    const i = s.search(/[Tt ]/);
    return i === 10 && validDate(s.slice(0, 10)) && TIME.test(s.slice(11));
  },
  uuid: (s) => UUID.test(s),
};

class Compiler {
  readonly #root: Node;
  readonly #refs = new Map<string, Check>();

  constructor(root: Node) {
    this.#root = root;
  }

  compile(schema: unknown): Check {
    if (!isNode(schema)) return () => undefined;
    const s = schema;
    if (typeof s.$ref === 'string') return this.ref(s.$ref);
    const checks: Check[] = [];
    const union = Array.isArray(s.anyOf) ? 'anyOf' : Array.isArray(s.oneOf) ? 'oneOf' : undefined;
    if (union !== undefined)
      checks.push(
        this.union(
          union,
          (s[union] as unknown[]).map((b) => this.compile(b)),
        ),
      );
    const types = s.type === undefined ? undefined : ((Array.isArray(s.type) ? s.type : [s.type]) as string[]);
    if (types !== undefined) checks.push(typeCheck(types));
    if (Array.isArray(s.enum) || 'const' in s) {
      const values = Array.isArray(s.enum) ? (s.enum as unknown[]) : [s.const];
      checks.push((v, p) =>
        values.some((x) => equalJson(x, v))
          ? undefined
          : {
              path: p,
              message:
                values.length === 1
                  ? `expected ${preview(values[0])}, got ${describe(v)}`
                  : `expected one of ${values.map(preview).join(', ')}, got ${describe(v)}`,
            },
      );
    }
    checks.push(...stringChecks(s), ...numberChecks(s));
    if (s.items !== undefined || s.minItems !== undefined || s.maxItems !== undefined) checks.push(this.array(s));
    if (s.properties !== undefined || s.required !== undefined || s.additionalProperties !== undefined) checks.push(this.object(s));
    return (v, p) => {
      for (const c of checks) {
        const e = c(v, p);
        if (e !== undefined) return e;
      }
      return undefined;
    };
  }

  ref(ref: string): Check {
    const cached = this.#refs.get(ref);
    if (cached !== undefined) return cached;
    let inner: Check | undefined;
    // Compiled on first use, so a (rejected, but defensively handled) cycle can't loop here.
    const check: Check = (v, p) => (inner ??= this.compile(resolveRef(this.#root, ref)))(v, p);
    this.#refs.set(ref, check);
    return check;
  }

  union(kind: 'anyOf' | 'oneOf', branches: Check[]): Check {
    return (v, p) => {
      const errors: SchemaViolation[] = [];
      let matches = 0;
      for (const b of branches) {
        const e = b(v, p);
        if (e === undefined) matches++;
        else errors.push(e);
      }
      if (kind === 'oneOf' && matches > 1) return { path: p, message: `matches ${matches} branches of oneOf, expected exactly one` };
      if (matches > 0) return undefined;
      // The deepest failure is usually the branch that was meant.
      const best = errors.reduce((a, b) => (b.path.length > a.path.length ? b : a));
      return { path: best.path, message: `${best.message} (no ${kind} branch fits)` };
    };
  }

  array(s: Node): Check {
    const items = s.items === undefined ? undefined : this.compile(s.items);
    const min = typeof s.minItems === 'number' ? s.minItems : undefined;
    const max = typeof s.maxItems === 'number' ? s.maxItems : undefined;
    return (v, p) => {
      if (!Array.isArray(v)) return undefined;
      if (min !== undefined && v.length < min) return { path: p, message: `expected at least ${min} items, got ${v.length}` };
      if (max !== undefined && v.length > max) return { path: p, message: `expected at most ${max} items, got ${v.length}` };
      if (items !== undefined) {
        for (let i = 0; i < v.length; i++) {
          const e = items(v[i], `${p}[${i}]`);
          if (e !== undefined) return e;
        }
      }
      return undefined;
    };
  }

  object(s: Node): Check {
    const props = new Map<string, Check>();
    if (isNode(s.properties)) for (const [k, sub] of Object.entries(s.properties)) props.set(k, this.compile(sub));
    const required = Array.isArray(s.required) ? (s.required as string[]) : [];
    const addl = s.additionalProperties;
    const extra: Check | false | undefined = addl === false ? false : isNode(addl) ? this.compile(addl) : undefined;
    return (v, p) => {
      if (!isNode(v)) return undefined;
      for (const r of required) if (!Object.hasOwn(v, r)) return { path: p, message: `missing required property ${JSON.stringify(r)}` };
      for (const [k, x] of Object.entries(v)) {
        const check = props.get(k);
        const at = memberPath(p, k);
        if (check !== undefined) {
          const e = check(x, at);
          if (e !== undefined) return e;
        } else if (extra === false) {
          return { path: at, message: `property ${JSON.stringify(k)} is not allowed (additionalProperties: false)` };
        } else if (extra !== undefined) {
          const e = extra(x, at);
          if (e !== undefined) return e;
        }
      }
      return undefined;
    };
  }
}

function typeCheck(types: readonly string[]): Check {
  return (v, p) => {
    const k = jsonKind(v);
    if (typeof v === 'number' && !Number.isFinite(v)) return { path: p, message: 'number is out of range for a double' };
    for (const t of types) {
      if (t === k || (t === 'number' && k === 'integer')) {
        if (k === 'integer' && t === 'integer') {
          const big = typeof v === 'bigint' ? v : BigInt(v as number);
          if (big < INT64_MIN || big > INT64_MAX) return { path: p, message: `integer ${preview(v)} does not fit a 64-bit bigint` };
        }
        return undefined;
      }
    }
    return { path: p, message: `expected ${types.join(' or ')}, got ${describe(v)}` };
  };
}

function stringChecks(s: Node): Check[] {
  const out: Check[] = [];
  const min = typeof s.minLength === 'number' ? s.minLength : undefined;
  const max = typeof s.maxLength === 'number' ? s.maxLength : undefined;
  if (min !== undefined || max !== undefined) {
    out.push((v, p) => {
      if (typeof v !== 'string') return undefined;
      const n = codePoints(v);
      if (min !== undefined && n < min) return { path: p, message: `expected at least ${min} characters, got ${n}` };
      if (max !== undefined && n > max) return { path: p, message: `expected at most ${max} characters, got ${n}` };
      return undefined;
    });
  }
  if (typeof s.pattern === 'string') {
    const source = s.pattern;
    const re = new RegExp(source, 'u');
    out.push((v, p) =>
      typeof v !== 'string' || re.test(v)
        ? undefined
        : { path: p, message: `${preview(v)} does not match pattern ${JSON.stringify(source)}` },
    );
  }
  const fmt = typeof s.format === 'string' ? FORMATS[s.format] : undefined;
  if (fmt !== undefined) {
    const name = s.format as string;
    out.push((v, p) => (typeof v !== 'string' || fmt(v) ? undefined : { path: p, message: `${preview(v)} is not a valid ${name}` }));
  }
  return out;
}

function numberChecks(s: Node): Check[] {
  const bounds: Array<[string, (x: number, b: number) => boolean, string]> = [
    ['minimum', (x, b) => x >= b, '>='],
    ['maximum', (x, b) => x <= b, '<='],
    ['exclusiveMinimum', (x, b) => x > b, '>'],
    ['exclusiveMaximum', (x, b) => x < b, '<'],
  ];
  const out: Check[] = [];
  for (const [k, ok, op] of bounds) {
    const b = s[k];
    if (typeof b !== 'number') continue;
    out.push((v, p) => {
      if (typeof v !== 'number' && typeof v !== 'bigint') return undefined;
      return ok(Number(v), b) ? undefined : { path: p, message: `expected a number ${op} ${b}, got ${preview(v)}` };
    });
  }
  return out;
}

/** Compiles a schema (already accepted by analyzeSchema) into a validator. */
export function compileValidator(schema: Record<string, unknown>): Validator {
  const check = new Compiler(schema).compile(schema);
  return (value) => check(value, '$');
}
