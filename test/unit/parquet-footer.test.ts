/** The Parquet footer reader (src/input/parquet-footer.ts) against a file Spark wrote, and against broken ones. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ParquetFooterError, parquetColumns } from '../../src/input/parquet-footer.ts';
import { tempDir } from '../helpers/tmp.ts';

const FIXTURE = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'parquet', 'questions.parquet');
const work = tempDir('parquet');

test('the top-level columns of a file Spark wrote, in order: nested groups are skipped, not listed', () => {
  const wide = Array.from({ length: 15 }, (_, i) => `c${String(i).padStart(2, '0')}`);
  assert.deepEqual(parquetColumns(FIXTURE), ['id', 'question', 'meta', 'tags', 'm', 'größe', ...wide]);
});

test('a file that is not Parquet, a cut footer and an encrypted footer are ParquetFooterErrors saying why', () => {
  const bytes = readFileSync(FIXTURE);
  const cases: [string, Buffer, RegExp][] = [
    ['not.parquet', Buffer.from('{"question": "not parquet at all"}\n'), /does not end with PAR1/],
    ['tiny.parquet', Buffer.from('PAR1'), /too short/],
    ['encrypted.parquet', Buffer.concat([bytes.subarray(0, bytes.length - 4), Buffer.from('PARE')]), /encrypted/],
    // A footer length larger than the file.
    [
      'badlen.parquet',
      (() => {
        const b = Buffer.from(bytes);
        b.writeUInt32LE(bytes.length, bytes.length - 8);
        return b;
      })(),
      /does not fit/,
    ],
    // The footer's bytes cut short: its length says less than the schema needs.
    [
      'cut.parquet',
      (() => {
        const len = bytes.readUInt32LE(bytes.length - 8);
        const footer = bytes.subarray(bytes.length - 8 - len, bytes.length - 8 - len + 20);
        const tail = Buffer.alloc(8);
        tail.writeUInt32LE(footer.length, 0);
        tail.write('PAR1', 4, 'latin1');
        return Buffer.concat([Buffer.from('PAR1'), Buffer.alloc(16), footer, tail]);
      })(),
      /cannot read the footer: truncated/,
    ],
  ];
  for (const [name, data, why] of cases) {
    const p = join(work, name);
    writeFileSync(p, data);
    assert.throws(
      () => parquetColumns(p),
      (e: unknown) => e instanceof ParquetFooterError && why.test(e.message),
      name,
    );
  }
});
