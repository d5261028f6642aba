/**
 * A structural-schema validator for the OpenAPI v3 subset Kubernetes uses (CRD `openAPIV3Schema`
 * and the apiserver's published OpenAPI). Unknown fields are errors: an apiserver silently prunes
 * fields a CRD doesn't declare, so a typo (`restartPolcy`) would otherwise vanish without a word.
 *
 * Supported: type, nullable, required, enum, properties, additionalProperties (bool or schema),
 * items, allOf / anyOf / oneOf, $ref (`#/components/schemas/…`, `#/definitions/…`), pattern,
 * minimum / maximum, min/max length / items / properties, format (int32, int64, date-time, byte;
 * others accepted), x-kubernetes-int-or-string, x-kubernetes-preserve-unknown-fields and
 * x-kubernetes-list-type (map keys and set members must be unique, as server-side apply requires).
 */

export interface OpenApiSchema {
  type?: string;
  nullable?: boolean;
  required?: string[];
  enum?: unknown[];
  properties?: Record<string, OpenApiSchema>;
  additionalProperties?: boolean | OpenApiSchema;
  items?: OpenApiSchema;
  allOf?: OpenApiSchema[];
  anyOf?: OpenApiSchema[];
  oneOf?: OpenApiSchema[];
  $ref?: string;
  pattern?: string;
  format?: string;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: boolean;
  exclusiveMaximum?: boolean;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  maxProperties?: number;
  'x-kubernetes-int-or-string'?: boolean;
  'x-kubernetes-preserve-unknown-fields'?: boolean;
  'x-kubernetes-list-type'?: string;
  'x-kubernetes-list-map-keys'?: string[];
  [k: string]: unknown;
}

export interface SchemaIssue {
  /** JSONPath-like location: `.spec.executor.initContainers[0].restartPolicy`. */
  path: string;
  message: string;
}

export interface ValidateOptions {
  /** Document that `$ref`s point into (its `components.schemas` or `definitions`). */
  root?: unknown;
  /**
   * `{type: object}` with neither properties nor additionalProperties: `true` treats it as closed
   * (a CRD prunes every field of such an object), `false` as free-form (the apiserver's own
   * OpenAPI uses it for raw JSON such as FieldsV1). Default true.
   */
  closedEmptyObjects?: boolean;
  /** Path prefix for the issues. Default ''. */
  path?: string;
}

interface Ctx {
  root: unknown;
  closedEmpty: boolean;
  issues: SchemaIssue[];
}

/** Validates `value` against `schema`; returns every issue found (empty when valid). */
export function validateSchema(value: unknown, schema: OpenApiSchema, o: ValidateOptions = {}): SchemaIssue[] {
  const ctx: Ctx = { root: o.root, closedEmpty: o.closedEmptyObjects ?? true, issues: [] };
  check(value, schema, o.path ?? '', ctx);
  return ctx.issues;
}

/** `"fast" (string)`: the bad value, shortened, with its JSON type. */
export function show(v: unknown): string {
  const type = v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v;
  let s = JSON.stringify(v) ?? String(v);
  if (s.length > 60) s = `${s.slice(0, 57)}…`;
  return `\`${s}\` (${type})`;
}

function resolveRef(ref: string, root: unknown): OpenApiSchema {
  const m = /^#\/(.+)$/.exec(ref);
  if (m === null) throw new Error(`unsupported $ref ${ref} (only local refs)`);
  let node: unknown = root;
  for (const part of (m[1] ?? '').split('/')) {
    node =
      typeof node === 'object' && node !== null
        ? (node as Record<string, unknown>)[part.replace(/~1/g, '/').replace(/~0/g, '~')]
        : undefined;
  }
  if (typeof node !== 'object' || node === null) throw new Error(`unresolved $ref ${ref}`);
  return node as OpenApiSchema;
}

/** Resolves `$ref` and folds `allOf` into one schema (union of properties and required). */
function flatten(s: OpenApiSchema, root: unknown, depth = 0): OpenApiSchema {
  if (depth > 32) throw new Error('$ref/allOf nesting too deep');
  let out: OpenApiSchema = s;
  if (s.$ref !== undefined) {
    const { $ref: _ref, ...rest } = s;
    out = { ...flatten(resolveRef(s.$ref, root), root, depth + 1), ...rest };
  }
  if (out.allOf !== undefined) {
    const { allOf, ...rest } = out;
    let merged: OpenApiSchema = rest;
    for (const part of allOf) {
      const p = flatten(part, root, depth + 1);
      const next: OpenApiSchema = { ...p, ...merged, required: [...(p.required ?? []), ...(merged.required ?? [])] };
      if (p.properties !== undefined || merged.properties !== undefined) next.properties = { ...p.properties, ...merged.properties };
      merged = next;
    }
    out = merged;
  }
  return out;
}

function typeOk(type: string, v: unknown): boolean {
  switch (type) {
    case 'object':
      return typeof v === 'object' && v !== null && !Array.isArray(v);
    case 'array':
      return Array.isArray(v);
    case 'string':
      return typeof v === 'string';
    case 'integer':
      return typeof v === 'number' && Number.isInteger(v);
    case 'number':
      return typeof v === 'number' && Number.isFinite(v);
    case 'boolean':
      return typeof v === 'boolean';
    default:
      return true;
  }
}

const FORMAT_RANGES: Record<string, [number, number]> = {
  int32: [-(2 ** 31), 2 ** 31 - 1],
  int64: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
};

function checkFormat(v: unknown, format: string, path: string, ctx: Ctx): void {
  const range = FORMAT_RANGES[format];
  if (range !== undefined && typeof v === 'number' && (v < range[0] || v > range[1])) {
    ctx.issues.push({ path, message: `expected an ${format}, got ${show(v)}` });
  } else if (format === 'date-time' && typeof v === 'string' && Number.isNaN(Date.parse(v))) {
    ctx.issues.push({ path, message: `expected an RFC 3339 date-time, got ${show(v)}` });
  } else if (format === 'byte' && typeof v === 'string' && !/^[A-Za-z0-9+/]*={0,2}$/.test(v)) {
    ctx.issues.push({ path, message: `expected base64 data, got ${show(v)}` });
  }
}

/** Levenshtein distance, for "did you mean" on unknown fields. */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0] ?? 0;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j] ?? 0;
      row[j] = Math.min(cur + 1, (row[j - 1] ?? 0) + 1, prev + (a[i - 1]?.toLowerCase() === b[j - 1]?.toLowerCase() ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length] ?? 0;
}

function suggestion(key: string, known: string[]): string {
  let best: string | undefined;
  let bestD = Infinity;
  for (const k of known) {
    const d = distance(key, k);
    if (d < bestD) {
      bestD = d;
      best = k;
    }
  }
  return best !== undefined && bestD <= Math.max(2, Math.floor(key.length / 4)) ? `; did you mean \`${best}\`?` : '';
}

function key(v: unknown): string {
  return JSON.stringify(v) ?? 'undefined';
}

function check(v: unknown, raw: OpenApiSchema, path: string, ctx: Ctx): void {
  const s = flatten(raw, ctx.root);
  const at = path === '' ? '(root)' : path;
  if (v === null) {
    if (s.nullable !== true) ctx.issues.push({ path: at, message: 'must not be null' });
    return;
  }
  if (s['x-kubernetes-int-or-string'] === true) {
    if (!(typeof v === 'string' || (typeof v === 'number' && Number.isInteger(v)))) {
      ctx.issues.push({ path: at, message: `expected an integer or a string, got ${show(v)}` });
      return;
    }
  } else if (s.type !== undefined && !typeOk(s.type, v)) {
    ctx.issues.push({
      path: at,
      message: `expected ${s.type === 'integer' || s.type === 'array' || s.type === 'object' ? 'an' : 'a'} ${s.type}, got ${show(v)}`,
    });
    return;
  }
  if (s.enum !== undefined && !s.enum.some((e) => key(e) === key(v))) {
    ctx.issues.push({ path: at, message: `expected one of ${s.enum.map((e) => key(e)).join(', ')}, got ${show(v)}` });
  }
  for (const [alts, kind] of [
    [s.anyOf, 'anyOf'],
    [s.oneOf, 'oneOf'],
  ] as const) {
    if (alts === undefined) continue;
    const matching = alts.filter(
      (alt) => validateSchema(v, alt, { root: ctx.root, closedEmptyObjects: ctx.closedEmpty }).length === 0,
    ).length;
    if (matching === 0 || (kind === 'oneOf' && matching > 1)) {
      ctx.issues.push({
        path: at,
        message: `${show(v)} matches ${matching === 0 ? 'none' : 'more than one'} of the allowed forms (${kind})`,
      });
    }
  }
  if (typeof v === 'string') {
    if (s.pattern !== undefined && !new RegExp(s.pattern, 'u').test(v))
      ctx.issues.push({ path: at, message: `${show(v)} does not match the pattern ${s.pattern}` });
    if (s.minLength !== undefined && v.length < s.minLength)
      ctx.issues.push({ path: at, message: `expected at least ${s.minLength} characters, got ${show(v)}` });
    if (s.maxLength !== undefined && v.length > s.maxLength)
      ctx.issues.push({ path: at, message: `expected at most ${s.maxLength} characters, got ${v.length}` });
  }
  if (typeof v === 'number') {
    if (s.minimum !== undefined && (s.exclusiveMinimum === true ? v <= s.minimum : v < s.minimum))
      ctx.issues.push({ path: at, message: `expected ${s.exclusiveMinimum === true ? '>' : '>='} ${s.minimum}, got ${show(v)}` });
    if (s.maximum !== undefined && (s.exclusiveMaximum === true ? v >= s.maximum : v > s.maximum))
      ctx.issues.push({ path: at, message: `expected ${s.exclusiveMaximum === true ? '<' : '<='} ${s.maximum}, got ${show(v)}` });
  }
  if (s.format !== undefined) checkFormat(v, s.format, at, ctx);
  if (Array.isArray(v)) checkArray(v, s, path, at, ctx);
  else if (typeof v === 'object') checkObject(v as Record<string, unknown>, s, path, at, ctx);
}

function checkArray(v: unknown[], s: OpenApiSchema, path: string, at: string, ctx: Ctx): void {
  if (s.minItems !== undefined && v.length < s.minItems)
    ctx.issues.push({ path: at, message: `expected at least ${s.minItems} items, got ${v.length}` });
  if (s.maxItems !== undefined && v.length > s.maxItems)
    ctx.issues.push({ path: at, message: `expected at most ${s.maxItems} items, got ${v.length}` });
  if (s.items !== undefined)
    v.forEach((item, i) => {
      check(item, s.items as OpenApiSchema, `${path}[${i}]`, ctx);
    });
  const listType = s['x-kubernetes-list-type'];
  const mapKeys = s['x-kubernetes-list-map-keys'];
  if (listType === 'set' || (listType === 'map' && mapKeys !== undefined)) {
    const seen = new Map<string, number>();
    v.forEach((item, i) => {
      const k = listType === 'set' ? key(item) : key(mapKeys?.map((mk) => (item as Record<string, unknown> | null)?.[mk] ?? null));
      const first = seen.get(k);
      if (first !== undefined)
        ctx.issues.push({
          path: `${path}[${i}]`,
          message: `duplicate entry ${listType === 'set' ? show(item) : `for key ${k}`} (also at [${first}])`,
        });
      else seen.set(k, i);
    });
  }
}

function checkObject(v: Record<string, unknown>, s: OpenApiSchema, path: string, at: string, ctx: Ctx): void {
  const props = s.properties;
  const extra = s.additionalProperties;
  const keys = Object.keys(v);
  if (s.maxProperties !== undefined && keys.length > s.maxProperties)
    ctx.issues.push({ path: at, message: `expected at most ${s.maxProperties} fields, got ${keys.length}` });
  for (const r of s.required ?? []) {
    if (!(r in v)) ctx.issues.push({ path: `${path}.${r}`, message: 'required field is missing' });
  }
  const preserve = s['x-kubernetes-preserve-unknown-fields'] === true;
  const freeForm = props === undefined && extra === undefined && !ctx.closedEmpty;
  for (const k of keys) {
    const child = `${path}.${k}`;
    const p = props?.[k];
    if (p !== undefined) check(v[k], p, child, ctx);
    else if (typeof extra === 'object') check(v[k], extra, child, ctx);
    else if (extra === true || preserve || freeForm) continue;
    else ctx.issues.push({ path: child, message: `unknown field${suggestion(k, Object.keys(props ?? {}))}` });
  }
}
