/**
 * The column names Spark gives a CSV file, from its first record, without Spark. Honours the
 * reader options that decide them (keys case-insensitive, as Spark's): `header` (default false:
 * `_c0`, `_c1`, …), `sep`/`delimiter` (default `,`, several characters allowed, `\t` written out
 * works), `quote` (`"`), `escape` (`\`), `comment` (lines starting with it are skipped, as blank
 * lines are) and `encoding`/`charset` (UTF-8 only here). Names are made safe the way Spark's
 * CSVUtils.makeSafeHeader does: an empty name becomes `_c<i>`, and a name given twice (case
 * ignored) becomes `<name><i>` in every place it occurs.
 */
import { closeSync, openSync, readSync } from 'node:fs';

/** How much of a file's start we read to find the first record. */
const HEAD_BYTES = 1024 * 1024;

export type CsvOptions = Readonly<Record<string, string | number | boolean>>;

/** An option by case-insensitive key, as a string. */
export function option(opts: CsvOptions, ...keys: string[]): string | undefined {
  for (const [k, v] of Object.entries(opts)) if (keys.includes(k.toLowerCase())) return String(v);
  return undefined;
}

/** Spark's escaped forms for one-character options (`\t`, `\u0001`). */
function unescapeOption(s: string): string {
  if (s === '\\t') return '\t';
  if (s === '\\r') return '\r';
  if (s === '\\n') return '\n';
  const u = /^\\u([0-9a-fA-F]{4})$/.exec(s);
  return u === null ? s : String.fromCharCode(Number.parseInt(u[1] as string, 16));
}

function readHead(path: string): string {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(HEAD_BYTES);
    const n = readSync(fd, buf, 0, HEAD_BYTES, 0);
    return buf
      .subarray(0, n)
      .toString('utf8')
      .replace(/^\uFEFF/, '');
  } finally {
    closeSync(fd);
  }
}

/** Splits the record that starts at `at`: fields, and where the next record starts. */
function parseRecord(text: string, at: number, sep: string, quote: string, esc: string): string[] {
  const fields: string[] = [];
  let field = '';
  let i = at;
  let quoted = false;
  while (i < text.length) {
    const c = text[i] as string;
    if (quoted) {
      if (c === esc && esc !== quote && text[i + 1] === quote) {
        field += quote;
        i += 2;
      } else if (c === quote && text[i + 1] === quote) {
        field += quote;
        i += 2;
      } else if (c === quote) {
        quoted = false;
        i++;
      } else {
        field += c;
        i++;
      }
    } else if (c === quote && field === '') {
      quoted = true;
      i++;
    } else if (text.startsWith(sep, i)) {
      fields.push(field);
      field = '';
      i += sep.length;
    } else if (c === '\n' || c === '\r') break;
    else {
      field += c;
      i++;
    }
  }
  fields.push(field);
  return fields;
}

/** Spark's makeSafeHeader (caseSensitive off). */
function safeNames(raw: readonly string[]): string[] {
  const count = new Map<string, number>();
  for (const n of raw) if (n !== '') count.set(n.toLowerCase(), (count.get(n.toLowerCase()) ?? 0) + 1);
  return raw.map((n, i) => (n === '' ? `_c${i}` : (count.get(n.toLowerCase()) ?? 0) > 1 ? `${n}${i}` : n));
}

/**
 * Column names of the CSV file at `path` under the job's reader options, or a reason they cannot be
 * known here.
 */
export function csvColumns(path: string, opts: CsvOptions): { columns: string[] } | { unchecked: string } {
  const enc = option(opts, 'encoding', 'charset');
  if (enc !== undefined && !/^utf-?8$/i.test(enc)) return { unchecked: `encoding ${enc} is not read here` };
  const header = (option(opts, 'header') ?? 'false').toLowerCase() === 'true';
  const sep = unescapeOption(option(opts, 'sep', 'delimiter') ?? ',');
  const quote = unescapeOption(option(opts, 'quote') ?? '"');
  const esc = unescapeOption(option(opts, 'escape') ?? '\\');
  const comment = option(opts, 'comment');
  const text = readHead(path);
  let at = 0;
  // Blank lines and comment lines before the first record are skipped, as Spark does.
  for (;;) {
    const end = text.indexOf('\n', at);
    const line = text.slice(at, end < 0 ? text.length : end).replace(/\r$/, '');
    const skip = line.trim() === '' || (comment !== undefined && comment !== '' && line.startsWith(unescapeOption(comment)));
    if (!skip || end < 0) break;
    at = end + 1;
  }
  if (text.slice(at).trim() === '') return { unchecked: `${path} is empty` };
  const fields = parseRecord(text, at, sep, quote, esc);
  return { columns: header ? safeNames(fields) : fields.map((_, i) => `_c${i}`) };
}
