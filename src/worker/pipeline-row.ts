/**
 * One row's state in the partition pipeline (pipeline.ts): its attempts out (`Live`, two while
 * hedged), what it counts, and the result line it ends as; and the pipeline's fresh counters.
 */
import type { ResultLine } from './protocol.ts';
import type { InputRow } from './input.ts';
import type { PipelineCounters, PipelineDeps, Prepared } from './pipeline-contract.ts';
import { newHistogram } from '../rundir/histogram.ts';

export interface Item {
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
  /** This send has a hedge out (or had); false again when a hedge failed and another may go (MAX_HEDGES_PER_SEND). */
  hedged: boolean;
  /** Hedges sent for its latest attempt. */
  hedges: number;
  /** Finished (a result line written): later answers of its other attempt are dropped. */
  done: boolean;
  /** The dispatch queue heard `settled` for its latest send. */
  queueSettled: boolean;
  /** Its attempts out now, to abandon the other one when one finishes the row. */
  live: Set<Live>;
}

/** One attempt out. */
export interface Live {
  sentAt: number;
  /** The row was finished by its other attempt: this one's answer is dropped. */
  abandoned: boolean;
  /** Presumed lost (hedged mid-partition): its window place went to the hedge, so its end counts nothing off. */
  released: boolean;
  /** Cancels this attempt alone (its row was answered by the other one); the task's signal cancels them all. */
  cancel: AbortController;
}

export function newItem(row: InputRow, prepared: Prepared): Item {
  return {
    row,
    prepared,
    attempts: 0,
    firstSentAt: 0,
    sentAt: 0,
    out: 0,
    hedged: false,
    hedges: 0,
    done: false,
    queueSettled: true,
    live: new Set(),
  };
}

/** The result line of a row: null fields, then what its answer or error gave. */
export function resultLine(item: Item, fields: Partial<ResultLine>, d: Pick<PipelineDeps, 'now' | 'model' | 'includeRequest'>): ResultLine {
  return {
    k: item.row.key,
    c: item.row.carry,
    text: null,
    reasoning: null,
    json: null,
    embedding: null,
    finish_reason: null,
    prompt_tokens: null,
    completion_tokens: null,
    latency_ms: item.attempts > 0 ? d.now() - item.firstSentAt : null,
    attempts: item.attempts,
    error_code: null,
    error_message: null,
    model: d.model,
    request: d.includeRequest && item.prepared.body !== '' ? item.prepared.body : null,
    ...fields,
  };
}

export function newCounters(window: number): PipelineCounters {
  return {
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
    window,
    outage: false,
    errorsByCode: {},
    latency: newHistogram(),
  };
}

/** Counts a written result line: rows, failures by code, tokens. */
export function countResult(c: PipelineCounters, result: ResultLine): void {
  countOutcome(c, result.error_code);
  c.promptTokens += result.prompt_tokens ?? 0;
  c.completionTokens += result.completion_tokens ?? 0;
}

/** Counts a finished row by its outcome: ok, or failed with its code (a staged job's tokens are counted per stage). */
export function countOutcome(c: PipelineCounters, errorCode: ResultLine['error_code']): void {
  c.rowsDone++;
  if (errorCode === null) c.rowsOk++;
  else {
    c.rowsFailed++;
    c.errorsByCode[errorCode] = (c.errorsByCode[errorCode] ?? 0) + 1;
  }
}
