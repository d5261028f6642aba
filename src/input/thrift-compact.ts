/**
 * A minimal reader of Thrift's compact protocol, enough to walk a Parquet footer (parquet-footer.ts):
 * struct fields by id, with every other value skipped. Spec:
 * https://github.com/apache/thrift/blob/master/doc/specs/thrift-compact-protocol.md
 *   - a field header is one byte: the field id's delta from the previous field in the high nibble
 *     (0: a zigzag varint i16 id follows) and the type in the low nibble; type 0 is STOP;
 *   - types: 1/2 bool true/false (the value is the type), 3 i8, 4 i16, 5 i32, 6 i64 (zigzag varints),
 *     7 double (8 bytes), 8 binary (varint length, bytes), 9 list, 10 set, 11 map, 12 struct;
 *   - a list/set header is one byte: size in the high nibble (15: a varint size follows), element
 *     type in the low one; a map header is a varint size, then (if not 0) one byte of key/value types.
 */
import { SparkinferError } from '../errors.ts';

export const T = {
  STOP: 0,
  TRUE: 1,
  FALSE: 2,
  I8: 3,
  I16: 4,
  I32: 5,
  I64: 6,
  DOUBLE: 7,
  BINARY: 8,
  LIST: 9,
  SET: 10,
  MAP: 11,
  STRUCT: 12,
} as const;

/** Malformed or truncated input. */
export class ThriftError extends SparkinferError {
  readonly code = 'E_INPUT';
}

/** Nesting deeper than this is refused rather than followed (a corrupt footer). */
const MAX_DEPTH = 64;

export class CompactReader {
  private pos = 0;
  private readonly buf: Uint8Array;
  constructor(buf: Uint8Array) {
    this.buf = buf;
  }

  private byte(): number {
    const b = this.buf[this.pos];
    if (b === undefined) throw new ThriftError(`truncated at byte ${this.pos}`);
    this.pos++;
    return b;
  }

  /** An unsigned varint (LEB128), as a number: sizes and lengths, which fit. */
  varint(): number {
    let result = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      const b = this.byte();
      result += (b & 0x7f) * mul;
      if ((b & 0x80) === 0) return result;
      mul *= 128;
    }
    throw new ThriftError('varint longer than 10 bytes');
  }

  /** A zigzag varint (i16, i32; i64 loses precision beyond 2^53, which the footer walk never needs). */
  zigzag(): number {
    const n = this.varint();
    return n % 2 === 0 ? n / 2 : -(n + 1) / 2;
  }

  /** A binary or string value. */
  binary(): Uint8Array {
    const len = this.varint();
    if (this.pos + len > this.buf.length) throw new ThriftError(`truncated binary of ${len} bytes at byte ${this.pos}`);
    const out = this.buf.subarray(this.pos, this.pos + len);
    this.pos += len;
    return out;
  }

  string(): string {
    return new TextDecoder('utf-8', { fatal: false }).decode(this.binary());
  }

  /** A list or set header: element type and count. */
  listHeader(): { type: number; size: number } {
    const b = this.byte();
    const short = b >> 4;
    return { type: b & 0x0f, size: short === 15 ? this.varint() : short };
  }

  /**
   * Reads one struct, calling `onField(id, type)` for each field; `onField` reads the value and
   * returns true, or returns false to have it skipped.
   */
  struct(onField: (id: number, type: number) => boolean, depth = 0): void {
    if (depth > MAX_DEPTH) throw new ThriftError('nesting too deep');
    let last = 0;
    for (;;) {
      const b = this.byte();
      const type = b & 0x0f;
      if (type === T.STOP) return;
      const delta = b >> 4;
      const id = delta === 0 ? this.zigzag() : last + delta;
      last = id;
      if (!onField(id, type)) this.skip(type, depth + 1);
    }
  }

  /** Skips one value of `type` (as a field: booleans carry no byte). */
  skip(type: number, depth = 0, inCollection = false): void {
    if (depth > MAX_DEPTH) throw new ThriftError('nesting too deep');
    switch (type) {
      case T.TRUE:
      case T.FALSE:
        if (inCollection) this.byte();
        return;
      case T.I8:
        this.byte();
        return;
      case T.I16:
      case T.I32:
      case T.I64:
        this.varint();
        return;
      case T.DOUBLE:
        this.take(8);
        return;
      case T.BINARY:
        this.binary();
        return;
      case T.LIST:
      case T.SET: {
        const h = this.listHeader();
        for (let i = 0; i < h.size; i++) this.skip(h.type, depth + 1, true);
        return;
      }
      case T.MAP: {
        const size = this.varint();
        if (size === 0) return;
        const kv = this.byte();
        for (let i = 0; i < size; i++) {
          this.skip(kv >> 4, depth + 1, true);
          this.skip(kv & 0x0f, depth + 1, true);
        }
        return;
      }
      case T.STRUCT:
        this.struct(() => false, depth + 1);
        return;
      default:
        throw new ThriftError(`unknown compact type ${type} at byte ${this.pos}`);
    }
  }

  private take(n: number): void {
    if (this.pos + n > this.buf.length) throw new ThriftError(`truncated at byte ${this.pos}`);
    this.pos += n;
  }
}
