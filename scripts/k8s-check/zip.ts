/**
 * Just enough of the zip format to read Go module zips (stored or deflated entries, no zip64,
 * no encryption), and the Go checksum database's `h1:` hash over them. Node has inflate but no
 * zip reader, and this avoids depending on an `unzip` binary.
 */
import { createHash } from 'node:crypto';
import { inflateRawSync } from 'node:zlib';

export interface ZipEntry {
  name: string;
  /** Reads and decompresses the entry. */
  read(): Buffer;
}

const EOCD_SIG = 0x06054b50;
const CEN_SIG = 0x02014b50;
const LOC_SIG = 0x04034b50;

/** Lists the file entries (directories skipped) of a zip held in memory. @throws Error on a malformed or unsupported zip. */
export function readZip(buf: Buffer): ZipEntry[] {
  // The end-of-central-directory record sits in the last 22 + 65535 (comment) bytes.
  let eocd = -1;
  for (let i = buf.length - 22; i >= Math.max(0, buf.length - 22 - 0xffff); i--) {
    if (buf.readUInt32LE(i) === EOCD_SIG) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new Error('not a zip file (no end of central directory record)');
  const count = buf.readUInt16LE(eocd + 10);
  let p = buf.readUInt32LE(eocd + 16);
  if (count === 0xffff || p === 0xffffffff) throw new Error('zip64 archives are not supported');
  const entries: ZipEntry[] = [];
  for (let n = 0; n < count; n++) {
    if (buf.readUInt32LE(p) !== CEN_SIG) throw new Error(`malformed zip: bad central directory entry at offset ${p}`);
    const flags = buf.readUInt16LE(p + 8);
    const method = buf.readUInt16LE(p + 10);
    const compressed = buf.readUInt32LE(p + 20);
    const size = buf.readUInt32LE(p + 24);
    const nameLen = buf.readUInt16LE(p + 28);
    const extraLen = buf.readUInt16LE(p + 30);
    const commentLen = buf.readUInt16LE(p + 32);
    const local = buf.readUInt32LE(p + 42);
    const name = buf.toString('utf8', p + 46, p + 46 + nameLen);
    p += 46 + nameLen + extraLen + commentLen;
    if (name.endsWith('/')) continue;
    if ((flags & 1) !== 0) throw new Error(`encrypted zip entry ${name} is not supported`);
    entries.push({
      name,
      read(): Buffer {
        if (buf.readUInt32LE(local) !== LOC_SIG) throw new Error(`malformed zip: bad local header for ${name}`);
        const start = local + 30 + buf.readUInt16LE(local + 26) + buf.readUInt16LE(local + 28);
        const raw = buf.subarray(start, start + compressed);
        let out: Buffer;
        if (method === 0) out = Buffer.from(raw);
        else if (method === 8) out = inflateRawSync(raw);
        else throw new Error(`zip entry ${name} uses unsupported compression method ${method}`);
        if (out.length !== size) throw new Error(`zip entry ${name}: expected ${size} bytes, got ${out.length}`);
        return out;
      },
    });
  }
  return entries;
}

/**
 * The Go checksum database's `h1:` hash of a module zip (golang.org/x/mod/sumdb/dirhash Hash1):
 * SHA-256 over the sorted lines `<sha256 hex of file>  <file name>\n`, base64-encoded.
 */
export function goModuleZipHash(entries: readonly ZipEntry[]): string {
  const lines = entries
    .map((e) => ({ name: e.name, sum: createHash('sha256').update(e.read()).digest('hex') }))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .map((e) => `${e.sum}  ${e.name}\n`)
    .join('');
  return `h1:${createHash('sha256').update(lines).digest('base64')}`;
}
