/**
 * Tail hedging (src/worker/hedge.ts, its use in src/worker/pipeline.ts): a request that hangs at the
 * end of a partition gets a second copy instead of holding the task until the request timeout.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TailHedger } from '../../src/worker/hedge.ts';
import { runPipeline, type Attempt, type DispatchQueue } from '../../src/worker/pipeline.ts';
import type { ResultLine } from '../../src/worker/protocol.ts';
import { linesOf, pipelineDeps } from '../helpers/pipeline.ts';

const ok = (latencyMs: number): Attempt => ({ ok: true, latencyMs, fields: { text: 'x', completion_tokens: 1 } });

test('TailHedger: nothing before 8 answers; then requests out past max(2 s, 2 × p95), oldest first, within the room', () => {
  const h = new TailHedger();
  const items = [
    { sentAt: 0, out: 1, hedged: false, id: 'old' },
    { sentAt: 500, out: 1, hedged: false, id: 'younger' },
    { sentAt: 0, out: 2, hedged: true, id: 'already' },
    { sentAt: 9000, out: 1, hedged: false, id: 'fresh' },
  ];
  for (let i = 0; i < 7; i++) h.answered(1500);
  assert.deepEqual(h.pick(items, 10_000, 4), [], 'too few answers to judge');
  h.answered(1500);
  assert.equal(h.threshold(), 3000);
  assert.deepEqual(
    h.pick(items, 10_000, 4).map((i) => i.id),
    ['old', 'younger'],
  );
  assert.deepEqual(
    h.pick(items, 10_000, 1).map((i) => i.id),
    ['old'],
    'no more than the window has room for',
  );
  for (let i = 0; i < 64; i++) h.answered(10);
  assert.equal(h.threshold(), 2000, 'never below 2 s');
});

test('a request that hangs at the end of the partition is hedged: every row once, no retry spent, the task ends long before the timeout', async () => {
  const out: ResultLine[] = [];
  let hung = 0;
  const started = Date.now();
  const c = await runPipeline(
    pipelineDeps(
      {
        lines: linesOf(20),
        attempt: async (p) => {
          // The first attempt of the last row never answers (a dropped connection); the rest take 20 ms.
          if (p.body.includes('"q19"') && hung++ === 0) return new Promise<Attempt>(() => {});
          await new Promise((r) => setTimeout(r, 20));
          return ok(20);
        },
      },
      out,
    ),
  );
  const wall = Date.now() - started;
  assert.equal(out.length, 20);
  assert.deepEqual(new Set(out.map((r) => r.k)).size, 20, 'every row exactly once');
  assert.ok(
    out.every((r) => r.error_code === null && r.attempts === 1),
    'the hedge is not a retry',
  );
  assert.equal(c.hedges, 1);
  assert.equal(c.retries, 0);
  assert.equal(c.inflight, 0, 'the hung attempt was abandoned, not waited for');
  assert.ok(wall < 5000, `${wall} ms: the hedge answered after about 2 s`);
});

test('no hedge while rows are still waiting, even with room in the window (a queue that holds rows back)', async () => {
  const out: ResultLine[] = [];
  // One row out at a time, like the slot-affinity queue with one slot: the window (4) has room.
  const held = <T>(): DispatchQueue<T> => {
    const rows: T[] = [];
    let out = 0;
    return {
      get length() {
        return rows.length;
      },
      push: (x) => void rows.push(x),
      unshift: (x) => void rows.unshift(x),
      shift: () => {
        if (out > 0) return undefined;
        const x = rows.shift();
        if (x !== undefined) out++;
        return x;
      },
      settled: () => {
        out--;
      },
    };
  };
  const c = await runPipeline(
    pipelineDeps(
      {
        lines: linesOf(12),
        makeQueue: held,
        attempt: async (p) => {
          // A slow answer after 9 quick ones (enough to judge): 2.5 s against 10 ms; 2 rows still wait behind it.
          await new Promise((r) => setTimeout(r, p.body.includes('"q9"') ? 2500 : 10));
          return ok(10);
        },
      },
      out,
    ),
  );
  assert.equal(out.length, 12);
  assert.equal(c.hedges, 0);
});
