/**
 * Dispatch by engine kind with `engine.prefix_order: auto` (issue 21): llama-server gets the
 * slot-affinity queue (one group per slot, no more requests than slots), vLLM the draining prefix
 * queue, a generic server the FIFO. Also: the pipeline with a queue that holds rows back answers
 * every row once, and the prefix key comes from the prompt's prefix columns.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ROWS_PER_EXTRA_SLOT, SlotAffinityQueue } from '../../src/worker/slot-affinity.ts';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PrefixQueue, dispatchQueueFor, prefixKeyOf, prefixPlanSkipped } from '../../src/worker/prefix-order.ts';
import { prefixColumns } from '../../src/prompt/analyze.ts';
import { runPipeline, type DispatchQueue, type PipelineDeps } from '../../src/worker/pipeline.ts';
import type { ResultLine } from '../../src/worker/protocol.ts';
import { pipelineDeps } from '../helpers/pipeline.ts';
import { tempDir } from '../helpers/tmp.ts';

interface It {
  id: number;
  prepared: { path: string; body: string; group: string };
}
const item = (id: number, group: string): It => ({ id, prepared: { path: '/chat/completions', body: `${group}|${id}`, group } });
const groupOf = (x: It | undefined): string | undefined => x?.prepared.group;

/** `groups` × `per` rows, interleaved (g0 g1 g2 … g0 g1 …), as rows arrive in Spark's order. */
function interleaved(groups: number, per: number): It[] {
  const out: It[] = [];
  for (let r = 0; r < per; r++) for (let g = 0; g < groups; g++) out.push(item(out.length, `g${g}`));
  return out;
}

test('the dispatch queue follows the engine kind', () => {
  const llama = dispatchQueueFor('llama-server', { slots: () => 4 });
  const vllm = dispatchQueueFor('vllm');
  assert.ok(llama?.<It>() instanceof SlotAffinityQueue);
  assert.ok(vllm?.<It>() instanceof PrefixQueue);
  assert.equal(dispatchQueueFor('openai'), undefined); // generic: the FIFO keeps the plan's order
});

test('llama-server: one group per slot, never more requests out than slots, a freed slot gets its own group', () => {
  const q = new SlotAffinityQueue<It>({ slots: () => 4 });
  for (const x of interleaved(6, 4)) q.push(x);
  const first = [q.shift(), q.shift(), q.shift(), q.shift()];
  assert.deepEqual(first.map(groupOf), ['g0', 'g1', 'g2', 'g3']);
  assert.equal(q.shift(), undefined, 'a fifth request would wait in the engine and take a slot of another group');
  assert.equal(q.inflight, 4);
  q.settled(first[2] as It);
  assert.equal(groupOf(q.shift()), 'g2', 'the slot g2 freed holds g2: its next row goes there');
  q.settled(first[0] as It);
  assert.equal(groupOf(q.shift()), 'g0');
});

test('vLLM: the same rows are drained one group at a time', () => {
  const q = dispatchQueueFor('vllm')?.<It>() as DispatchQueue<It>;
  for (const x of interleaved(6, 4)) q.push(x);
  const order = Array.from({ length: 8 }, () => groupOf(q.shift()));
  assert.deepEqual(order, ['g0', 'g0', 'g0', 'g0', 'g1', 'g1', 'g1', 'g1']);
});

test('llama-server with fewer groups than slots: large groups spread over the slots, their last rows do not', () => {
  const q = new SlotAffinityQueue<It>({ slots: () => 8 });
  for (const x of interleaved(2, 10)) q.push(x);
  // A group takes one more slot while it has ROWS_PER_EXTRA_SLOT (8) rows waiting per slot it holds.
  assert.equal(ROWS_PER_EXTRA_SLOT, 8);
  const out: Array<It | undefined> = [];
  for (let x = q.shift(); x !== undefined; x = q.shift()) out.push(x);
  assert.deepEqual(out.map(groupOf), ['g0', 'g1', 'g0', 'g1']);
  assert.equal(q.inflight, 4, 'four slots stay idle rather than prefill a group whose rows are nearly done');
  q.settled(out[1] as It);
  assert.equal(groupOf(q.shift()), 'g1', 'a freed slot keeps its group');
  const solo = new SlotAffinityQueue<It>({ slots: () => 8 });
  for (const x of interleaved(1, 3)) solo.push(x);
  assert.equal(groupOf(solo.shift()), 'g0');
  assert.equal(solo.shift(), undefined, 'two rows left: they wait for the slot that holds their prefix');
});

test('prefix-free rows keep arrival order; rows put back go out first', () => {
  const q = new SlotAffinityQueue<It>({ slots: () => 100 });
  for (let i = 0; i < 50; i++) q.push(item(i, `u${i}`));
  const a = q.shift() as It;
  const b = q.shift() as It;
  q.settled(a);
  q.unshift(a);
  assert.equal(q.shift(), a);
  const rest: number[] = [b.id];
  for (let x = q.shift(); x !== undefined; x = q.shift()) rest.push(x.id);
  assert.deepEqual(
    rest,
    Array.from({ length: 49 }, (_, i) => i + 1),
  );
  assert.equal(q.length, 0);
});

/**
 * A stand-in for llama-server's slot choice (not the engine): S slots, each keeping the group of
 * its last prompt; a request takes an idle slot holding its group, else the least recently used
 * idle slot, and prefills when the slot held another group; requests beyond the idle slots wait in
 * a FIFO. Returns how many prompts were prefilled in full.
 */
function prefillsOnSlotEngine(q: DispatchQueue<It>, rows: It[], slots: number, window: number): number {
  for (const x of rows) q.push(x);
  const cache: Array<string | undefined> = Array.from({ length: slots }, () => undefined);
  const busy: Array<It | undefined> = Array.from({ length: slots }, () => undefined);
  const lastUsed = Array.from({ length: slots }, () => 0);
  const waiting: It[] = [];
  let out = 0;
  let prefills = 0;
  let clock = 0;
  const admit = (): void => {
    while (waiting.length > 0) {
      const idle = busy.map((b, i) => (b === undefined ? i : -1)).filter((i) => i >= 0);
      if (idle.length === 0) return;
      const r = waiting.shift() as It;
      const hit = idle.find((i) => cache[i] === r.prepared.group);
      const slot = hit ?? idle.reduce((a, b) => ((lastUsed[a] as number) <= (lastUsed[b] as number) ? a : b));
      if (hit === undefined) prefills++;
      cache[slot] = r.prepared.group;
      busy[slot] = r;
      lastUsed[slot] = ++clock;
    }
  };
  for (let guard = 0; guard < 100_000 && (q.length > 0 || out > 0); guard++) {
    while (out < window && q.length > 0) {
      const x = q.shift();
      if (x === undefined) break;
      waiting.push(x);
      out++;
    }
    admit();
    // the oldest running request ends
    let oldest = -1;
    for (let i = 0; i < slots; i++)
      if (busy[i] !== undefined && (oldest < 0 || (lastUsed[i] as number) < (lastUsed[oldest] as number))) oldest = i;
    if (oldest < 0) continue;
    const done = busy[oldest] as It;
    busy[oldest] = undefined;
    out--;
    q.settled?.(done);
  }
  assert.equal(q.length, 0);
  return prefills;
}

test('on a slot engine, slot affinity prefills each group about once; draining groups prefills them on every slot', () => {
  const rows = (): It[] => interleaved(16, 8); // 16 documents × 8 questions, 4 slots
  const slotAffinity = prefillsOnSlotEngine(new SlotAffinityQueue<It>({ slots: () => 4 }), rows(), 4, 8);
  const drained = prefillsOnSlotEngine(new PrefixQueue<It>(), rows(), 4, 8);
  assert.ok(slotAffinity <= 16 + 4, `slot affinity: ${slotAffinity} prefills for 16 groups`);
  assert.ok(drained >= 2 * slotAffinity, `draining: ${drained} prefills, slot affinity ${slotAffinity}`);
});

test("the prefix key is the prefix columns' values: the CLI and the worker use one rule", () => {
  assert.deepEqual(prefixColumns(['doc', 'question']), ['doc']);
  assert.deepEqual(prefixColumns(['lang', 'doc', 'question']), ['lang', 'doc']);
  assert.deepEqual(prefixColumns(['question']), []);
  assert.equal(prefixKeyOf(['question']), undefined);
  const key = prefixKeyOf(['doc', 'question']) as (r: Record<string, unknown>) => string;
  assert.equal(key({ doc: 'D1', question: 'a' }), key({ doc: 'D1', question: 'b' }));
  assert.notEqual(key({ doc: 'D1', question: 'a' }), key({ doc: 'D2', question: 'a' }));
  assert.notEqual(key({ doc: null }), key({ doc: 'null' }));
});

test('the pipeline with the slot queue holds rows back at the slot count and answers every row once', async () => {
  async function* lines(): AsyncGenerator<string> {
    for (let i = 0; i < 48; i++) yield JSON.stringify({ _k: `k${i}`, doc: `D${i % 6}`, q: `q${i}`, _c: null });
  }
  const key = prefixKeyOf(['doc', 'q']) as (r: Record<string, unknown>) => string;
  let out = 0;
  let maxOut = 0;
  const results: ResultLine[] = [];
  const d = pipelineDeps(
    {
      lines: lines(),
      prepare: (row) => ({ path: '/chat/completions', body: `${String(row.row.doc)}:${row.key}`, group: key(row.row) }),
      attempt: async () => {
        out++;
        maxOut = Math.max(maxOut, out);
        await new Promise((r) => setImmediate(r));
        out--;
        return { ok: true, latencyMs: 1, fields: { text: 'x', prompt_tokens: 10, completion_tokens: 1 }, cachedPromptTokens: 8 };
      },
      window: { limit: () => 16 },
      makeQueue: dispatchQueueFor('llama-server', { slots: () => 3 }) as NonNullable<PipelineDeps['makeQueue']>,
    },
    results,
  );
  const c = await runPipeline(d);
  assert.equal(c.rowsOk, 48);
  assert.equal(new Set(results.map((r) => r.k)).size, 48);
  assert.equal(maxOut, 3, 'never more requests out than slots, although the window is 16');
  assert.deepEqual([c.promptTokensCacheKnown, c.promptTokensCached], [480, 384]);
});

test('a plan the driver skipped (plan.json) makes the worker keep the FIFO', () => {
  const dir = tempDir('plan');
  assert.equal(prefixPlanSkipped(dir), false, 'no plan.json: the queue by engine kind');
  writeFileSync(
    join(dir, 'plan.json'),
    JSON.stringify({ rows_total: 8, partitions: 2, prefix_plan: { applied: false, reason: 'prefix-free' } }),
  );
  assert.equal(prefixPlanSkipped(dir), true);
  writeFileSync(join(dir, 'plan.json'), JSON.stringify({ rows_total: 8, partitions: 2, prefix_plan: { applied: true, columns: ['doc'] } }));
  assert.equal(prefixPlanSkipped(dir), false);
});
