/**
 * `--set a.b=value` overrides, applied to the parsed YAML document before validation, so an
 * overridden value is validated exactly like one written in the file.
 *
 * - The value is YAML: `16` is a number, `true` a boolean, `[a, b]` a list, `"x"` a string.
 *   A value that starts with `{{` or `{%` is a template and stays a string, and so does one that
 *   would parse as a block mapping or list (`--set prompt.system=Note: be brief`).
 *   An empty value, `null` and `~` are null.
 * - Numeric segments index lists: `output.include.0=x`; the index may be one past the end (append).
 * - Keys of a mapping whose values are scalars (`spark.conf`, `input.options`) may contain dots:
 *   `--set spark.conf.spark.executor.memory=4g` sets the key `spark.executor.memory`.
 */
import { type Document, isMap, isScalar, isSeq, parseDocument } from 'yaml';
import type { Node as YamlNode } from 'yaml';
import { SpecError } from '../errors.ts';
import { schemaAt } from './json-schema.ts';

/** One applied override, kept so that validation errors can name it instead of a file position. */
export interface SetOverride {
  /** The argument as given: `engine.concurrency=16`. */
  arg: string;
  /** Path in the job: `['engine', 'concurrency']`, `['output', 'include', 0]`. */
  path: (string | number)[];
}

/** Splits `a.b=value` into its path segments and value text. */
export function parseSetArg(arg: string): { segments: string[]; valueText: string } {
  const eq = arg.indexOf('=');
  const pathText = eq < 0 ? arg : arg.slice(0, eq);
  if (eq < 0) throw new SpecError(`--set ${arg}: expected PATH=VALUE, like --set engine.concurrency=16`);
  const segments = pathText.trim().split('.');
  if (pathText.trim() === '' || segments.some((s) => s === '' || /\s/.test(s))) {
    throw new SpecError(
      `--set ${arg}: expected a dotted path before "=", like engine.concurrency or output.include.0, got ${JSON.stringify(pathText)}`,
    );
  }
  return { segments, valueText: arg.slice(eq + 1) };
}

/** Parses a `--set` value as YAML (see the module comment for the rules). */
export function parseSetValue(text: string, arg: string): unknown {
  const t = text.trim();
  if (t.startsWith('{{') || t.startsWith('{%')) return text;
  const doc = parseDocument(text, { prettyErrors: false, logLevel: 'error', uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new SpecError(`--set ${arg}: cannot read the value as YAML: ${doc.errors[0]?.message ?? 'syntax error'}; quote it for a string`);
  }
  const c = doc.contents;
  if (c === null) return null;
  if (isScalar(c)) return c.value;
  // Flow collections (`[a, b]`, `{k: v}`) are meant as such; block ones are text with a colon or dash.
  if ((isMap(c) || isSeq(c)) && c.flow === true) return doc.toJS({ maxAliasCount: 100 });
  return text;
}

function kindOf(node: unknown): string {
  if (isMap(node)) return 'a mapping';
  if (isSeq(node)) return 'a list';
  if (isScalar(node)) {
    const v = node.value;
    return v === null
      ? 'null'
      : typeof v === 'string'
        ? 'a string'
        : typeof v === 'number'
          ? 'a number'
          : typeof v === 'boolean'
            ? 'a boolean'
            : 'a value';
  }
  return 'a value';
}

/** True when the schema at `path` is a mapping whose values are scalars (so its keys may hold dots). */
function isScalarRecord(path: readonly (string | number)[]): boolean {
  const s = schemaAt(path);
  if (s === undefined || s.properties !== undefined) return false;
  const ap = s.additionalProperties;
  if (typeof ap !== 'object' || ap === null) return false;
  const type = (ap as Record<string, unknown>).type;
  const types = Array.isArray(type) ? type : [type];
  return types.length > 0 && types.every((t) => t === 'string' || t === 'number' || t === 'integer' || t === 'boolean');
}

/** Resolves textual segments to a path of keys and indexes against the document. */
function resolvePath(doc: Document, segments: string[], arg: string): (string | number)[] {
  const path: (string | number)[] = [];
  let node: unknown = doc.contents;
  for (let i = 0; i < segments.length; i++) {
    const seg = segments[i] as string;
    const where = path.length === 0 ? 'the job' : `\`${path.join('.')}\``;
    if (isScalarRecord(path) && (node === undefined || node === null || isMap(node))) {
      path.push(segments.slice(i).join('.'));
      return path;
    }
    if (node === undefined || node === null) {
      // Creating new collections: a numeric segment starts a list, which must start at 0.
      if (/^\d+$/.test(seg)) {
        if (seg !== '0') throw new SpecError(`--set ${arg}: ${where} does not exist, so the only index it can take is 0, got ${seg}`);
        path.push(0);
      } else path.push(seg);
      continue;
    }
    if (isSeq(node)) {
      if (!/^\d+$/.test(seg))
        throw new SpecError(`--set ${arg}: ${where} is a list; expected an index like ${path.join('.')}.0, got ${JSON.stringify(seg)}`);
      const idx = Number(seg);
      if (idx > node.items.length)
        throw new SpecError(
          `--set ${arg}: ${where} has ${node.items.length} item(s); expected an index from 0 to ${node.items.length}, got ${idx}`,
        );
      path.push(idx);
      node = node.items[idx];
      continue;
    }
    if (isMap(node)) {
      path.push(seg);
      node = node.get(seg, true);
      continue;
    }
    throw new SpecError(`--set ${arg}: ${where} is ${kindOf(node)}, not a mapping, so it has no field ${JSON.stringify(seg)}`);
  }
  return path;
}

/**
 * Applies `--set` overrides to a parsed job document, in order (a later one wins).
 * @throws SpecError naming the `--set` argument on a bad path or an unreadable value.
 */
export function applyOverrides(doc: Document, set: readonly string[]): SetOverride[] {
  const applied: SetOverride[] = [];
  for (const arg of set) {
    const { segments, valueText } = parseSetArg(arg);
    if (doc.contents !== null && !isMap(doc.contents)) throw new SpecError(`--set ${arg}: the job file is not a mapping`);
    const path = resolvePath(doc, segments, arg);
    const value = parseSetValue(valueText, arg);
    // createNode gives nodes without source ranges: errors inside them name the --set instead.
    doc.setIn(path, doc.createNode(value) as YamlNode);
    applied.push({ arg, path });
  }
  return applied;
}
