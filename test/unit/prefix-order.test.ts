/**
 * Prefix-aware dispatch order: grouping, the bound on reordering, front insertion, and the
 * pipeline using it (every row still answered exactly once).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PrefixQueue, prefixQueueFactory } from '../../src/worker/prefix-order.ts';
import { runPipeline } from '../../src/worker/pipeline.ts';
import { pipelineDeps } from '../helpers/pipeline.ts';
import type { ResultLine } from '../../src/worker/protocol.ts';

interface It {
  id: number;
  prepared: { path: string; body: string };
}
const item = (id: number, prefix: string): It => ({ id, prepared: { path: '/chat/completions', body: `${prefix}|${id}` } });
const drain = (q: PrefixQueue<It>): number[] => {
  const out: number[] = [];
  for (let x = q.shift(); x !== undefined; x = q.shift()) out.push(x.id);
  return out;
};

test('rows sharing a prefix go out together, groups in order of their oldest row', () => {
  const q = new PrefixQueue<It>({ prefixChars: 1 });
  const prefixes = ['A', 'B', 'A', 'C', 'B', 'A', 'C'];
  prefixes.forEach((p, i) => {
    q.push(item(i, p));
  });
  assert.equal(q.length, 7);
  assert.deepEqual(drain(q), [0, 2, 5, 1, 4, 3, 6]);
  assert.equal(q.length, 0);
  assert.equal(q.shift(), undefined);
});

test('distinct prefixes keep arrival order (no grouping to do)', () => {
  const q = new PrefixQueue<It>({ prefixChars: 64 });
  for (let i = 0; i < 100; i++) q.push(item(i, `unique-${i}`));
  assert.deepEqual(
    drain(q),
    Array.from({ length: 100 }, (_, i) => i),
  );
});

test('only the first prefixChars characters form the key', () => {
  const q = new PrefixQueue<It>({ prefixChars: 4 });
  q.push(item(0, 'sameXX'));
  q.push(item(1, 'other'));
  q.push(item(2, 'sameYY'));
  assert.deepEqual(drain(q), [0, 2, 1]);
});

test('reordering is bounded: no row is overtaken by one that arrived lookahead rows later', () => {
  const lookahead = 8;
  const q = new PrefixQueue<It>({ prefixChars: 1, lookahead });
  // One B among a long stream of A, interleaved with dispatches as the pipeline does.
  const arrival = new Map<number, number>();
  let id = 0;
  const push = (p: string): void => {
    arrival.set(id, id);
    q.push(item(id++, p));
  };
  push('A');
  push('B');
  for (let i = 0; i < 30; i++) push('A');
  const order: number[] = [];
  for (let i = 0; i < 10; i++) {
    order.push((q.shift() as It).id);
    push('A');
  }
  order.push(...drain(q));
  assert.equal(order.length, id);
  assert.equal(new Set(order).size, id, 'each row once');
  const posB = order.indexOf(1);
  for (let p = 0; p < posB; p++)
    assert.ok((order[p] as number) - 1 < lookahead, `row ${order[p]} overtook row 1 by ${(order[p] as number) - 1}`);
  assert.ok(posB > 1, 'B was deferred to let A rows group');
});

test('rows put back with unshift go out first, newest first', () => {
  const q = new PrefixQueue<It>({ prefixChars: 1 });
  q.push(item(0, 'A'));
  q.push(item(1, 'B'));
  const first = q.shift() as It;
  q.unshift(item(9, 'C'));
  q.unshift(first);
  assert.equal(q.length, 3);
  assert.deepEqual(drain(q), [0, 9, 1]);
});

test('options are checked up front', () => {
  assert.throws(() => new PrefixQueue<It>({ prefixChars: 0 }), /`prefixChars` to be an integer from 1 and up, got `0`/);
  assert.throws(() => new PrefixQueue<It>({ lookahead: 1.5 }), /`lookahead`.*`1.5`/);
  assert.equal(new PrefixQueue<It>().readAhead, 256);
});

test('a long stream stays in bounded memory and keeps every row', () => {
  const q = new PrefixQueue<It>({ prefixChars: 1, lookahead: 64 });
  let pushed = 0;
  const seen = new Set<number>();
  for (let round = 0; round < 200; round++) {
    for (let i = 0; i < 100; i++) {
      q.push(item(pushed, 'ABCD'[pushed % 4] as string));
      pushed++;
    }
    for (let i = 0; i < 100; i++) seen.add((q.shift() as It).id);
  }
  for (const x of drain(q)) seen.add(x);
  assert.equal(seen.size, pushed);
});

test('the pipeline with the prefix queue answers every row once and dispatches grouped', async () => {
  async function* lines(): AsyncGenerator<string> {
    for (let i = 0; i < 60; i++) yield JSON.stringify({ _k: `k${i}`, p: `P${i % 3}`, _c: null });
  }
  const sent: string[] = [];
  const out: ResultLine[] = [];
  const d = pipelineDeps(
    {
      lines: lines(),
      prepare: (row) => ({ path: '/chat/completions', body: `${String(row.row.p)}:${row.key}` }),
      attempt: async (p) => {
        sent.push(p.body.slice(0, 2));
        await new Promise((r) => setImmediate(r));
        return { ok: true, latencyMs: 1, fields: { text: 'x', prompt_tokens: 1, completion_tokens: 1 } };
      },
      window: { limit: () => 2 },
      makeQueue: prefixQueueFactory({ prefixChars: 2 }),
    },
    out,
  );
  const c = await runPipeline(d);
  assert.equal(c.rowsOk, 60);
  assert.equal(new Set(out.map((r) => r.k)).size, 60);
  // Arrival order alternates P0 P1 P2 (59 switches); grouped dispatch switches prefix only a few times.
  let switches = 0;
  for (let i = 1; i < sent.length; i++) if (sent[i] !== sent[i - 1]) switches++;
  assert.ok(switches <= 4, `prefix switches: ${switches} in ${sent.join(' ')}`);
});
