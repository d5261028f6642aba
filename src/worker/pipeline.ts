/**
 * The partition pipeline: input lines → prepared requests → a bounded in-flight window → result
 * lines in completion order. It owns retries (through an injected pure `decide`), hedging of hung
 * requests (hedge.ts) and the outage circuit: on an outage, in-flight rows go back to the queue
 * without spending their retry budget and dispatch pauses until `/health` answers again or
 * `outageTimeoutMs` passes.
 *
 * Memory stays flat: at most `highWater` rows are read ahead of the window, and dispatch stops
 * while stdout applies backpressure.
 *
 * One `Pipeline` object per partition; each method is one step of the loop: read (`#accept`),
 * dispatch (`#pump`, `#send`, `#hedgeDue`), settle (`#settleLive`, `#settle`, `#settleFailed`),
 * write (`#finish`).
 */
import type { ResultLine } from './protocol.ts';
import { errorCodeOf } from '../errors.ts';
import { completionKind, retryReason } from '../scheduler/signals.ts';
import { isRateLimited } from '../engine/ratelimit.ts';
import { OutageTimeout, RequestAbortedError } from '../engine/errors.ts';
import { HEDGE_CHECK_MS, MAX_HEDGES_PER_SEND, TailHedger } from './hedge.ts';
import { onEachSecond } from '../rundir/second-timer.ts';
import { observe } from '../rundir/histogram.ts';
import { countResult, newCounters, newItem, resultLine, type Item, type Live } from './pipeline-row.ts';

export * from './pipeline-contract.ts';
import { FREE_RATE_LIMITED, FREE_RATE_LIMITED_MS } from './pipeline-contract.ts';
import type { Attempt, AttemptFailed, DispatchQueue, PipelineCounters, PipelineDeps, Prepared } from './pipeline-contract.ts';

export function runPipeline(d: PipelineDeps): Promise<PipelineCounters> {
  return new Pipeline(d).run();
}

class Pipeline {
  readonly #d: PipelineDeps;
  readonly #c: PipelineCounters;
  readonly #queue: DispatchQueue<Item>;
  /** Rows waiting out a backoff or a refusal's retry time before they go back to the queue. */
  #delayed = 0;
  #readerDone = false;
  #outputBlocked = false;
  #fatal: Error | undefined;
  #outageWait: Promise<void> | undefined;
  #wake: () => void = () => {};
  #wakeP: Promise<void>;
  /** Rows with an attempt out (hedging looks at them). */
  readonly #outstanding = new Set<Item>();
  readonly #hedger = new TailHedger();
  /** Attempts presumed lost (hedged mid-partition) and still out. */
  #presumedLost = 0;
  /** The last successful answer (the start until one comes): FREE_RATE_LIMITED_MS. */
  #lastOkAt: number;
  /** The rate gate's hold: one timer that calls pump again, never a busy loop. */
  #gateTimer: ReturnType<typeof setTimeout> | undefined;
  #gateAt = Infinity;
  /** The lines of the last batch read and not yet accepted: taken one by one, as the queue has room. */
  #batch: readonly string[] = [];
  #next = 0;

  constructor(d: PipelineDeps) {
    this.#d = d;
    this.#c = newCounters(d.window.limit());
    this.#queue = d.makeQueue?.<Item>() ?? [];
    this.#lastOkAt = d.now();
    this.#wakeP = new Promise<void>((r) => {
      this.#wake = r;
    });
  }

  async run(): Promise<PipelineCounters> {
    const d = this.#d;
    d.window.onGrow?.(() => this.#pumpAndNotify());
    d.stopDispatch?.addEventListener('abort', () => this.#notify(), { once: true });
    d.signal.addEventListener('abort', () => this.#cancelAll(), { once: true });
    const it = d.lines[Symbol.asyncIterator]();
    let pendingRead: Promise<IteratorResult<string | readonly string[]>> | undefined;
    const stopStats = onEachSecond(() => d.onStats?.(this.#c));
    const hedgeTimer = setInterval(() => this.#hedgeDue(), HEDGE_CHECK_MS);
    try {
      for (;;) {
        if (this.#fatal !== undefined) throw this.#fatal;
        if (this.#stopped()) {
          if (this.#c.inflight === 0 && this.#presumedLost === 0 && this.#delayed === 0) break;
          await this.#wakeP;
          continue;
        }
        const highWater = Math.max(64, 2 * d.window.limit(), this.#queue.readAhead ?? 0);
        if (this.#next < this.#batch.length && this.#queue.length < highWater) {
          this.#accept(this.#batch[this.#next++] as string);
          this.#pump();
          continue;
        }
        if (!this.#readerDone && this.#queue.length < highWater) {
          pendingRead ??= it.next();
          // Race the read against completions so queued rows dispatch while stdin is slow.
          const r = await Promise.race([pendingRead, this.#wakeP.then(() => undefined)]);
          if (r !== undefined) {
            pendingRead = undefined;
            this.#took(r);
          }
          this.#pump();
          continue;
        }
        this.#pump();
        if (this.#atTail() && this.#delayed === 0 && this.#c.inflight === 0 && this.#presumedLost === 0) break;
        await this.#wakeP;
      }
    } finally {
      stopStats();
      clearInterval(hedgeTimer);
      clearTimeout(this.#gateTimer);
      d.onStats?.(this.#c);
    }
    if (this.#outputBlocked) await d.drained();
    return this.#c;
  }

  /** What one read gave: the end, one line, or a batch of lines. */
  #took(r: IteratorResult<string | readonly string[]>): void {
    if (r.done === true) this.#readerDone = true;
    else if (typeof r.value === 'string') this.#accept(r.value);
    else {
      this.#batch = r.value;
      this.#next = 0;
    }
  }

  /** Every row has been sent once: only rows out and retries waiting their delay are left. */
  #atTail(): boolean {
    return this.#readerDone && this.#next >= this.#batch.length && this.#queue.length === 0;
  }

  #stopped = (): boolean => this.#d.stopDispatch?.aborted === true;

  #notify(): void {
    const w = this.#wake;
    this.#wakeP = new Promise<void>((r) => {
      this.#wake = r;
    });
    w();
  }

  #pumpAndNotify(): void {
    this.#pump();
    this.#notify();
  }

  #accept(line: string): void {
    const d = this.#d;
    const row = d.parse(line); // a protocol error propagates: the task fails and Spark retries it
    this.#c.rowsIn++;
    let prepared: Prepared;
    try {
      prepared = d.prepare(row);
    } catch (err) {
      const message = typeof (err as { message?: unknown } | null)?.message === 'string' ? (err as Error).message : String(err);
      this.#finish(newItem(row, { path: '', body: '' }), { error_code: errorCodeOf(err, 'E_TEMPLATE'), error_message: message });
      return;
    }
    this.#queue.push(newItem(row, prepared));
  }

  /** Sends queued rows while the window, the gate, stdout and the engine's health allow. */
  #pump(): void {
    const c = this.#c;
    c.window = this.#d.window.limit();
    while (
      !this.#stopped() &&
      !c.outage &&
      !this.#outputBlocked &&
      this.#fatal === undefined &&
      this.#queue.length > 0 &&
      c.inflight < c.window
    ) {
      if (!this.#gateOpen()) break;
      const item = this.#queue.shift();
      if (item === undefined) break; // held back until a request ends
      this.#send(item);
    }
  }

  /** Whether the rate gate lets a request go now; if not, a timer pumps again when it will. */
  #gateOpen(): boolean {
    const d = this.#d;
    const wait = d.gate?.delayMs(d.now()) ?? 0;
    if (wait <= 0) return true;
    const at = d.now() + wait;
    if (this.#gateTimer === undefined || at < this.#gateAt) {
      clearTimeout(this.#gateTimer);
      this.#gateAt = at;
      this.#gateTimer = setTimeout(() => {
        this.#gateTimer = undefined;
        this.#gateAt = Infinity;
        this.#pumpAndNotify();
      }, wait);
    }
    return false;
  }

  /** Sends a row: its next attempt, or with `hedge` a second copy of the attempt out (no budget spent). */
  #send(item: Item, hedge = false): void {
    const d = this.#d;
    const c = this.#c;
    const now = d.now();
    c.inflight++;
    c.requestsSent++;
    if (hedge) {
      c.hedges++;
      item.hedges++;
      item.hedged = true;
    } else {
      item.attempts++;
      if (item.attempts === 1) item.firstSentAt = now;
      item.sentAt = now;
      item.hedged = false;
      item.hedges = 0;
      item.queueSettled = false;
    }
    item.out++;
    this.#outstanding.add(item);
    const live: Live = { sentAt: now, abandoned: false, released: false, cancel: new AbortController() };
    if (d.signal.aborted) live.cancel.abort(d.signal.reason);
    item.live.add(live);
    d.gate?.onSend(now, item.prepared.body);
    d.window.onStart?.();
    d.attempt(item.prepared, live.cancel.signal).then(
      (a) => this.#settleLive(item, live, a),
      (err: unknown) =>
        this.#settleLive(item, live, {
          ok: false,
          latencyMs: 0,
          error: { code: 'E_CONNECT', message: String((err as Error)?.message ?? err), raw: err },
        }),
    );
  }

  /**
   * Hedges what is due (hedge.ts): at the tail, every request out far longer than the others took,
   * in the window's spare room; mid-partition, at most one, presumed lost: it gives its place to the hedge.
   */
  #hedgeDue(): void {
    const d = this.#d;
    const c = this.#c;
    if (this.#stopped() || c.outage || this.#fatal !== undefined) return;
    const now = d.now();
    if (this.#atTail()) {
      for (const item of this.#hedger.pick(this.#outstanding, now, d.window.limit() - c.inflight, true)) this.#hedge(item, false);
      return;
    }
    const stuck = this.#hedger.pickStuck(this.#outstanding, now, {
      presumedLost: this.#presumedLost,
      hedges: c.hedges,
      sent: c.requestsSent,
    });
    if (stuck !== undefined) this.#hedge(stuck, true);
  }

  #hedge(item: Item, presumeLost: boolean): void {
    const d = this.#d;
    const age = d.now() - item.sentAt;
    d.log(`hedging row ${item.row.key}: out ${age} ms, far longer than the partition's answers${presumeLost ? ' (presumed lost)' : ''}`);
    if (presumeLost) {
      for (const live of item.live) {
        if (live.released) continue;
        live.released = true;
        this.#presumedLost++;
        this.#c.inflight--;
        d.window.onComplete?.({ latencyMs: age, ok: false, kind: 'timeout' });
      }
    }
    this.#send(item, true);
  }

  /** An attempt ended: counted off, and dropped when its row is decided by its other attempt. */
  #settleLive(item: Item, live: Live, a: Attempt): void {
    if (live.abandoned) return; // counted off when the row finished
    observe(this.#c.latency, a.latencyMs);
    item.live.delete(live);
    item.out--;
    if (item.out === 0) this.#outstanding.delete(item);
    if (live.released) this.#presumedLost--;
    const counted = !live.released;
    if (item.done || (!a.ok && item.out > 0)) {
      // The row is finished, or its other attempt is still out and decides: this answer only tells the window.
      if (!item.done) this.#hedgeFailed(item);
      if (counted) {
        this.#c.inflight--;
        const kind = a.ok ? 'ok' : completionKind({ ok: false, status: a.error.status, code: a.error.code });
        this.#d.window.onComplete?.({ latencyMs: a.latencyMs, ok: a.ok, kind });
      }
      this.#pumpAndNotify();
      return;
    }
    if (a.ok) {
      this.#hedger.answered(a.latencyMs);
      this.#abandonOthers(item);
    }
    this.#settle(item, a, counted);
  }

  /** One of a hedged row's two attempts failed: the other, still out, is judged by its own age, and may be hedged again. */
  #hedgeFailed(item: Item): void {
    item.sentAt = Math.min(...[...item.live].map((l) => l.sentAt));
    if (item.hedges < MAX_HEDGES_PER_SEND) item.hedged = false;
  }

  /** The task's signal ended every attempt out. */
  #cancelAll(): void {
    for (const item of this.#outstanding) for (const live of item.live) live.cancel.abort(this.#d.signal.reason);
  }

  /** The row was finished by one attempt: its other one (a hedge pair) is dropped and cancelled, so none is out past the window. */
  #abandonOthers(item: Item): void {
    for (const other of item.live) {
      other.abandoned = true;
      other.cancel.abort(new RequestAbortedError('hedge pair: the row was answered by its other attempt'));
      item.out--;
      if (other.released) this.#presumedLost--;
      else {
        this.#c.inflight--;
        this.#d.window.onComplete?.({ latencyMs: this.#d.now() - other.sentAt, ok: false, kind: 'error' });
      }
    }
    item.live.clear();
    this.#outstanding.delete(item);
  }

  /** The row's attempt decided it: an answer, a retry, a rate-limit wait, an outage or a row error. `counted`: it held a window place. */
  #settle(item: Item, a: Attempt, counted: boolean): void {
    const d = this.#d;
    const c = this.#c;
    if (counted) c.inflight--;
    if (!item.queueSettled) {
      item.queueSettled = true;
      this.#queue.settled?.(item);
    }
    const now = d.now();
    if (a.ok) this.#lastOkAt = now;
    // A rate limit is back-pressure, not the row's failure (docs/scheduler.md, "Rate limits"); without a gate, none.
    const rateLimited =
      d.gate !== undefined &&
      !a.ok &&
      isRateLimited(a.error.status, a.rateLimit) &&
      (item.rateLimited ?? 0) < FREE_RATE_LIMITED &&
      now - this.#lastOkAt < FREE_RATE_LIMITED_MS;
    d.gate?.onAnswer(d.now(), item.prepared.body, rateLimited, a);
    if (a.ok) {
      if (a.cachedPromptTokens !== undefined && typeof a.fields.prompt_tokens === 'number') {
        c.promptTokensCacheKnown += a.fields.prompt_tokens;
        c.promptTokensCached += a.cachedPromptTokens;
      }
      if (counted) {
        const tokens = a.fields.completion_tokens;
        d.window.onComplete?.({
          latencyMs: a.latencyMs,
          ok: true,
          kind: 'ok',
          ...(typeof tokens === 'number' ? { outputTokens: tokens } : {}),
        });
      }
      item.done = true;
      this.#finish(item, a.fields);
    } else this.#settleFailed(item, a, rateLimited, counted);
    this.#pumpAndNotify();
  }

  #settleFailed(item: Item, a: AttemptFailed, rateLimited: boolean, counted: boolean): void {
    const d = this.#d;
    const c = this.#c;
    const e = a.error;
    const kind = completionKind({ ok: false, status: e.status, code: e.code, rateLimited });
    if (counted)
      d.window.onComplete?.({ latencyMs: a.latencyMs, ok: false, kind, ...(e.status !== undefined ? { status: e.status } : {}) });
    const decision = d.decide(e, item.attempts);
    if (rateLimited || decision.outage || decision.retry) {
      const reason = retryReason({ kind, code: e.code, outage: decision.outage });
      c.retriesByReason[reason] = (c.retriesByReason[reason] ?? 0) + 1;
    }
    if (rateLimited) {
      item.rateLimited = (item.rateLimited ?? 0) + 1;
      item.attempts--; // like an outage: the row keeps its retry budget
      c.retries++;
      // The gate holds all dispatch until the retry time; a lone refusal (rate.ts) holds only its row.
      if ((d.gate?.delayMs(d.now()) ?? 0) > 0) this.#queue.unshift(item);
      else this.#requeueAfter(item, decision.delayMs);
    } else if (decision.outage) {
      item.attempts--; // an outage is not the row's fault: it keeps its retry budget
      this.#queue.unshift(item);
      this.#startOutage();
    } else if (decision.retry) {
      c.retries++;
      d.log(`retry ${item.attempts} for row ${item.row.key} in ${decision.delayMs} ms: ${e.code} ${e.message.slice(0, 200)}`);
      this.#requeueAfter(item, decision.delayMs);
    } else {
      this.#finish(item, { error_code: e.code, error_message: e.message });
    }
  }

  /** Puts a row back at the front of the queue after `ms` (a retry's backoff, a refusal's retry time). */
  #requeueAfter(item: Item, ms: number): void {
    this.#delayed++;
    this.#d.sleep(ms, this.#d.signal).then(
      () => {
        this.#delayed--;
        this.#queue.unshift(item);
        this.#pumpAndNotify();
      },
      () => {
        this.#delayed--;
        this.#notify();
      },
    );
  }

  #startOutage(): void {
    const d = this.#d;
    if (this.#outageWait !== undefined) return;
    this.#c.outage = true;
    d.log(`engine outage: pausing dispatch, waiting up to ${d.outageTimeoutMs} ms for /health`);
    this.#outageWait = d.waitHealthy(d.outageTimeoutMs, d.signal).then(
      (ok) => {
        this.#outageWait = undefined;
        if (ok) {
          this.#c.outage = false;
          d.log('engine is back: resuming dispatch');
          this.#pump();
        } else this.#fatal ??= new OutageTimeout(`engine outage lasted longer than outage_timeout (${d.outageTimeoutMs} ms)`);
        this.#notify();
      },
      (err: unknown) => {
        this.#outageWait = undefined;
        this.#fatal ??= err as Error;
        this.#notify();
      },
    );
  }

  /** Writes the row's result line (ledger first, then stdout) and counts it. */
  #finish(item: Item, fields: Partial<ResultLine>): void {
    const d = this.#d;
    const result = resultLine(item, fields, d);
    countResult(this.#c, result);
    if (!d.emit(result) && !this.#outputBlocked) {
      this.#outputBlocked = true;
      void d.drained().then(() => {
        this.#outputBlocked = false;
        this.#pumpAndNotify();
      });
    }
  }
}
