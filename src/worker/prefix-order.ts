/**
 * Prefix-aware dispatch order. Engines keep the KV cache of recent prompts (llama-server per slot,
 * vLLM's automatic prefix caching): a prompt whose start matches one the engine has just processed
 * skips that part of the prefill. Rows read from Spark arrive in arbitrary order, so prompts that
 * share a long prefix (a few-shot block, a per-task system prompt) are interleaved with others and
 * their cache entries get evicted between uses. This queue sends rows that share a prefix together.
 *
 * It is a drop-in for the pipeline's FIFO (`DispatchQueue`): rows are grouped by their prefix key
 * (`Prepared.group`: the values of the prompt's prefix columns, `prefixKeyOf`), else by the first
 * `prefixChars` characters of their rendered body; the group in progress is drained first, then the
 * group whose oldest row arrived first. Reordering is bounded: a row is never overtaken by a row
 * that arrived `lookahead` or more rows after it, so no row starves. Rows put back at the front
 * (retries, an outage) go out first, in LIFO order, as with the FIFO's `unshift`.
 *
 * Draining a group suits an engine whose prefix cache is shared by all its sequences (vLLM's
 * automatic prefix caching). An engine with one cache per slot (llama-server) wants the opposite:
 * each group on its own slot (slot-affinity.ts). `dispatchQueueFor` picks by engine kind
 * (docs/prefix-plan.md).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DispatchQueue, Prepared } from './pipeline.ts';
import { checkInt } from '../checks.ts';
import { prefixColumns } from '../prompt/analyze.ts';
import { SlotAffinityQueue } from './slot-affinity.ts';

export interface PrefixQueueOptions {
  /** Characters of the rendered JSON body that form the grouping key. Default 384 (about 100 tokens). */
  prefixChars?: number;
  /**
   * Reorder window in rows: a row is never overtaken by one that arrived this many rows after it.
   * The pipeline reads this many rows ahead (`readAhead`) so that there is something to group. Default 256.
   */
  lookahead?: number;
}

interface Entry<T> {
  item: T;
  seq: number;
  group: Group<T>;
  taken: boolean;
}

interface Group<T> {
  key: string;
  /** FIFO of the group's rows; `head` indexes the next one (an array with a moving head). */
  rows: Array<Entry<T>>;
  head: number;
}

/** Drops the consumed start of an array-with-a-head once it is most of the array. */
function compact<E>(arr: E[], head: number): { arr: E[]; head: number } {
  return head > 1024 && head * 2 > arr.length ? { arr: arr.slice(head), head: 0 } : { arr, head };
}

export class PrefixQueue<T extends { prepared: Prepared }> implements DispatchQueue<T> {
  readonly prefixChars: number;
  readonly lookahead: number;
  /** Rows put back with `unshift`; they go out before everything else. */
  readonly #front: T[] = [];
  readonly #groups = new Map<string, Group<T>>();
  /** Every waiting row in arrival order (taken ones are skipped lazily): finds the oldest in O(1) amortized. */
  #order: Array<Entry<T>> = [];
  #orderHead = 0;
  #current: Group<T> | undefined;
  #seq = 0;
  #size = 0;

  constructor(options: PrefixQueueOptions = {}) {
    this.prefixChars = checkInt('prefixChars', options.prefixChars ?? 384, 1);
    this.lookahead = checkInt('lookahead', options.lookahead ?? 256, 1);
  }

  get length(): number {
    return this.#size + this.#front.length;
  }

  /** How many rows the pipeline should keep read ahead so that grouping has rows to choose from. */
  get readAhead(): number {
    return this.lookahead;
  }

  push(item: T): void {
    const key = item.prepared.group ?? item.prepared.body.slice(0, this.prefixChars);
    let g = this.#groups.get(key);
    if (g === undefined) {
      g = { key, rows: [], head: 0 };
      this.#groups.set(key, g);
    }
    const e: Entry<T> = { item, seq: this.#seq++, group: g, taken: false };
    g.rows.push(e);
    this.#order.push(e);
    this.#size++;
  }

  unshift(item: T): void {
    this.#front.push(item);
  }

  shift(): T | undefined {
    const back = this.#front.pop();
    if (back !== undefined) return back;
    if (this.#size === 0) return undefined;
    const oldest = this.#oldest();
    let g = this.#current;
    // Bounded reordering: leave the group in progress once it would overtake the oldest row by `lookahead`.
    if (g === undefined || g.head >= g.rows.length || (g.rows[g.head] as Entry<T>).seq - oldest.seq >= this.lookahead) g = oldest.group;
    const e = g.rows[g.head] as Entry<T>;
    e.taken = true;
    g.head++;
    this.#size--;
    if (g.head >= g.rows.length) {
      this.#groups.delete(g.key);
      this.#current = undefined;
    } else {
      this.#current = g;
      const c = compact(g.rows, g.head);
      g.rows = c.arr;
      g.head = c.head;
    }
    return e.item;
  }

  /** The oldest waiting row (the queue is not empty). */
  #oldest(): Entry<T> {
    while ((this.#order[this.#orderHead] as Entry<T>).taken) this.#orderHead++;
    const c = compact(this.#order, this.#orderHead);
    this.#order = c.arr;
    this.#orderHead = c.head;
    return this.#order[this.#orderHead] as Entry<T>;
  }
}

/** The pipeline's `makeQueue` for `engine.prefix_order`: grouping when on, else the plain FIFO (an array). */
export function prefixQueueFactory(options: PrefixQueueOptions = {}): <T extends { prepared: Prepared }>() => DispatchQueue<T> {
  return <T extends { prepared: Prepared }>() => new PrefixQueue<T>(options);
}

/**
 * A row's prefix key from its columns (the prompt's prefix columns' values, `prefixColumns`), or
 * undefined when the prompt has no prefix columns. Rows with equal keys render equal text up to
 * the last column.
 */
export function prefixKeyOf(columns: readonly string[]): ((row: Record<string, unknown>) => string) | undefined {
  const cols = prefixColumns(columns);
  if (cols.length === 0) return undefined;
  return (row) => JSON.stringify(cols.map((c) => row[c] ?? null));
}

/**
 * Whether the driver's prefix plan was skipped for this run: `<run dir>/plan.json` says
 * `"prefix_plan": {"applied": false, …}` (prefix-free data, a prompt without a prefix key). The
 * worker then keeps the FIFO, so prefix-free data runs exactly as with `prefix_order: off`. No
 * plan.json, or none that says (`infer()`, a worker driven directly): not skipped.
 */
export function prefixPlanSkipped(runDir: string): boolean {
  try {
    const plan = JSON.parse(readFileSync(join(runDir, 'plan.json'), 'utf8')) as { prefix_plan?: { applied?: unknown } };
    return plan.prefix_plan?.applied === false;
  } catch {
    return false;
  }
}

/**
 * The dispatch queue for `engine.prefix_order: auto`, by engine kind (docs/prefix-plan.md):
 *   - llama-server (one prompt cache per slot): `SlotAffinityQueue`, each group on its own slots,
 *     no more requests than slots, `slots` read from the engine's /slots;
 *   - vLLM (one cache shared by all sequences): `PrefixQueue`, which drains a group while cached;
 *   - a generic OpenAI server (cache unknown): undefined, the FIFO, which keeps the prefix plan's
 *     order (a group's rows one after another). Not measured: no such engine here.
 */
export function dispatchQueueFor(
  kind: string,
  options: { slots?: () => number | undefined } = {},
): (<T extends { prepared: Prepared }>() => DispatchQueue<T>) | undefined {
  if (kind === 'llama-server')
    return <T extends { prepared: Prepared }>() => new SlotAffinityQueue<T>(options.slots !== undefined ? { slots: options.slots } : {});
  if (kind === 'vllm') return prefixQueueFactory();
  return undefined;
}
