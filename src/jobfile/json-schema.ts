/**
 * JSON Schema export of the job file (editor support: `# yaml-language-server: $schema=…`), and the
 * small JSON Schema walker that validation messages use to say what a field expects and to suggest
 * the field a typo meant. Derived from the zod schema, so it can never drift from it.
 */
import { z } from 'zod';
import { JobSpec } from './schema.ts';

/** A JSON Schema node, loosely typed: we only read a few keywords. */
export type JsonSchemaNode = Record<string, unknown>;

let cached: JsonSchemaNode | undefined;

function schema(): JsonSchemaNode {
  // io 'input' describes what a user writes (durations as strings, defaults optional).
  cached ??= z.toJSONSchema(JobSpec, { io: 'input', unrepresentable: 'any' }) as JsonSchemaNode;
  return cached;
}

/** The job file's JSON Schema (draft 2020-12), as a fresh object the caller may change. */
export function jobJsonSchema(): JsonSchemaNode {
  return structuredClone(schema());
}

function isNode(v: unknown): v is JsonSchemaNode {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function options(node: JsonSchemaNode): JsonSchemaNode[] {
  const alts = node.anyOf ?? node.oneOf;
  return Array.isArray(alts) ? alts.filter(isNode) : [node];
}

function child(node: JsonSchemaNode, seg: string | number): JsonSchemaNode | undefined {
  for (const alt of options(node)) {
    if (typeof seg === 'number' && isNode(alt.items)) return alt.items;
    const props = alt.properties;
    if (isNode(props) && isNode(props[String(seg)])) return props[String(seg)] as JsonSchemaNode;
    if (isNode(alt.additionalProperties)) return alt.additionalProperties;
  }
  return undefined;
}

/** The schema node for a path in the job (`['engine', 'concurrency']`), or undefined if none. */
export function schemaAt(path: readonly (string | number)[]): JsonSchemaNode | undefined {
  let node: JsonSchemaNode | undefined = schema();
  for (const seg of path) {
    if (node === undefined) return undefined;
    node = child(node, seg);
  }
  return node;
}

/** Field names a mapping at `path` accepts (empty when it is open or not a mapping). */
export function knownFields(path: readonly (string | number)[]): string[] {
  const node = schemaAt(path);
  if (node === undefined) return [];
  const out: string[] = [];
  for (const alt of options(node)) {
    if (isNode(alt.properties)) out.push(...Object.keys(alt.properties));
  }
  return out;
}

const PLURAL: Record<string, string> = {
  string: 'strings',
  integer: 'whole numbers',
  number: 'numbers',
  boolean: 'booleans',
  object: 'mappings',
  array: 'lists',
};

function rangeText(n: JsonSchemaNode, integer: boolean): string {
  const min = typeof n.minimum === 'number' ? n.minimum : undefined;
  const xmin = typeof n.exclusiveMinimum === 'number' ? n.exclusiveMinimum : undefined;
  // zod writes MAX_SAFE_INTEGER as the upper bound of every int; it says nothing to a user.
  const max = typeof n.maximum === 'number' && n.maximum < Number.MAX_SAFE_INTEGER ? n.maximum : undefined;
  const xmax = typeof n.exclusiveMaximum === 'number' ? n.exclusiveMaximum : undefined;
  let low = '';
  if (min !== undefined) low = `from ${min}`;
  else if (xmin !== undefined) low = integer ? `from ${Math.floor(xmin) + 1}` : `above ${xmin}`;
  let high = '';
  if (max !== undefined) high = low.startsWith('from') ? `to ${max}` : `at most ${max}`;
  else if (xmax !== undefined) high = `below ${xmax}`;
  if (low !== '' && high !== '') return low.startsWith('from') && high.startsWith('to') ? ` ${low} ${high}` : ` ${low} and ${high}`;
  if (low !== '') return low.startsWith('from') ? ` ${low} and up` : ` ${low}`;
  return high === '' ? '' : ` ${high}`;
}

function describeType(type: string, n: JsonSchemaNode, alone = true): string {
  switch (type) {
    case 'integer':
      return `a whole number${rangeText(n, true)}`;
    case 'number':
      return `a number${rangeText(n, false)}`;
    case 'boolean':
      return alone ? 'true or false' : 'a boolean';
    case 'null':
      return 'null';
    case 'string': {
      if (n.format === 'uri') return 'a URL';
      if (typeof n.pattern === 'string') return `a string matching /${n.pattern}/`;
      return typeof n.minLength === 'number' && n.minLength > 0 ? 'a non-empty string' : 'a string';
    }
    case 'array': {
      const items = isNode(n.items) ? n.items : undefined;
      const itemType = items !== undefined && typeof items.type === 'string' ? PLURAL[items.type] : undefined;
      const nonEmpty = typeof n.minItems === 'number' && n.minItems > 0 ? 'non-empty ' : '';
      return `a ${nonEmpty}list${itemType === undefined ? '' : ` of ${itemType}`}`;
    }
    case 'object':
      return 'a mapping';
    default:
      return `a ${type}`;
  }
}

function joinOr(parts: string[]): string {
  const uniq = [...new Set(parts)];
  if (uniq.length <= 1) return uniq[0] ?? 'any value';
  return `${uniq.slice(0, -1).join(', ')} or ${uniq.at(-1)}`;
}

/** What a schema node accepts, in words: `a whole number from 1 and up or "auto"`. */
export function describeExpected(n: JsonSchemaNode): string {
  if ('const' in n) return JSON.stringify(n.const);
  if (Array.isArray(n.enum)) {
    const vals = n.enum.map((v) => JSON.stringify(v));
    return vals.length === 1 ? (vals[0] ?? '') : `one of ${joinOr(vals)}`;
  }
  const alts = n.anyOf ?? n.oneOf;
  if (Array.isArray(alts)) {
    // Literals read best last: `a whole number from 1 and up or "auto"`.
    const descs = alts.filter(isNode).map((a) => ({ lit: 'const' in a || 'enum' in a, text: describeExpected(a) }));
    descs.sort((a, b) => Number(a.lit) - Number(b.lit));
    return joinOr(descs.map((d) => d.text));
  }
  const type = n.type;
  if (typeof type === 'string') return describeType(type, n);
  if (Array.isArray(type)) return joinOr(type.map((t) => describeType(String(t), n, false)));
  return 'any value';
}
