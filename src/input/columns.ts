/**
 * The columns a job's input will have, read without Spark where the format allows: JSON Lines (the
 * keys of its records), CSV (the first record, under the job's reader options), Parquet (the
 * footer's schema), text (`value`); plus the partition columns of `k=v` folders. Everything else
 * (tables, SQL, ORC, object stores) is "not checked", with the reason.
 */
import type { Job } from '../jobfile/schema.ts';
import { csvColumns, option } from './csv-header.ts';
import { listInput, localPathOf, type Listing } from './files.ts';
import { jsonKeys } from './json-keys.ts';
import { ParquetFooterError, parquetColumns } from './parquet-footer.ts';

/** Parquet footers read before we stop and call the columns incomplete. */
const MAX_FOOTERS = 64;

export type InputColumns =
  /** The path names nothing. */
  | { kind: 'missing'; message: string }
  /** Columns cannot be known before the run; `reason` says why. */
  | { kind: 'unchecked'; reason: string }
  /**
   * The columns found. `exact`: every file that decides them was read, so a name not among them is
   * missing for certain; otherwise it is only not seen.
   */
  | { kind: 'columns'; columns: string[]; exact: boolean };

const COMPRESSED = /\.(gz|bz2|deflate|lz4|snappy|zst|zstd|xz|br)$/i;

function fileColumns(
  format: Job['input']['format'],
  files: readonly string[],
  opts: Job['input']['options'],
): InputColumns | { columns: string[]; exact: boolean } {
  if (format === 'text') return { columns: ['value'], exact: true };
  if ((format === 'json' || format === 'csv') && files.some((f) => COMPRESSED.test(f)))
    return { kind: 'unchecked', reason: 'compressed files are not read here' };
  if (format === 'json') {
    const enc = option(opts, 'encoding', 'charset');
    if (enc !== undefined && !/^utf-?8$/i.test(enc)) return { kind: 'unchecked', reason: `encoding ${enc} is not read here` };
    const r = jsonKeys(files, (option(opts, 'multiline') ?? 'false').toLowerCase() === 'true');
    return 'unchecked' in r ? { kind: 'unchecked', reason: r.unchecked } : { columns: r.keys, exact: r.complete };
  }
  if (format === 'csv') {
    const heads = files.slice(0, MAX_FOOTERS).map((f) => csvColumns(f, opts));
    const first = heads[0];
    if (first === undefined || 'unchecked' in first) return { kind: 'unchecked', reason: first?.unchecked ?? 'no files' };
    // Spark takes the header from one file; when the files disagree, any of them may be it.
    const same = heads.every((h) => 'columns' in h && h.columns.join('\0') === first.columns.join('\0'));
    return { columns: first.columns, exact: same && files.length <= MAX_FOOTERS };
  }
  // Parquet: the union of the footers read (without mergeSchema Spark takes one file's schema).
  const all = new Set<string>();
  try {
    for (const f of files.slice(0, MAX_FOOTERS)) for (const c of parquetColumns(f)) all.add(c);
  } catch (err) {
    if (err instanceof ParquetFooterError) return { kind: 'unchecked', reason: `a Parquet file could not be read here: ${err.message}` };
    throw err;
  }
  return { columns: [...all], exact: files.length <= MAX_FOOTERS };
}

/** What we can say about the columns of `input`, whose `path` is already resolved against the job file's folder. */
export function inputColumns(input: Job['input']): InputColumns {
  const { format } = input;
  if (format === 'table') return { kind: 'unchecked', reason: 'a table: its columns are in the metastore' };
  if (format === 'sql') return { kind: 'unchecked', reason: 'a SQL query: its columns are known when Spark plans it' };
  const path = input.path;
  if (path === undefined) return { kind: 'unchecked', reason: 'no path' };
  const local = localPathOf(path);
  if (local === undefined) return { kind: 'unchecked', reason: `${path} is on an object store, read by Spark only` };
  if (option(input.options, 'pathglobfilter', 'modifiedbefore', 'modifiedafter', 'basepath') !== undefined)
    return { kind: 'unchecked', reason: 'the reader options filter or re-root the files' };
  const listing: Listing = listInput(local, (option(input.options, 'recursivefilelookup') ?? '').toLowerCase() === 'true');
  if (listing.kind !== 'files') return listing;
  if (format === 'orc') return { kind: 'unchecked', reason: 'ORC schemas are read by Spark only' };
  if (format === 'openai-batch') return { kind: 'unchecked', reason: 'an OpenAI Batch file has a fixed shape' };
  const r = fileColumns(format, listing.files, input.options);
  if ('kind' in r) return r;
  const columns = [...r.columns, ...listing.partitions.filter((p) => !r.columns.includes(p))];
  return { kind: 'columns', columns, exact: r.exact && listing.exact };
}
