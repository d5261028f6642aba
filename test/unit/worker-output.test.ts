import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setImmediate as tick } from 'node:timers/promises';
import { EventEmitter } from 'node:events';
import { ResultWriter } from '../../src/worker/output.ts';
import { LedgerWriter } from '../../src/worker/ledger.ts';
import { parseLedgerText } from '../../src/rundir/ledger.ts';
import { tempDir } from '../helpers/tmp.ts';

class Sink extends EventEmitter {
  writes: string[] = [];
  writableNeedDrain = false;
  readonly log: string[];
  constructor(log: string[]) {
    super();
    this.log = log;
  }
  write(chunk: string): boolean {
    this.log.push(`out:${chunk}`);
    this.writes.push(chunk);
    return !this.writableNeedDrain;
  }
}

test('ResultWriter: lines of one event-loop turn go out as one ledger write, then one stdout write', async () => {
  const log: string[] = [];
  const out = new Sink(log);
  const w = new ResultWriter({ appendLines: (t) => log.push(`ledger:${t}`) }, out);
  assert.equal(w.emit('{"k":"a"}'), true);
  assert.equal(w.emit('{"k":"b"}'), true);
  assert.deepEqual(log, []); // nothing written yet: the batch waits for the end of the turn
  await tick();
  assert.deepEqual(log, ['ledger:{"k":"a"}\n{"k":"b"}\n', 'out:{"k":"a"}\n{"k":"b"}\n']);
  w.emit('{"k":"c"}');
  w.flush(); // at the end of the run: written at once
  assert.deepEqual(log.slice(2), ['ledger:{"k":"c"}\n', 'out:{"k":"c"}\n']);
  assert.equal(w.written, 3);
  await tick();
  assert.equal(log.length, 4);
});

test('ResultWriter: backpressure, and line by line when not batched (the fault hook)', async () => {
  const log: string[] = [];
  const out = new Sink(log);
  const seen: number[] = [];
  const w = new ResultWriter({ appendLines: (t) => log.push(`ledger:${t}`) }, out, { batched: false, afterLine: (n) => seen.push(n) });
  assert.equal(w.emit('1'), true);
  assert.deepEqual(log, ['ledger:1\n', 'out:1\n']);
  out.writableNeedDrain = true;
  assert.equal(w.emit('2'), false);
  assert.deepEqual(seen, [1, 2]);
  let drained = false;
  const p = w.drained().then(() => {
    drained = true;
  });
  await tick();
  assert.equal(drained, false);
  out.writableNeedDrain = false;
  out.emit('drain');
  await p;
  assert.equal(drained, true);
});

test('LedgerWriter.appendLines writes whole lines that parse back', () => {
  const path = join(tempDir('ledger'), 'l.jsonl');
  const l = new LedgerWriter(path);
  l.append('{"k":"1"}');
  l.appendLines('{"k":"2","t":"é😀"}\n{"k":"3"}\n');
  l.appendLines('');
  l.close();
  assert.deepEqual(
    parseLedgerText(readFileSync(path, 'utf8')).map((r) => r.k),
    ['1', '2', '3'],
  );
});

test('the driver launches the worker with the same Node flags the benchmarks use', async () => {
  const { WORKER_NODE_FLAGS } = await import('../../src/worker/protocol.ts');
  const { readFileSync } = await import('node:fs');
  const py = readFileSync(new URL('../../python/sparkinfer/transform.py', import.meta.url), 'utf8');
  const m = /^WORKER_NODE_FLAGS = '([^']*)'$/m.exec(py);
  assert.ok(m !== null, 'transform.py defines WORKER_NODE_FLAGS');
  assert.equal(m[1], WORKER_NODE_FLAGS.join(' '));
});
