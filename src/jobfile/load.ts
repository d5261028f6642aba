/**
 * Loading a job file: YAML (with source positions) → `--set` overrides → checks that need the
 * source (unquoted templates) → zod validation → the caller's extra checks. Every problem found is
 * reported at once, one line each, as `job.yaml:12:9 engine.concurrency: expected …, got "fast" (string)`,
 * or `--set engine.concurrency=0: engine.concurrency: expected …` for an overridden value.
 * The rules that need code above this folder (the response schema subset, template syntax) come in
 * as `JobFileRules` from src/validate/, which is what the rest of src/ calls.
 */
import { readFileSync } from 'node:fs';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, visit } from 'yaml';
import type { Document, Node as YamlNode } from 'yaml';
import type { core } from 'zod';
import { SpecError } from '../errors.ts';
import { closest } from './did-you-mean.ts';
import { describeExpected, knownFields, schemaAt } from './json-schema.ts';
import { applyOverrides } from './overrides.ts';
import type { SetOverride } from './overrides.ts';
import { addStandIns } from './dataframe.ts';
import { JobSpec } from './schema.ts';
import type { Job } from './schema.ts';

export interface LoadOptions {
  /** `--set PATH=VALUE` overrides, applied in order before validation. Default none. */
  set?: readonly string[];
  /** The job of `infer(df, job)`: `input` and `output` may be left out (dataframe.ts). Default false. */
  dataframe?: boolean;
}

/** Rules added by the caller (src/validate/job.ts): a stricter schema, checks on the raw job. */
export interface JobFileRules {
  /** The schema to validate with. Default `JobSpec`, the schema alone. */
  schema?: typeof JobSpec;
  /** Run after zod, on the raw job (defaults not applied), whether zod passed or not. */
  checkRaw?: (raw: unknown, add: (path: Path, message: string) => void) => void;
}

/** YAML aliases expanded in one document before we call it a resource-exhaustion attack. */
const MAX_ALIAS_COUNT = 100;

export type Path = (string | number)[];

/** One reported problem; `offset` is undefined for problems that come from a `--set`. */
interface Problem {
  offset: number | undefined;
  setIndex: number;
  seq: number;
  text: string;
}

/** Reads and validates a job file. @throws SpecError listing every problem found. */
export function loadJobFile(path: string, options: LoadOptions = {}, rules: JobFileRules = {}): Job {
  return loadLocatedJobFile(path, options, rules).job;
}

/** `prompt.messages[0].content` */
export function formatPath(path: readonly (string | number)[]): string {
  if (path.length === 0) return '(job)';
  return path.map((s, i) => (typeof s === 'number' ? `[${s}]` : i === 0 ? s : `.${s}`)).join('');
}

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'list';
  return typeof v === 'object' ? 'mapping' : typeof v;
}

/** `"fast" (string)`, `0 (number)`, `{"a":1} (mapping)`: the bad value, quoted, with its type. */
export function showValue(v: unknown): string {
  let s = typeof v === 'string' ? JSON.stringify(v) : v === undefined ? 'nothing' : (JSON.stringify(v) ?? String(v));
  if (s.length > 60) s = `${s.slice(0, 57)}…${typeof v === 'string' ? '"' : ''}`;
  return `${s} (${typeName(v)})`;
}

function valueAt(root: unknown, path: Path): unknown {
  let v = root;
  for (const seg of path) {
    if (typeof v !== 'object' || v === null) return undefined;
    v = (v as Record<string | number, unknown>)[seg];
  }
  return v;
}

function startsWith(path: Path, prefix: Path): boolean {
  return prefix.length <= path.length && prefix.every((s, i) => String(s) === String(path[i]));
}

/** The known field a typo most likely meant, if one is close enough. */
function suggestField(parent: Path, key: string): string | undefined {
  return closest(key, knownFields(parent));
}

function unknownFieldText(parent: Path, key: string): string {
  const best = suggestField(parent, key);
  if (best !== undefined) return `unknown field; did you mean ${JSON.stringify(best)}?`;
  const known = knownFields(parent);
  return known.length > 0 ? `unknown field; expected one of ${known.join(', ')}` : 'unknown field';
}

/** Index of `word` in `s` where it is not part of a longer identifier. */
function wholeWordIndex(s: string, word: string): number | undefined {
  for (let i = s.indexOf(word); i >= 0; i = s.indexOf(word, i + 1)) {
    const before = s[i - 1] ?? '';
    const after = s[i + word.length] ?? '';
    if (!/[A-Za-z0-9_]/.test(before) && !/[A-Za-z0-9_]/.test(after)) return i;
  }
  return undefined;
}

/** Builds problem lines against the document and the `--set` overrides. */
class Reporter {
  readonly problems: Problem[] = [];
  private readonly doc: Document;
  private readonly lc: LineCounter;
  private readonly file: string;
  private readonly overrides: SetOverride[];
  private readonly text: string;
  constructor(doc: Document, lc: LineCounter, file: string, overrides: SetOverride[], text: string) {
    this.doc = doc;
    this.text = text;
    this.lc = lc;
    this.file = file;
    this.overrides = overrides;
  }

  private pos(offset: number): string {
    const { line, col } = this.lc.linePos(offset);
    return `${this.file}:${line}:${col}`;
  }

  /** The override that wrote `path` (the latest one at or above it). */
  private overrideFor(path: Path): SetOverride | undefined {
    for (let i = this.overrides.length - 1; i >= 0; i--) {
      const o = this.overrides[i] as SetOverride;
      if (startsWith(path, o.path)) return o;
    }
    return undefined;
  }

  /**
   * Where a path is in the source: the value's node, the key's node when `atKey` (unknown
   * fields), or the parent's key when the path does not exist (missing fields). A node that a
   * `--set` created has no range; then `createdAt` is its path, for the caller to name the `--set`.
   */
  private locate(path: Path, atKey: boolean): { offset: number } | { createdAt: Path } {
    let node: unknown = this.doc.contents;
    let anchor = (node as YamlNode | null)?.range?.[0] ?? 0;
    for (let i = 0; i < path.length; i++) {
      const seg = path[i];
      let keyStart: number | undefined;
      let next: unknown;
      if (isMap(node)) {
        // Keys that --set created are plain strings rather than Scalar nodes.
        const pair = node.items.find((p) => String(isScalar(p.key) ? p.key.value : p.key) === String(seg));
        if (pair === undefined) return { offset: anchor };
        keyStart = (pair.key as YamlNode | null)?.range?.[0];
        next = pair.value;
      } else if (isSeq(node) && typeof seg === 'number' && node.items[seg] !== undefined) {
        next = node.items[seg];
      } else return { offset: anchor };
      const valueStart = (next as YamlNode | null)?.range?.[0];
      const last = i === path.length - 1;
      // The value for the field itself, unless the key is the problem; keys for ancestors.
      const at = last && !atKey ? (valueStart ?? keyStart) : (keyStart ?? valueStart);
      if (at === undefined) return { createdAt: path.slice(0, i + 1) };
      if (last) return { offset: at };
      anchor = at;
      node = next;
    }
    return { offset: anchor };
  }

  add(path: Path, message: string, atKey = false): void {
    this.problems.push(this.problem(path, message, atKey));
  }

  /**
   * The line for a problem at `path`, not recorded: `job.yaml:4:9 prompt.user: …`. With `needle`,
   * the position is that of its first whole-word occurrence in the value's source, when there is one
   * (a column's name inside a template).
   */
  problem(path: Path, message: string, atKey = false, needle?: string): Problem {
    const field = formatPath(path);
    const seq = this.problems.length;
    const o = this.overrideFor(path);
    const loc = o === undefined ? this.locate(path, atKey) : undefined;
    if (loc !== undefined && 'offset' in loc) {
      const offset = needle === undefined ? loc.offset : (this.findIn(loc.offset, needle) ?? loc.offset);
      return { offset, setIndex: 0, seq, text: `${this.pos(offset)} ${field}: ${message}` };
    }
    // Under a --set: name the override at or above the path, else the one that created its parent.
    const created = loc?.createdAt;
    const set = o ?? (created === undefined ? undefined : [...this.overrides].reverse().find((x) => startsWith(x.path, created)));
    const where = set === undefined ? `${this.file}:1:1` : `--set ${set.arg}:`;
    return {
      offset: undefined,
      setIndex: set === undefined ? -1 : this.overrides.indexOf(set),
      seq,
      text: `${where} ${field}: ${message}`,
    };
  }

  /** Offset of `needle` as a whole word in the node that starts at `start`. */
  private findIn(start: number, needle: string): number | undefined {
    const text = this.text;
    let found: number | undefined;
    visit(this.doc, {
      Scalar(_, node) {
        const r = node.range;
        if (found !== undefined || r === undefined || r === null || r[0] !== start) return;
        const src = text.slice(r[0], r[1]);
        const at = wholeWordIndex(src, needle);
        if (at !== undefined) found = start + at;
        return visit.BREAK;
      },
    });
    return found;
  }

  addAt(offset: number, message: string): void {
    this.problems.push({ offset, setIndex: 0, seq: this.problems.length, text: `${this.pos(offset)}: ${message}` });
  }

  lines(): string[] {
    const far = Number.MAX_SAFE_INTEGER;
    return (
      [...this.problems]
        // File problems by position, then --set problems in --set order.
        .sort((a, b) => (a.offset ?? far) - (b.offset ?? far) || a.setIndex - b.setIndex || a.seq - b.seq)
        .map((p) => p.text)
        .filter((t, i, all) => all.indexOf(t) === i)
    );
  }
}

/** A hint for YAML syntax errors on a line holding an unquoted template. */
function templateHint(line: string): string {
  if (!line.includes('{{') && !line.includes('{%')) return '';
  const m = /^\s*(?:-\s+)?([A-Za-z0-9_.-]+):\s+(.*?)\s*$/.exec(line);
  const fix = m === null ? '' : `: write ${m[1]}: ${JSON.stringify(m[2])}`;
  return ` (a Jinja template must be a quoted string${fix})`;
}

function syntaxErrors(doc: Document, lc: LineCounter, text: string, file: string): string[] {
  const lines = text.split(/\r?\n/);
  const out = doc.errors.map((e) => {
    const { line, col } = lc.linePos(e.pos[0]);
    let detail = '';
    if (e.code === 'DUPLICATE_KEY') {
      const key = /^\s*("(?:[^"\\]|\\.)*"|'[^']*'|[^:\n]+?)\s*:/.exec(text.slice(e.pos[0]));
      if (key !== null) detail = `: ${key[1]} is given twice`;
    }
    return { at: e.pos[0], line, text: `${file}:${line}:${col}: ${e.message}${detail}${templateHint(lines[line - 1] ?? '')}` };
  });
  out.sort((a, b) => a.at - b.at);
  // Later errors on the same line are usually the same mistake seen again.
  return out.filter((o, i) => out.findIndex((x) => x.line === o.line) === i).map((o) => o.text);
}

/** Flow mappings that start with `{{`: an unquoted Jinja template read as YAML. */
function findUnquotedTemplates(doc: Document, text: string, report: Reporter): Path[] {
  const found: Path[] = [];
  const walk = (node: unknown, path: Path): void => {
    if (isMap(node)) {
      const r = node.range;
      if (node.flow === true && r !== undefined && r !== null) {
        const src = text.slice(r[0], r[1]).trim();
        if (src.startsWith('{{') || src.startsWith('{%')) {
          const last = path.at(-1);
          const write = typeof last === 'string' ? `${last}: ${JSON.stringify(src)}` : `- ${JSON.stringify(src)}`;
          report.add(path, `a Jinja template must be a quoted string: write ${write}`);
          found.push(path);
          return;
        }
      }
      for (const p of node.items) if (isScalar(p.key)) walk(p.value, [...path, String(p.key.value)]);
    } else if (isSeq(node)) {
      node.items.forEach((item, i) => {
        walk(item, [...path, i]);
      });
    }
  };
  walk(doc.contents, []);
  return found;
}

/** Offset of the alias that toJS choked on: an unresolved one, else the first. */
function aliasOffset(doc: Document): number {
  let first: number | undefined;
  let unresolved: number | undefined;
  visit(doc, {
    Alias(_, node) {
      const at = node.range?.[0];
      first ??= at;
      if (unresolved === undefined && node.resolve(doc) === undefined) unresolved = at;
    },
  });
  return unresolved ?? first ?? 0;
}

function issuePath(issue: core.$ZodIssue): Path {
  return issue.path.map((s) => (typeof s === 'symbol' ? String(s) : s));
}

/**
 * @param typoTargets `a.b` paths that an unknown field's "did you mean" names: their "missing"
 *   issue is the same mistake, so it is not reported twice.
 */
function reportIssue(issue: core.$ZodIssue, raw: unknown, report: Reporter, typoTargets: ReadonlySet<string>): void {
  const path = issuePath(issue);
  if (issue.code === 'unrecognized_keys') {
    for (const key of issue.keys) report.add([...path, key], unknownFieldText(path, key), true);
    return;
  }
  const value = valueAt(raw, path);
  const schema = schemaAt(path);
  const expected = schema === undefined ? undefined : describeExpected(schema);
  // zod's own messages start like "Invalid input: …"/"Too small: …"; ours start with "expected".
  const generated = issue.code !== 'custom' && /^(Invalid|Too (small|big)|Unrecognized)/.test(issue.message);
  if (value === undefined && issue.code === 'invalid_type') {
    if (typoTargets.has(path.join('.'))) return;
    report.add(path, `missing required field${expected === undefined ? '' : `; expected ${expected}`}`);
    return;
  }
  let message = issue.message;
  if (generated) message = `expected ${expected ?? issue.message.replace(/^Invalid input: /, '')}`;
  if (/^expected\b/.test(message) && !/\bgot\b/.test(message) && value !== undefined) message += `, got ${showValue(value)}`;
  report.add(path, message);
}

/**
 * Parses and validates job YAML.
 * @param fileName Used in messages (`job.yaml:3:5 …`).
 * @param set `--set PATH=VALUE` overrides, applied in order before validation.
 * @throws SpecError listing every problem, one per line, sorted by position.
 */
export function parseJobText(text: string, fileName: string, set: readonly string[] = [], rules: JobFileRules = {}): Job {
  return parseLocated(text, fileName, { set }, rules).job;
}

/**
 * A loaded job with a way to name the spot in the file (or the `--set`) that a field came from, for
 * checks made after loading (src/job/preflight.ts): `where(['prompt', 'user'], 'msg', 'questoin')`
 * gives `job.yaml:4:12 prompt.user: msg`.
 */
export interface LocatedJob {
  job: Job;
  /** The fields the loader filled for `dataframe: true` (dataframe.ts); none otherwise. */
  standIns: Path[];
  where(path: Path, message: string, opts?: { atKey?: boolean; needle?: string }): string;
}

/** loadJobFile, keeping the positions. @throws SpecError as loadJobFile does. */
export function loadLocatedJobFile(path: string, options: LoadOptions = {}, rules: JobFileRules = {}): LocatedJob {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new SpecError(`${path}: cannot read the job file: ${(err as Error).message}`, { cause: err });
  }
  return parseLocated(text, path, options, rules);
}

function parseLocated(text: string, fileName: string, options: LoadOptions, rules: JobFileRules): LocatedJob {
  const set = options.set ?? [];
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true, logLevel: 'error', schema: 'core' });
  if (doc.errors.length > 0) throw new SpecError(syntaxErrors(doc, lc, text, fileName).join('\n'));
  const root = doc.contents;
  if (root === null && set.length === 0)
    throw new SpecError(`${fileName}:1:1: the job file is empty; expected a mapping with name, input, prompt, model, engine and output`);
  if (root !== null && !isMap(root)) {
    const { line, col } = lc.linePos(root.range?.[0] ?? 0);
    throw new SpecError(
      `${fileName}:${line}:${col}: expected a mapping of job settings (name, input, prompt, …) at the top level, got ${isSeq(root) ? 'a list' : 'a single value'}`,
    );
  }

  const overrides = applyOverrides(doc, set);
  const report = new Reporter(doc, lc, fileName, overrides, text);
  const templatePaths = findUnquotedTemplates(doc, text, report);

  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (err) {
    report.addAt(aliasOffset(doc), (err as Error).message);
    throw new SpecError(report.lines().join('\n'), { cause: err });
  }

  const standIns = options.dataframe === true ? addStandIns(raw) : [];
  const parsed = (rules.schema ?? JobSpec).safeParse(raw ?? {});
  if (!parsed.success) {
    const typoTargets = new Set<string>();
    for (const issue of parsed.error.issues) {
      if (issue.code !== 'unrecognized_keys') continue;
      for (const key of issue.keys) {
        const best = suggestField(issuePath(issue), key);
        if (best !== undefined) typoTargets.add([...issuePath(issue), best].join('.'));
      }
    }
    for (const issue of parsed.error.issues) {
      // An unquoted template was reported already, in better words; that includes a union or
      // type error on its parent (a list of strings holding one).
      const ip = issuePath(issue);
      const ancestorOfTemplate =
        (issue.code === 'invalid_union' || issue.code === 'invalid_type') && templatePaths.some((p) => startsWith(p, ip));
      if (ancestorOfTemplate || templatePaths.some((p) => startsWith(ip, p))) continue;
      reportIssue(issue, raw, report, typoTargets);
    }
  }
  rules.checkRaw?.(raw, (p, message) => report.add(p, message));
  if (report.problems.length > 0 || !parsed.success) throw new SpecError(report.lines().join('\n'));
  return { job: parsed.data, standIns, where: (p, message, o = {}) => report.problem(p, message, o.atKey, o.needle).text };
}
