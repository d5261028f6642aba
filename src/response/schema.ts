/**
 * The JSON Schema subset that `response.format: json` accepts, and the Spark type of the `json`
 * column derived from it. One walk does both: every node either maps to one Spark type or is
 * reported with the reason it can't (exit 2 at validate time). The subset is documented in
 * docs/batch-kinds.md. The type goes to the driver as DDL in the plan (src/plan/output-columns.ts,
 * `run.result_columns`), which pyspark parses (test/fixtures/json-schemas.json: the expected types,
 * checked here and, through the plan's DDL, in test/python/test_formats.py).
 *
 * Mapping: object with properties → struct, object with only `additionalProperties: {schema}` →
 * map<string,T>, array → array<T>, string (and string enums, formats) → string, integer → bigint,
 * number → double, boolean → boolean. `null` in a type list, enum or anyOf only makes the field
 * nullable (every Spark field parsed by from_json is nullable anyway).
 */

/** A Spark SQL type, as far as the `json` column needs. */
export type SparkType =
  | { kind: 'string' | 'bigint' | 'double' | 'boolean' }
  | { kind: 'array'; element: SparkType }
  | { kind: 'map'; value: SparkType }
  | { kind: 'struct'; fields: SparkField[] };

export interface SparkField {
  name: string;
  type: SparkType;
  /** Listed in `required` (the field is still nullable in Spark: error rows have no json). */
  required: boolean;
}

/** One reason a schema is not supported. `path` points into the schema, e.g. `properties.tags.items`. */
export interface SchemaProblem {
  path: string;
  message: string;
}

export interface SchemaAnalysis {
  /** The `json` column's type (a struct); undefined when there are problems. */
  type: SparkType | undefined;
  problems: SchemaProblem[];
}

export { SUPPORTED_FORMATS } from './schema-keywords.ts';
import { ANNOTATIONS, KNOWN, REFUSED, SUPPORTED_FORMATS } from './schema-keywords.ts';

type Node = Record<string, unknown>;

function isNode(v: unknown): v is Node {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function show(v: unknown): string {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 60 ? `${s.slice(0, 57)}…` : s;
}

/** `properties.a.items` from segments. */
function join(path: readonly string[]): string {
  return path.length === 0 ? '(top level)' : path.join('.');
}

/** Two Spark types are the same type (field order and names included). */
export function sameSparkType(a: SparkType, b: SparkType): boolean {
  return sparkTypeString(a) === sparkTypeString(b);
}

/**
 * Spark's `simpleString()` of a type, e.g. `struct<name:string,tags:array<string>>`; with `name`
 * quoting the field names, DDL that Spark parses back (src/plan/output-columns.ts).
 */
export function sparkTypeString(t: SparkType, name: (field: string) => string = (f) => f): string {
  switch (t.kind) {
    case 'array':
      return `array<${sparkTypeString(t.element, name)}>`;
    case 'map':
      return `map<string,${sparkTypeString(t.value, name)}>`;
    case 'struct':
      return `struct<${t.fields.map((f) => `${name(f.name)}:${sparkTypeString(f.type, name)}`).join(',')}>`;
    default:
      return t.kind;
  }
}

/** Resolves a local `$ref` (`#`, `#/$defs/X`, `#/definitions/X`, any JSON pointer into the root). */
export function resolveRef(root: Node, ref: string): Node | undefined {
  if (ref === '#') return root;
  if (!ref.startsWith('#/')) return undefined;
  let cur: unknown = root;
  for (const raw of ref.slice(2).split('/')) {
    let seg: string;
    try {
      seg = decodeURIComponent(raw).replace(/~1/g, '/').replace(/~0/g, '~');
    } catch {
      return undefined;
    }
    if (Array.isArray(cur) && /^\d+$/.test(seg)) cur = cur[Number(seg)];
    else if (isNode(cur) && Object.hasOwn(cur, seg)) cur = cur[seg];
    else return undefined;
  }
  return isNode(cur) ? cur : undefined;
}

class Analyzer {
  readonly problems: SchemaProblem[] = [];
  readonly #root: Node;
  // The root is `#`: a `$ref: "#"` inside it is a cycle.
  readonly #refStack: string[] = ['#'];
  /** Each referenced schema is analyzed once; later uses reuse the result (and don't repeat its problems). */
  readonly #refDone = new Map<string, SparkType | 'null' | undefined>();

  constructor(root: Node) {
    this.#root = root;
  }

  problem(path: readonly string[], message: string): undefined {
    this.problems.push({ path: join(path), message });
    return undefined;
  }

  /** The Spark type of a node, or undefined after reporting why there is none. Null-only nodes give 'null'. */
  node(v: unknown, path: string[]): SparkType | 'null' | undefined {
    if (v === true || (isNode(v) && Object.keys(v).every((k) => ANNOTATIONS.has(k)))) {
      return this.problem(path, 'a schema that accepts any JSON value has no Spark type; give it a `type`');
    }
    if (!isNode(v)) return this.problem(path, `expected a schema object, got ${show(v)}`);
    let ok = true;
    for (const k of Object.keys(v)) {
      if (ANNOTATIONS.has(k) || KNOWN.has(k)) continue;
      const why = REFUSED[k];
      this.problem(
        [...path, k],
        why !== undefined ? `\`${k}\` is not supported: ${why}` : `unknown keyword \`${k}\` (supported: ${[...KNOWN].join(', ')})`,
      );
      ok = false;
    }
    if (typeof v.$ref === 'string') return this.ref(v, path);
    if (v.$ref !== undefined) return this.problem([...path, '$ref'], `expected a string, got ${show(v.$ref)}`);
    if (Array.isArray(v.anyOf) || Array.isArray(v.oneOf)) return this.union(v, path);
    for (const k of ['anyOf', 'oneOf'])
      if (v[k] !== undefined) return this.problem([...path, k], `expected a list of schemas, got ${show(v[k])}`);
    const types = this.types(v, path);
    if (types === undefined) return undefined;
    const nonNull = types.filter((t) => t !== 'null');
    if (nonNull.length === 0) return types.includes('null') ? 'null' : undefined;
    const numeric = nonNull.every((t) => t === 'integer' || t === 'number');
    if (nonNull.length > 1 && !numeric) {
      return this.problem(
        [...path, 'type'],
        `a field has one Spark type; got ${nonNull.join(' or ')} (only a [T, "null"] pair or integer with number is supported)`,
      );
    }
    const t = numeric && nonNull.length > 1 ? 'number' : (nonNull[0] as string);
    this.scalarChecks(v, t, path);
    const out = this.typed(v, t, path);
    return ok ? out : undefined;
  }

  /** The declared types, or ones implied by enum/const/properties/items. */
  types(v: Node, path: string[]): string[] | undefined {
    const allowed = ['string', 'integer', 'number', 'boolean', 'object', 'array', 'null'];
    const declared = v.type;
    if (declared !== undefined) {
      const list = Array.isArray(declared) ? declared : [declared];
      if (list.length === 0 || list.some((t) => typeof t !== 'string' || !allowed.includes(t))) {
        return this.problem([...path, 'type'], `expected one of ${allowed.join(', ')} (or a list of them), got ${show(declared)}`);
      }
      return list as string[];
    }
    const values = Array.isArray(v.enum) ? (v.enum as unknown[]) : 'const' in v ? [v.const] : undefined;
    if (values !== undefined) {
      const kinds = new Set(values.map(jsonKind));
      if (kinds.has('integer') && kinds.has('number')) kinds.delete('integer');
      return [...kinds];
    }
    if (v.properties !== undefined || v.additionalProperties !== undefined || v.required !== undefined) return ['object'];
    if (v.items !== undefined) return ['array'];
    return this.problem(
      path,
      'a schema without `type` (or enum, const, properties, items) accepts any JSON value and has no Spark type; give it a `type`',
    );
  }

  scalarChecks(v: Node, t: string, path: string[]): void {
    const nonNegInt = (k: string): void => {
      const x = v[k];
      if (x !== undefined && !(typeof x === 'number' && Number.isInteger(x) && x >= 0))
        this.problem([...path, k], `expected a whole number from 0 and up, got ${show(x)}`);
    };
    for (const k of ['minLength', 'maxLength', 'minItems', 'maxItems']) nonNegInt(k);
    for (const k of ['minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum']) {
      const x = v[k];
      if (x !== undefined && (typeof x !== 'number' || !Number.isFinite(x)))
        this.problem([...path, k], `expected a number, got ${show(x)}`);
    }
    for (const [lo, hi] of [
      ['minLength', 'maxLength'],
      ['minItems', 'maxItems'],
      ['minimum', 'maximum'],
    ] as const) {
      const a = v[lo];
      const b = v[hi];
      if (typeof a === 'number' && typeof b === 'number' && a > b)
        this.problem([...path, lo], `\`${lo}\` (${a}) is above \`${hi}\` (${b}): no value fits`);
    }
    if (v.pattern !== undefined) {
      if (typeof v.pattern !== 'string') this.problem([...path, 'pattern'], `expected a regular expression string, got ${show(v.pattern)}`);
      else {
        try {
          new RegExp(v.pattern, 'u');
        } catch (err) {
          this.problem([...path, 'pattern'], `not a valid regular expression: ${(err as Error).message}`);
        }
      }
    }
    if (v.format !== undefined && !(typeof v.format === 'string' && SUPPORTED_FORMATS.includes(v.format))) {
      this.problem(
        [...path, 'format'],
        `format ${show(v.format)} is not supported (supported: ${SUPPORTED_FORMATS.join(', ')}); use \`pattern\``,
      );
    }
    const values = Array.isArray(v.enum) ? (v.enum as unknown[]) : 'const' in v ? [v.const] : undefined;
    if (v.enum !== undefined && (!Array.isArray(v.enum) || v.enum.length === 0))
      this.problem([...path, 'enum'], `expected a non-empty list of values, got ${show(v.enum)}`);
    if (values !== undefined) {
      for (const x of values) {
        const k = jsonKind(x);
        const fits = k === 'null' || k === t || (t === 'number' && k === 'integer');
        if (!fits) this.problem([...path, 'enum' in v ? 'enum' : 'const'], `value ${show(x)} is not of type ${t}`);
        if (k === 'object' || k === 'array')
          this.problem(
            [...path, 'enum' in v ? 'enum' : 'const'],
            `enum and const values must be strings, numbers or booleans, got ${show(x)}`,
          );
      }
    }
  }

  typed(v: Node, t: string, path: string[]): SparkType | undefined {
    switch (t) {
      case 'string':
        return { kind: 'string' };
      case 'integer':
        return { kind: 'bigint' };
      case 'number':
        return { kind: 'double' };
      case 'boolean':
        return { kind: 'boolean' };
      case 'array': {
        const items = v.items;
        if (items === undefined) return this.problem(path, 'an array needs `items` (one schema for every element) to have a Spark type');
        if (Array.isArray(items))
          return this.problem([...path, 'items'], 'tuples (a list of item schemas) have no Spark type; use one schema');
        const el = this.node(items, [...path, 'items']);
        if (el === 'null') return this.problem([...path, 'items'], 'an array of nulls has no Spark type');
        return el === undefined ? undefined : { kind: 'array', element: el };
      }
      default:
        return this.object(v, path);
    }
  }

  object(v: Node, path: string[]): SparkType | undefined {
    const props = v.properties;
    const addl = v.additionalProperties;
    if (props !== undefined && !isNode(props))
      return this.problem([...path, 'properties'], `expected a mapping of property schemas, got ${show(props)}`);
    const required = v.required ?? [];
    if (!Array.isArray(required) || required.some((r) => typeof r !== 'string'))
      return this.problem([...path, 'required'], `expected a list of property names, got ${show(required)}`);
    if (props === undefined || Object.keys(props).length === 0) {
      if (isNode(addl)) {
        if (required.length > 0)
          return this.problem([...path, 'required'], 'a map (only `additionalProperties`) has no required names; use `properties`');
        const val = this.node(addl, [...path, 'additionalProperties']);
        if (val === 'null') return this.problem([...path, 'additionalProperties'], 'a map of nulls has no Spark type');
        return val === undefined ? undefined : { kind: 'map', value: val };
      }
      return this.problem(path, 'an object needs `properties` (a struct) or `additionalProperties: {schema}` (a map) to have a Spark type');
    }
    if (addl !== undefined && typeof addl !== 'boolean') {
      return this.problem(
        [...path, 'additionalProperties'],
        'with `properties`, `additionalProperties` must be true or false (extra properties have no struct field)',
      );
    }
    const fields: SparkField[] = [];
    const seen = new Map<string, string>();
    let ok = true;
    for (const [name, sub] of Object.entries(props)) {
      const at = [...path, 'properties', name];
      if (name === '') {
        this.problem(at, 'an empty property name cannot be a Spark field');
        ok = false;
        continue;
      }
      const clash = seen.get(name.toLowerCase());
      if (clash !== undefined) {
        this.problem(at, `\`${name}\` and \`${clash}\` differ only in case; Spark field names are case-insensitive`);
        ok = false;
        continue;
      }
      seen.set(name.toLowerCase(), name);
      const t = this.node(sub, at);
      if (t === 'null') {
        this.problem(at, 'a field that can only be null has no Spark type');
        ok = false;
        continue;
      }
      if (t === undefined) {
        ok = false;
        continue;
      }
      fields.push({ name, type: t, required: required.includes(name) });
    }
    for (const r of required as string[]) {
      if (!Object.hasOwn(props, r)) {
        this.problem([...path, 'required'], `\`${r}\` is required but not in \`properties\``);
        ok = false;
      }
    }
    return ok ? { kind: 'struct', fields } : undefined;
  }

  ref(v: Node, path: string[]): SparkType | 'null' | undefined {
    const ref = v.$ref as string;
    const siblings = Object.keys(v).filter((k) => k !== '$ref' && !ANNOTATIONS.has(k) && k !== '$defs' && k !== 'definitions');
    if (siblings.length > 0)
      return this.problem(
        path,
        `\`$ref\` with other keywords (${siblings.join(', ')}) is not supported; put them in the referenced schema`,
      );
    if (this.#refStack.includes(ref))
      return this.problem(
        [...path, '$ref'],
        `recursive \`$ref\` ${show(ref)} (via ${this.#refStack.join(' → ')}): a recursive type has no Spark type`,
      );
    if (this.#refDone.has(ref)) return this.#refDone.get(ref);
    const target = resolveRef(this.#root, ref);
    if (target === undefined) {
      return this.problem(
        [...path, '$ref'],
        ref.startsWith('#')
          ? `\`$ref\` ${show(ref)} does not point into this schema`
          : `only local references (\`#/$defs/Name\`) are supported, got ${show(ref)}`,
      );
    }
    this.#refStack.push(ref);
    try {
      const t = this.node(target, [...path, `$ref(${ref})`]);
      this.#refDone.set(ref, t);
      return t;
    } finally {
      this.#refStack.pop();
    }
  }

  union(v: Node, path: string[]): SparkType | 'null' | undefined {
    const key = Array.isArray(v.anyOf) ? 'anyOf' : 'oneOf';
    const other = Object.keys(v).filter((k) => k !== key && !ANNOTATIONS.has(k) && k !== '$defs' && k !== 'definitions');
    if (other.length > 0)
      return this.problem(path, `\`${key}\` with other keywords (${other.join(', ')}) is not supported; put them in each branch`);
    const branches = v[key] as unknown[];
    if (branches.length === 0) return this.problem([...path, key], 'expected at least one schema');
    const types: SparkType[] = [];
    let nullable = false;
    let bad = false;
    branches.forEach((b, i) => {
      const t = this.node(b, [...path, key, String(i)]);
      if (t === 'null') nullable = true;
      else if (t === undefined) bad = true;
      else types.push(t);
    });
    if (bad) return undefined;
    if (types.length === 0) return nullable ? 'null' : undefined;
    // integer | number widens to double; anything else must be one type.
    const widened = types.every((t) => t.kind === 'bigint' || t.kind === 'double') ? [{ kind: 'double' as const }] : types;
    const first = widened[0] as SparkType;
    const differs = widened.find((t) => !sameSparkType(t, first));
    if (types.length > 1 && differs !== undefined) {
      return this.problem(
        [...path, key],
        `branches have different Spark types (${sparkTypeString(first)} vs ${sparkTypeString(differs)}); a field has one type, so use one shape (or [T, "null"])`,
      );
    }
    return types.length > 1 ? first : (types[0] as SparkType);
  }
}

/** JSON kind of a value: string, integer, number, boolean, null, object, array. */
export function jsonKind(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'bigint') return 'integer';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

/**
 * Checks that a schema is in the supported subset and derives the `json` column's Spark type.
 * The top level must be an object with `properties` (the column is a struct).
 */
export function analyzeSchema(schema: unknown): SchemaAnalysis {
  if (!isNode(schema))
    return { type: undefined, problems: [{ path: '(top level)', message: `expected a schema object, got ${show(schema)}` }] };
  const a = new Analyzer(schema);
  const t = a.node(schema, []);
  if (t !== undefined && (t === 'null' || t.kind !== 'struct')) {
    a.problem(
      [],
      `the top level must be an object with \`properties\` (the \`json\` column is a struct), got ${t === 'null' ? 'null' : sparkTypeString(t)}`,
    );
  }
  const problems = a.problems;
  return { type: problems.length === 0 && t !== undefined && t !== 'null' ? t : undefined, problems };
}

/** Problems that only matter for one engine (it would silently not enforce the schema). */
export function engineSchemaProblems(schema: unknown, engine: 'llama-server' | 'vllm' | 'openai'): SchemaProblem[] {
  if (engine !== 'llama-server') return [];
  const out: SchemaProblem[] = [];
  const walk = (v: unknown, path: string[]): void => {
    if (Array.isArray(v)) {
      v.forEach((x, i) => {
        walk(x, [...path, String(i)]);
      });
      return;
    }
    if (!isNode(v)) return;
    const p = v.pattern;
    if (typeof p === 'string' && !(p.startsWith('^') && p.endsWith('$'))) {
      out.push({
        path: join([...path, 'pattern']),
        message: `llama-server enforces only patterns anchored with ^ and $, got ${show(p)}; JSON Schema patterns match anywhere, so write ${show(`^.*(${p}).*$`)} or anchor it`,
      });
    }
    for (const [k, x] of Object.entries(v)) if (k !== 'enum' && k !== 'const' && k !== 'default' && k !== 'examples') walk(x, [...path, k]);
  };
  walk(schema, []);
  return out;
}
