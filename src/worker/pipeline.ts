/**
 * The partition pipeline: input lines → prepared requests → a bounded in-flight window → result
 * lines in completion order. It owns retries (through an injected pure `decide`) and the outage
 * circuit: on an outage, in-flight rows go back to the queue without spending their retry budget
 * and dispatch pauses until `/health` answers again or `outageTimeoutMs` passes.
 *
 * Memory stays flat: at most `highWater` rows are read ahead of the window, and dispatch stops
 * while stdout applies backpressure.
 */
import type { ResultLine } from './protocol.ts';
import type { InputRow } from './input.ts';
import { errorCodeOf } from '../errors.ts';
import { completionKind, retryReason } from '../scheduler/signals.ts';
import { isRateLimited } from '../engine/ratelimit.ts';
import { OutageTimeout } from '../engine/errors.ts';
import { TailHedger } from './hedge.ts';

export * from './pipeline-contract.ts';
import {
  FREE_RATE_LIMITED,
  FREE_RATE_LIMITED_MS,
  type Attempt,
  type DispatchQueue,
  type PipelineCounters,
  type PipelineDeps,
  type Prepared,
} from './pipeline-contract.ts';

interface Item {
  row: InputRow;
  prepared: Prepared;
  attempts: number;
  firstSentAt: number;
  /** Rate-limited refusals so far (FREE_RATE_LIMITED). */
  rateLimited?: number;
  /** When its latest attempt was sent. */
  sentAt: number;
  /** Its attempts out now: 1, or 2 while hedged (hedge.ts). */
  out: number;
  /** This send has a hedge out (or had). */
  hedged: boolean;
  /** Finished (a result line written): later answers of its other attempt are dropped. */
  done: boolean;
  /** The dispatch queue heard `settled` for its latest send. */
  queueSettled: boolean;
  /** Its attempts out now, to abandon the other one when one finishes the row. */
  live: Set<Live>;
}

/** One attempt out: abandoned when the row was finished by its other attempt (a hedge). */
interface Live {
  sentAt: number;
  abandoned: boolean;
}

function newItem(row: InputRow, prepared: Prepared): Item {
  return { row, prepared, attempts: 0, firstSentAt: 0, sentAt: 0, out: 0, hedged: false, done: false, queueSettled: true, live: new Set() };
}

export async function runPipeline(d: PipelineDeps): Promise<PipelineCounters> {
  const c: PipelineCounters = {
    rowsIn: 0,
    rowsDone: 0,
    rowsOk: 0,
    rowsFailed: 0,
    promptTokens: 0,
    completionTokens: 0,
    promptTokensCacheKnown: 0,
    promptTokensCached: 0,
    requestsSent: 0,
    retries: 0,
    hedges: 0,
    retriesByReason: {},
    inflight: 0,
    window: d.window.limit(),
    outage: false,
    errorsByCode: {},
  };
  const queue: DispatchQueue<Item> = d.makeQueue?.<Item>() ?? [];
  let delayed = 0;
  let readerDone = false;
  let outputBlocked = false;
  let fatal: Error | undefined;
  let outageWait: Promise<void> | undefined;
  let wake: () => void = () => {};
  let wakeP = new Promise<void>((r) => {
    wake = r;
  });
  const notify = (): void => {
    const w = wake;
    wakeP = new Promise<void>((r) => {
      wake = r;
    });
    w();
  };

  const finish = (item: Item, fields: Partial<ResultLine>, now: number): void => {
    const result: ResultLine = {
      k: item.row.key,
      c: item.row.carry,
      text: null,
      reasoning: null,
      json: null,
      embedding: null,
      finish_reason: null,
      prompt_tokens: null,
      completion_tokens: null,
      latency_ms: item.attempts > 0 ? now - item.firstSentAt : null,
      attempts: item.attempts,
      error_code: null,
      error_message: null,
      model: d.model,
      request: d.includeRequest && item.prepared.body !== '' ? item.prepared.body : null,
      ...fields,
    };
    c.rowsDone++;
    if (result.error_code === null) c.rowsOk++;
    else {
      c.rowsFailed++;
      c.errorsByCode[result.error_code] = (c.errorsByCode[result.error_code] ?? 0) + 1;
    }
    c.promptTokens += result.prompt_tokens ?? 0;
    c.completionTokens += result.completion_tokens ?? 0;
    if (!d.emit(result) && !outputBlocked) {
      outputBlocked = true;
      void d.drained().then(() => {
        outputBlocked = false;
        pump();
        notify();
      });
    }
  };

  const startOutage = (): void => {
    if (outageWait !== undefined) return;
    c.outage = true;
    d.log(`engine outage: pausing dispatch, waiting up to ${d.outageTimeoutMs} ms for /health`);
    outageWait = d.waitHealthy(d.outageTimeoutMs, d.signal).then(
      (ok) => {
        outageWait = undefined;
        if (ok) {
          c.outage = false;
          d.log('engine is back: resuming dispatch');
          pump();
        } else fatal ??= new OutageTimeout(`engine outage lasted longer than outage_timeout (${d.outageTimeoutMs} ms)`);
        notify();
      },
      (err: unknown) => {
        outageWait = undefined;
        fatal ??= err as Error;
        notify();
      },
    );
  };

  /** Rows with an attempt out (tail hedging looks at them). */
  const outstanding = new Set<Item>();
  const hedger = new TailHedger();
  /** Sends a row: its next attempt, or with `hedge` a second copy of the attempt out (no budget spent). */
  const send = (item: Item, hedge = false): void => {
    const now = d.now();
    c.inflight++;
    c.requestsSent++;
    if (hedge) {
      c.hedges++;
      item.hedged = true;
    } else {
      item.attempts++;
      if (item.attempts === 1) item.firstSentAt = now;
      item.sentAt = now;
      item.hedged = false;
      item.queueSettled = false;
    }
    item.out++;
    outstanding.add(item);
    const live: Live = { sentAt: now, abandoned: false };
    item.live.add(live);
    d.gate?.onSend(now, item.prepared.body);
    d.window.onStart?.();
    d.attempt(item.prepared, d.signal).then(
      (a) => settleLive(item, live, a),
      (err: unknown) =>
        settleLive(item, live, {
          ok: false,
          latencyMs: 0,
          error: { code: 'E_CONNECT', message: String((err as Error)?.message ?? err), raw: err },
        }),
    );
  };

  /** An attempt ended: counted off, and dropped when its row is decided by its other attempt. */
  const settleLive = (item: Item, live: Live, a: Attempt): void => {
    if (live.abandoned) return; // counted off when the row finished
    item.live.delete(live);
    item.out--;
    if (item.out === 0) outstanding.delete(item);
    if (item.done || (!a.ok && item.out > 0)) {
      // The row is finished, or its other attempt is still out and decides: this answer only tells the window.
      c.inflight--;
      const kind = a.ok ? 'ok' : completionKind({ ok: false, status: a.error.status, code: a.error.code });
      d.window.onComplete?.({ latencyMs: a.latencyMs, ok: a.ok, kind });
      pump();
      notify();
      return;
    }
    if (a.ok) {
      hedger.answered(a.latencyMs);
      // The other attempt (a hedge pair) is abandoned: the worker's abort at the end of the task cancels it.
      for (const other of item.live) {
        other.abandoned = true;
        item.out--;
        c.inflight--;
        d.window.onComplete?.({ latencyMs: d.now() - other.sentAt, ok: false, kind: 'error' });
      }
      item.live.clear();
      outstanding.delete(item);
    }
    settle(item, a);
  };

  /** Once nothing is left to send, hedges the requests that are out far longer than the others took. */
  const hedgeTail = (): void => {
    const idle = readerDone && next >= batch.length && queue.length === 0 && delayed === 0;
    if (!idle || stopped() || c.outage || fatal !== undefined) return;
    for (const item of hedger.pick(outstanding, d.now(), d.window.limit() - c.inflight)) {
      d.log(`hedging row ${item.row.key}: out ${d.now() - item.sentAt} ms, far longer than the partition's answers`);
      send(item, true);
    }
  };

  /** Puts a row back at the front of the queue after `ms` (a retry's backoff, a refusal's retry time). */
  const requeueAfter = (item: Item, ms: number): void => {
    delayed++;
    d.sleep(ms, d.signal).then(
      () => {
        delayed--;
        queue.unshift(item);
        pump();
        notify();
      },
      () => {
        delayed--;
        notify();
      },
    );
  };

  /** The last successful answer (the start until one comes): FREE_RATE_LIMITED_MS. */
  let lastOkAt = d.now();
  const settle = (item: Item, a: Attempt): void => {
    c.inflight--;
    if (!item.queueSettled) {
      item.queueSettled = true;
      queue.settled?.(item);
    }
    // A rate limit is back-pressure, not the row's failure (docs/scheduler.md, "Rate limits"); without a gate, none.
    const now = d.now();
    if (a.ok) lastOkAt = now;
    const rateLimited =
      d.gate !== undefined &&
      !a.ok &&
      isRateLimited(a.error.status, a.rateLimit) &&
      (item.rateLimited ?? 0) < FREE_RATE_LIMITED &&
      now - lastOkAt < FREE_RATE_LIMITED_MS;
    d.gate?.onAnswer(d.now(), item.prepared.body, rateLimited, a);
    if (a.ok) {
      if (a.cachedPromptTokens !== undefined && typeof a.fields.prompt_tokens === 'number') {
        c.promptTokensCacheKnown += a.fields.prompt_tokens;
        c.promptTokensCached += a.cachedPromptTokens;
      }
      d.window.onComplete?.({
        latencyMs: a.latencyMs,
        ok: true,
        kind: 'ok',
        ...(typeof a.fields.completion_tokens === 'number' ? { outputTokens: a.fields.completion_tokens } : {}),
      });
      item.done = true;
      finish(item, a.fields, d.now());
    } else {
      const e = a.error;
      const kind = completionKind({ ok: false, status: e.status, code: e.code, rateLimited });
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
        if ((d.gate?.delayMs(now) ?? 0) > 0) queue.unshift(item);
        else requeueAfter(item, decision.delayMs);
      } else if (decision.outage) {
        item.attempts--; // an outage is not the row's fault: it keeps its retry budget
        queue.unshift(item);
        startOutage();
      } else if (decision.retry) {
        c.retries++;
        d.log(`retry ${item.attempts} for row ${item.row.key} in ${decision.delayMs} ms: ${e.code} ${e.message.slice(0, 200)}`);
        requeueAfter(item, decision.delayMs);
      } else {
        finish(item, { error_code: e.code, error_message: e.message }, d.now());
      }
    }
    pump();
    notify();
  };

  d.window.onGrow?.(() => {
    pump();
    notify();
  });

  const stopped = (): boolean => d.stopDispatch?.aborted === true;
  d.stopDispatch?.addEventListener('abort', () => notify(), { once: true });
  // The rate gate's hold: one timer that calls pump again, never a busy loop.
  let gateTimer: ReturnType<typeof setTimeout> | undefined;
  let gateAt = Infinity;
  const gateOpen = (): boolean => {
    const wait = d.gate?.delayMs(d.now()) ?? 0;
    if (wait <= 0) return true;
    const at = d.now() + wait;
    if (gateTimer === undefined || at < gateAt) {
      clearTimeout(gateTimer);
      gateAt = at;
      gateTimer = setTimeout(() => {
        gateTimer = undefined;
        gateAt = Infinity;
        pump();
        notify();
      }, wait);
    }
    return false;
  };
  const pump = (): void => {
    c.window = d.window.limit();
    while (!stopped() && !c.outage && !outputBlocked && fatal === undefined && queue.length > 0 && c.inflight < c.window) {
      if (!gateOpen()) break;
      const item = queue.shift();
      if (item === undefined) break; // held back until a request ends
      send(item);
    }
  };

  const accept = (line: string): void => {
    const row = d.parse(line); // a protocol error propagates: the task fails and Spark retries it
    c.rowsIn++;
    let prepared: Prepared;
    try {
      prepared = d.prepare(row);
    } catch (err) {
      const message = typeof (err as { message?: unknown } | null)?.message === 'string' ? (err as Error).message : String(err);
      finish(newItem(row, { path: '', body: '' }), { error_code: errorCodeOf(err, 'E_TEMPLATE'), error_message: message }, d.now());
      return;
    }
    queue.push(newItem(row, prepared));
  };

  const it = d.lines[Symbol.asyncIterator]();
  let pendingRead: Promise<IteratorResult<string | readonly string[]>> | undefined;
  // The lines of the last batch read and not yet accepted: taken one by one, as the queue has room.
  let batch: readonly string[] = [];
  let next = 0;
  const statsTimer = setInterval(() => d.onStats?.(c), 1000);
  const hedgeTimer = setInterval(hedgeTail, 500);
  try {
    for (;;) {
      if (fatal !== undefined) throw fatal;
      if (stopped()) {
        if (c.inflight === 0 && delayed === 0) break;
        await wakeP;
        continue;
      }
      const highWater = Math.max(64, 2 * d.window.limit(), queue.readAhead ?? 0);
      if (next < batch.length && queue.length < highWater) {
        accept(batch[next++] as string);
        pump();
        continue;
      }
      if (!readerDone && queue.length < highWater) {
        pendingRead ??= it.next();
        // Race the read against completions so queued rows dispatch while stdin is slow.
        const r = await Promise.race([pendingRead, wakeP.then(() => undefined)]);
        if (r !== undefined) {
          pendingRead = undefined;
          if (r.done === true) readerDone = true;
          else if (typeof r.value === 'string') accept(r.value);
          else {
            batch = r.value;
            next = 0;
          }
        }
        pump();
        continue;
      }
      pump();
      if (readerDone && next >= batch.length && queue.length === 0 && c.inflight === 0 && delayed === 0) break;
      await wakeP;
    }
  } finally {
    clearInterval(statsTimer);
    clearInterval(hedgeTimer);
    clearTimeout(gateTimer);
    d.onStats?.(c);
  }
  if (outputBlocked) await d.drained();
  return c;
}
