/**
 * A reader for the metadata block of a GGUF model file (versions 2 and 3): the magic `GGUF`, the
 * version (u32), the tensor count and key/value count (u64), then typed key/value pairs, all
 * little-endian. Only the metadata is read (the tensors that follow are never touched), through a
 * sliding window, so a multi-gigabyte model costs a few megabytes of reads.
 *
 * Used for client-side chat templates: `tokenizer.chat_template`, and the BOS/EOS token strings
 * (`tokenizer.ggml.bos_token_id` / `eos_token_id` indexing `tokenizer.ggml.tokens`).
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { SpecError } from '../errors.ts';

export type GgufValue = number | bigint | boolean | string | GgufValue[];

export interface GgufMetadata {
  version: number;
  tensorCount: bigint;
  /** The key/value pairs that were kept (see `keep`), in file order. */
  kv: Map<string, GgufValue>;
}

export interface ReadGgufOptions {
  /** Which keys to keep; the others are skipped without decoding. Default: all. */
  keep?: (key: string) => boolean;
  /** Window size in bytes. Default 1 MiB. */
  windowBytes?: number;
}

const MAGIC = 0x46554747; // "GGUF" read as a little-endian u32
const TYPE_NAMES = [
  'uint8',
  'int8',
  'uint16',
  'int16',
  'uint32',
  'int32',
  'float32',
  'bool',
  'string',
  'array',
  'uint64',
  'int64',
  'float64',
];
const FIXED_SIZE: Readonly<Record<number, number>> = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 };
// Sanity limits, so a corrupt file fails with a message instead of an allocation storm.
const MAX_KV = 1_000_000;
const MAX_STRING = 256 * 1024 * 1024;
const MAX_ARRAY = 100_000_000;

class WindowReader {
  readonly #fd: number;
  readonly #path: string;
  readonly #size: number;
  #buf: Buffer;
  #start = 0; // file offset of #buf[0]
  #len = 0;
  pos = 0;

  constructor(fd: number, path: string, windowBytes: number) {
    this.#fd = fd;
    this.#path = path;
    this.#size = windowBytes;
    this.#buf = Buffer.alloc(windowBytes);
  }

  /** Makes `n` bytes at `pos` available; returns their offset in the buffer. */
  #need(n: number): number {
    if (this.pos < this.#start || this.pos + n > this.#start + this.#len) {
      if (n > this.#buf.length) this.#buf = Buffer.alloc(Math.max(n, this.#size));
      this.#start = this.pos;
      this.#len = readSync(this.#fd, this.#buf, 0, this.#buf.length, this.pos);
      if (this.#len < n)
        throw new SpecError(`${this.#path}: GGUF metadata ends early at byte ${this.pos + this.#len} (truncated or not a GGUF file)`);
    }
    const off = this.pos - this.#start;
    this.pos += n;
    return off;
  }

  u32(): number {
    return this.#buf.readUInt32LE(this.#need(4));
  }
  u64(): bigint {
    return this.#buf.readBigUInt64LE(this.#need(8));
  }

  /** A u64 used as a count or length, bounded. */
  count(what: string, max: number): number {
    const v = this.u64();
    if (v > BigInt(max)) throw new SpecError(`${this.#path}: GGUF ${what} ${v} is implausibly large (corrupt file?)`);
    return Number(v);
  }

  string(): string {
    const n = this.count('string length', MAX_STRING);
    const off = this.#need(n);
    return this.#buf.toString('utf8', off, off + n);
  }

  skip(n: number): void {
    this.pos += n;
  }

  scalar(type: number): GgufValue {
    switch (type) {
      case 0:
        return this.#buf.readUInt8(this.#need(1));
      case 1:
        return this.#buf.readInt8(this.#need(1));
      case 2:
        return this.#buf.readUInt16LE(this.#need(2));
      case 3:
        return this.#buf.readInt16LE(this.#need(2));
      case 4:
        return this.u32();
      case 5:
        return this.#buf.readInt32LE(this.#need(4));
      case 6:
        return this.#buf.readFloatLE(this.#need(4));
      case 7:
        return this.#buf.readUInt8(this.#need(1)) !== 0;
      case 8:
        return this.string();
      case 10:
        return this.u64();
      case 11:
        return this.#buf.readBigInt64LE(this.#need(8));
      case 12:
        return this.#buf.readDoubleLE(this.#need(8));
      default:
        throw new SpecError(`${this.#path}: unknown GGUF value type ${type} at byte ${this.pos}`);
    }
  }

  value(type: number, keep: boolean): GgufValue | undefined {
    if (type === 9) {
      const inner = this.u32();
      const n = this.count('array length', MAX_ARRAY);
      const fixed = FIXED_SIZE[inner];
      if (!keep && fixed !== undefined) {
        this.skip(fixed * n);
        return undefined;
      }
      const out: GgufValue[] | undefined = keep ? [] : undefined;
      for (let i = 0; i < n; i++) {
        const v = this.value(inner, keep);
        if (out !== undefined && v !== undefined) out.push(v);
      }
      return out;
    }
    if (!keep) {
      const fixed = FIXED_SIZE[type];
      if (fixed !== undefined) {
        this.skip(fixed);
        return undefined;
      }
      if (type === 8) {
        this.skip(this.count('string length', MAX_STRING));
        return undefined;
      }
    }
    return this.scalar(type);
  }
}

/** Reads a GGUF file's metadata. @throws SpecError for a missing, truncated or non-GGUF file. */
export function readGgufMetadata(path: string, options: ReadGgufOptions = {}): GgufMetadata {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    throw new SpecError(`cannot read GGUF file ${path}: ${(err as Error).message}`, { cause: err });
  }
  try {
    const r = new WindowReader(fd, path, options.windowBytes ?? 1024 * 1024);
    const magic = r.u32();
    if (magic !== MAGIC) throw new SpecError(`${path} is not a GGUF file (magic ${magic.toString(16)}, expected "GGUF")`);
    const version = r.u32();
    if (version !== 2 && version !== 3) throw new SpecError(`${path}: GGUF version ${version} is not supported (expected 2 or 3)`);
    const tensorCount = r.u64();
    const kvCount = r.count('key/value count', MAX_KV);
    const kv = new Map<string, GgufValue>();
    for (let i = 0; i < kvCount; i++) {
      const key = r.string();
      const type = r.u32();
      if (type > 12) throw new SpecError(`${path}: key ${JSON.stringify(key)} has unknown GGUF type ${type}`);
      const keep = options.keep?.(key) ?? true;
      const v = r.value(type, keep);
      if (keep && v !== undefined) kv.set(key, v);
    }
    return { version, tensorCount, kv };
  } finally {
    closeSync(fd);
  }
}

/** The type name of a GGUF value type code (for messages and tests). */
export function ggufTypeName(code: number): string {
  return TYPE_NAMES[code] ?? `type ${code}`;
}
