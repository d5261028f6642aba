/**
 * The top-level column names of a Parquet file, from its footer, without Spark. Layout, from the
 * Parquet format spec (https://github.com/apache/parquet-format, README "File Format" and
 * src/main/thrift/parquet.thrift):
 *
 *     "PAR1" <column chunks …> <FileMetaData> <4-byte little-endian length of FileMetaData> "PAR1"
 *
 * FileMetaData is a Thrift struct in the compact protocol (thrift-compact.ts). We read:
 *   - FileMetaData field 2, `schema: list<SchemaElement>`: the schema tree flattened depth first,
 *     its first element the root;
 *   - SchemaElement field 4, `name: string`, and field 5, `num_children: i32` (present on groups
 *     only; a leaf has none). The root's children are the top-level columns; a nested group's own
 *     children follow it and are skipped.
 * An encrypted footer (magic "PARE") is not read.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { CompactReader, T, ThriftError } from './thrift-compact.ts';
import { SparkinferError } from '../errors.ts';

const MAGIC = 'PAR1';
/** A footer larger than this is not read (a corrupt length, or a file not worth it for a check). */
const MAX_FOOTER_BYTES = 64 * 1024 * 1024;

/** The file is not a readable Parquet file; the message says why. */
export class ParquetFooterError extends SparkinferError {
  readonly code = 'E_INPUT';
}

interface SchemaElement {
  name: string;
  numChildren: number;
}

function readAt(fd: number, position: number, length: number): Buffer {
  const buf = Buffer.alloc(length);
  let got = 0;
  while (got < length) {
    const n = readSync(fd, buf, got, length - got, position + got);
    if (n === 0) break;
    got += n;
  }
  if (got < length) throw new ParquetFooterError(`short read at byte ${position}`);
  return buf;
}

/** The raw FileMetaData bytes of the Parquet file at `path`. @throws ParquetFooterError */
export function readFooterBytes(path: string): Buffer {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    if (size < 12) throw new ParquetFooterError(`${size} bytes is too short for a Parquet file`);
    const tail = readAt(fd, size - 8, 8);
    const magic = tail.subarray(4).toString('latin1');
    if (magic === 'PARE') throw new ParquetFooterError('the footer is encrypted');
    if (magic !== MAGIC) throw new ParquetFooterError(`it does not end with ${MAGIC}`);
    const len = tail.readUInt32LE(0);
    if (len > size - 12 || len > MAX_FOOTER_BYTES) throw new ParquetFooterError(`footer length ${len} does not fit the file`);
    return readAt(fd, size - 8 - len, len);
  } finally {
    closeSync(fd);
  }
}

/** FileMetaData field 2 (`schema`), each element's fields 4 (`name`) and 5 (`num_children`). */
function schemaElements(footer: Uint8Array): SchemaElement[] {
  const r = new CompactReader(footer);
  let elements: SchemaElement[] | undefined;
  r.struct((id, type) => {
    if (id !== 2 || type !== T.LIST) return false;
    const h = r.listHeader();
    if (h.type !== T.STRUCT) throw new ThriftError(`schema elements of type ${h.type}, expected structs`);
    elements = [];
    for (let i = 0; i < h.size; i++) {
      const el: SchemaElement = { name: '', numChildren: 0 };
      r.struct((fid, ftype) => {
        if (fid === 4 && ftype === T.BINARY) el.name = r.string();
        else if (fid === 5 && ftype === T.I32) el.numChildren = r.zigzag();
        else return false;
        return true;
      });
      elements.push(el);
    }
    return true;
  });
  if (elements === undefined) throw new ThriftError('no schema (FileMetaData field 2)');
  return elements;
}

/** The root's children, skipping each nested group's subtree. */
function topLevelNames(elements: readonly SchemaElement[]): string[] {
  const root = elements[0];
  if (root === undefined) throw new ParquetFooterError('an empty schema');
  const names: string[] = [];
  let i = 1;
  const skipSubtree = (): void => {
    const el = elements[i++];
    if (el === undefined) throw new ParquetFooterError('the schema tree is cut short');
    for (let c = 0; c < el.numChildren; c++) skipSubtree();
  };
  for (let c = 0; c < root.numChildren; c++) {
    const el = elements[i];
    if (el === undefined) throw new ParquetFooterError('the schema tree is cut short');
    names.push(el.name);
    skipSubtree();
  }
  return names;
}

/** The top-level column names of the Parquet file at `path`, in file order. @throws ParquetFooterError */
export function parquetColumns(path: string): string[] {
  const footer = readFooterBytes(path);
  try {
    return topLevelNames(schemaElements(footer));
  } catch (err) {
    if (err instanceof ThriftError) throw new ParquetFooterError(`cannot read the footer: ${err.message}`);
    throw err;
  }
}
