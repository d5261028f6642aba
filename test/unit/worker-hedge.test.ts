/**
 * Hedging (src/worker/hedge.ts, its use in src/worker/pipeline.ts): a request that hangs at the
 * end of a partition gets a second copy instead of holding the task until the request timeout.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TailHedger } from '../../src/worker/hedge.ts';
import { runPipeline, type Attempt, type DispatchQueue } from '../../src/worker/pipeline.ts';
import type { ResultLine } from '../../src/worker/protocol.ts';
import { linesOf, pipelineDeps } from '../helpers/pipeline.ts';

const ok = (latencyMs: number): Attempt => ({ ok: true, latencyMs, fields: { text: 'x', completion_tokens: 1 } });

test('TailHedger: nothing before 8 answers; then requests out past max(2 s, 2 × p95) (250 ms at the tail), oldest first, within the room', () => {
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
  assert.equal(h.threshold(true), 3000, 'at the tail too: 2 x p95 above the floor');
  for (let i = 0; i < 64; i++) h.answered(10);
  assert.equal(h.threshold(), 2000, 'never below 2 s mid-partition');
  assert.equal(h.threshold(true), 250, 'never below 250 ms at the tail');
  const hung = [{ sentAt: 9600, out: 1, hedged: false, id: 'hung 400 ms' }];
  assert.deepEqual(h.pick(hung, 10_000, 4), [], 'mid-partition: 400 ms is not overdue');
  assert.deepEqual(
    h.pick(hung, 10_000, 4, true).map((i) => i.id),
    ['hung 400 ms'],
    'at the tail it is',
  );
});

test('a request that hangs at the end of the partition is hedged: every row once, no retry spent, the task ends long before the timeout', async () => {
  const out: ResultLine[] = [];
  let hung = 0;
  let hungSignal: AbortSignal | undefined;
  const started = Date.now();
  const c = await runPipeline(
    pipelineDeps(
      {
        lines: linesOf(20),
        attempt: async (p, signal) => {
          // The first attempt of the last row never answers (a dropped connection); the rest take 20 ms.
          if (p.body.includes('"q19"') && hung++ === 0) {
            hungSignal = signal;
            return new Promise<Attempt>(() => {});
          }
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
  assert.equal(hungSignal?.aborted, true, 'and cancelled, so the engine stops working on it');
  assert.ok(wall < 1500, `${wall} ms: at the tail the hedge goes out after 250 ms, not the 2 s mid-partition floor`);
});

test('mid-partition, a request out far longer than the others is hedged once, presumed lost: every row once, no retry, a queue that holds rows back is respected', async () => {
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
  assert.equal(new Set(out.map((r) => r.k)).size, 12, 'every row exactly once');
  assert.ok(
    out.every((r) => r.error_code === null && r.attempts === 1),
    'the hedge is not a retry',
  );
  assert.equal(c.hedges, 1, 'the slow request, once');
  assert.equal(c.inflight, 0);
});

test('mid-partition hedges: one presumed-lost request at a time, within 5 % of the requests sent, never past the window by more than one', async () => {
  const out: ResultLine[] = [];
  let open = 0;
  let maxOpen = 0;
  const c = await runPipeline(
    pipelineDeps(
      {
        lines: linesOf(120),
        window: { limit: () => 4 },
        attempt: async (p, signal) => {
          open++;
          maxOpen = Math.max(maxOpen, open);
          // Every 20th row hangs 2.3 s (past the 2 s floor) against 5 ms for the rest: a long tail, not lost requests.
          // Like an engine, it stops work on a cancelled request (the copy of a hedge pair that lost).
          const n = Number(/"q(\d+)"/.exec(p.body)?.[1]);
          await new Promise<void>((r) => {
            const t = setTimeout(r, n % 20 === 19 ? 2300 : 5);
            signal.addEventListener(
              'abort',
              () => {
                clearTimeout(t);
                r();
              },
              { once: true },
            );
          });
          open--;
          return ok(5);
        },
      },
      out,
    ),
  );
  assert.equal(out.length, 120);
  assert.equal(new Set(out.map((r) => r.k)).size, 120, 'every row exactly once');
  assert.ok(c.hedges >= 1, 'the hung requests were seen');
  assert.ok(c.hedges <= Math.max(1, 0.05 * c.requestsSent), `${c.hedges} hedges of ${c.requestsSent} requests: within the budget`);
  assert.ok(maxOpen <= 5, `${maxOpen} open at once: the window (4) plus one presumed lost`);
});

test('a presumed-lost request whose hedge fails still decides its row: the partition waits for it', async () => {
  const out: ResultLine[] = [];
  let c3 = 0;
  const c = await runPipeline(
    pipelineDeps(
      {
        lines: linesOf(80),
        attempt: async (p) => {
          if (p.body.includes('"q3"')) {
            if (c3++ === 0) {
              // The first copy is slow: hedged at 2 s while rows still wait, it answers at 3.6 s, after the others (~3 s).
              await new Promise((r) => setTimeout(r, 3600));
              return ok(3600);
            }
            return { ok: false, latencyMs: 1, error: { code: 'E_HTTP_4XX', message: 'bad request', status: 400 } };
          }
          await new Promise((r) => setTimeout(r, 150));
          return ok(150);
        },
      },
      out,
    ),
  );
  assert.equal(out.length, 80);
  const q3 = out.find((r) => r.k === 'k3');
  assert.equal(q3?.error_code, null, 'the first copy answered');
  assert.ok(c.hedges >= 1 && c.hedges <= 2, `${c.hedges} hedges: the failed one may be followed by one more at the tail, no further`);
  assert.equal(c.inflight, 0);
});

test('a hedge that fails while the first copy hangs is followed by one more: the row ends long before the timeout', async () => {
  const out: ResultLine[] = [];
  let tries = 0;
  const started = Date.now();
  const c = await runPipeline(
    pipelineDeps(
      {
        lines: linesOf(20),
        attempt: async (p) => {
          if (p.body.includes('"q19"')) {
            tries++;
            // The first copy never answers; the first hedge is cut mid-body; the second answers.
            if (tries === 1) return new Promise<Attempt>(() => {});
            if (tries === 2) return { ok: false, latencyMs: 5, error: { code: 'E_RESPONSE_TRUNCATED', message: 'cut' } };
          }
          await new Promise((r) => setTimeout(r, 20));
          return ok(20);
        },
      },
      out,
    ),
  );
  assert.equal(out.length, 20);
  assert.equal(out.find((r) => r.k === 'k19')?.error_code, null);
  assert.equal(c.hedges, 2);
  assert.equal(c.retries, 0, 'hedges are not retries');
  assert.ok(Date.now() - started < 6000, 'the row did not wait for its hung first copy');
});
