/**
 * A staged job's partition (docs/stages.md): the partition's rows read once, then each stage in
 * order through the usual pipeline (window, retries, hedging) over the rows its gate lets through
 * and that the stage ledger has no result for; each stage result goes to the stage ledger as it
 * comes. At the end one line per row, with one struct per stage (null where a gate excluded the
 * row) and the row's outcome, goes to the row ledger and stdout like any result line.
 */
import type { ResolvedJob } from '../jobfile/resolved.ts';
import { evalGate, parseGate } from '../prompt/gate.ts';
import type { InputRow } from './input.ts';
import type { ResultLine } from './protocol.ts';
import { runPipeline } from './pipeline.ts';
import type { PipelineCounters, PipelineDeps } from './pipeline-contract.ts';
import { countOutcome, newCounters } from './pipeline-row.ts';
import { makeRequestBuilder } from './request.ts';
import { type StageResult, stageKey } from './stage-ledger.ts';
import type { StageEngines } from './stage-engines.ts';

type Stage = NonNullable<ResolvedJob['stages']>[number];

export interface StagedDeps {
  /** The one-stage deps: input lines, the final writer (`emit`, `drained`), retries, stats. */
  base: PipelineDeps;
  job: ResolvedJob;
  engines: StageEngines;
  /** Finished (stage, row) results from the stage ledgers (stage-ledger.ts). */
  done: Map<string, StageResult>;
  /** Appends one stage-ledger line (without newline) before anything uses it. */
  record(line: string): void;
  /** Counts a stage answer against the spend budgets (stopping.ts). */
  spend(r: ResultLine): void;
}

/** A row in flight through the stages: what its templates and gates see, by name. */
interface Row {
  input: InputRow;
  scope: Record<string, unknown>;
  results: Map<string, StageResult>;
}

/** The job as one stage sees it: the stage's prompt, sampling, response and model. */
function stageJob(job: ResolvedJob, s: Stage): ResolvedJob {
  const { stages: _stages, ...rest } = job;
  const { chat_template: _ct, ...run } = job.run;
  return {
    ...rest,
    prompt: s.prompt,
    sampling: s.sampling ?? job.sampling,
    response: s.response,
    model: s.model ?? job.model,
    engine: { ...job.engine, prefix_order: 'off' },
    run: { ...run, engine_kind: s.engine?.kind ?? job.run.engine_kind },
  };
}

/** What a stage result looks like to later templates and gates: `json` parsed. */
function scoped(r: StageResult): Record<string, unknown> {
  let json: unknown = null;
  try {
    json = r.json === null ? null : JSON.parse(r.json);
  } catch {
    json = null;
  }
  return { ...r, json };
}

function stageResult(r: ResultLine): StageResult {
  return {
    text: r.text,
    reasoning: r.reasoning,
    json: r.json,
    finish_reason: r.finish_reason,
    prompt_tokens: r.prompt_tokens,
    completion_tokens: r.completion_tokens,
    latency_ms: r.latency_ms,
    attempts: r.attempts,
    error_code: r.error_code,
    error_message: r.error_message,
    model: r.model,
  };
}

/** Adds a finished stage's counters to the running sum (tokens, requests, retries, latency). */
function addCounters(sum: PipelineCounters, c: PipelineCounters): void {
  for (const k of [
    'promptTokens',
    'completionTokens',
    'promptTokensCacheKnown',
    'promptTokensCached',
    'requestsSent',
    'retries',
    'hedges',
  ] as const)
    sum[k] += c[k];
  for (const [k, v] of Object.entries(c.retriesByReason))
    sum.retriesByReason[k as keyof typeof sum.retriesByReason] =
      (sum.retriesByReason[k as keyof typeof sum.retriesByReason] ?? 0) + (v ?? 0);
  sum.latency = c.latency;
}

/** Runs one stage over the rows that need it; fills each row's scope and results. */
async function runStage(d: StagedDeps, s: Stage, rows: Row[], sum: PipelineCounters): Promise<void> {
  const gate = s.when !== undefined ? parseGate(s.when) : undefined;
  const todo: Row[] = [];
  let gated = 0;
  for (const row of rows) {
    const finished = d.done.get(stageKey(s.name, row.input.key));
    if (finished !== undefined) {
      row.results.set(s.name, finished);
      row.scope[s.name] = scoped(finished);
    } else if (gate !== undefined && !evalGate(gate, row.scope)) {
      gated++;
      row.scope[s.name] = null;
    } else todo.push(row);
  }
  d.base.log(
    `stage ${s.name}: ${todo.length} rows to send, ${rows.length - todo.length - gated} from the stage ledger, ${gated} excluded by its gate`,
  );
  if (todo.length === 0) return;
  const byKey = new Map(todo.map((r) => [r.input.key, r]));
  const builder = makeRequestBuilder(stageJob(d.job, s), d.base.log);
  const engine = d.engines.for(s.engine?.endpoint);
  const { makeQueue: _fifo, ...base } = d.base;
  const c = await runPipeline({
    ...base,
    lines: (async function* () {
      yield todo.map((_, i) => String(i));
    })(),
    parse: (line) => {
      const row = todo[Number(line)] as Row;
      return { key: row.input.key, carry: null, row: row.scope };
    },
    prepare: (r) => builder.prepare(r),
    attempt: (p, sig) => builder.attempt(engine.client, p, sig),
    window: engine.window,
    waitHealthy: engine.waitHealthy,
    model: s.model ?? d.job.model,
    includeRequest: false,
    emit: (r) => {
      const row = byKey.get(r.k) as Row;
      const result = stageResult(r);
      d.spend(r);
      d.record(JSON.stringify({ k: r.k, s: s.name, r: result }));
      row.results.set(s.name, result);
      row.scope[s.name] = scoped(result);
      return true;
    },
    drained: async () => {},
    onStats: (cur) =>
      d.base.onStats?.({
        ...cur,
        promptTokens: sum.promptTokens + cur.promptTokens,
        completionTokens: sum.completionTokens + cur.completionTokens,
        requestsSent: sum.requestsSent + cur.requestsSent,
        rowsIn: rows.length,
        rowsDone: 0,
        rowsOk: 0,
        rowsFailed: 0,
      }),
  });
  addCounters(sum, c);
}

/** The row's final line: one struct per stage, then its outcome (the last stage that ran decides its error). */
function finalLine(stages: readonly Stage[], row: Row): Record<string, unknown> {
  const line: Record<string, unknown> = { k: row.input.key, c: row.input.carry };
  let last: StageResult | undefined;
  let prompt = 0;
  let completion = 0;
  let attempts = 0;
  for (const s of stages) {
    const r = row.results.get(s.name);
    line[s.name] = r ?? null;
    if (r === undefined) continue;
    last = r;
    prompt += r.prompt_tokens ?? 0;
    completion += r.completion_tokens ?? 0;
    attempts += r.attempts;
  }
  return {
    ...line,
    error_code: last?.error_code ?? null,
    error_message: last?.error_message ?? null,
    prompt_tokens: prompt,
    completion_tokens: completion,
    attempts,
  };
}

/** Runs every stage over the partition, then writes one line per row. Returns the summed counters. */
export async function runStagedPipeline(d: StagedDeps): Promise<PipelineCounters> {
  const stages = d.job.stages ?? [];
  const rows: Row[] = [];
  for await (const batch of d.base.lines)
    for (const line of typeof batch === 'string' ? [batch] : batch) {
      const input = d.base.parse(line);
      rows.push({ input, scope: { ...input.row }, results: new Map() });
    }
  const sum = newCounters(d.base.window.limit());
  sum.rowsIn = rows.length;
  for (const s of stages) {
    if (d.base.stopDispatch?.aborted === true || d.base.signal.aborted) return sum;
    await runStage(d, s, rows, sum);
  }
  // Stopped during the last stage: its unfinished rows have no result yet (the stage ledger keeps the rest).
  if (d.base.stopDispatch?.aborted === true || d.base.signal.aborted) return sum;
  for (const row of rows) {
    const line = finalLine(stages, row);
    countOutcome(sum, line.error_code as ResultLine['error_code']);
    if (!d.base.emit(line as unknown as ResultLine)) await d.base.drained();
  }
  d.base.onStats?.(sum);
  return sum;
}
