/**
 * `sparkinfer estimate`'s projection: pure arithmetic over what the estimate measured (the driver's
 * `driver_estimate.json`) and the job. No I/O. How each number is made (README "Estimating a job"):
 *   - prompt tokens: counted exactly, every row, by the engine's own tokenizer;
 *   - completion tokens: the rows already finished (earlier ledgers and the sample) exactly, plus
 *     the rows left × the sample's mean; the range is the mean ± two standard errors
 *     (2·sd/√n, about 95 % for the mean), clipped to 0..max_tokens;
 *   - wall time of the next `sparkinfer run`: start-up + inference + wrap-up (`nextRunTime`). The
 *     start-up is the estimate's own (Spark, engine, prepare: the same steps) plus the next run's
 *     resume step, rehearsed by the estimate on the sample's ledger. The inference splits the sample
 *     pass into what it paid once (its job's start, slots idle while its last tasks ran) and what
 *     it paid per row (its tasks' seconds ÷ their rows, over the next run's task slots): a sample
 *     of 32 rows pays the once-part as a run of thousands does, so dividing the rows left by its
 *     rows per second counted that part again for every 32 rows. The wrap-up is the estimate's own
 *     plus a rehearsed read-back like the next run's summary. The range scales the per-row part by
 *     the wider of the completion range and the tasks' spread (their seconds per row, mean ± two
 *     standard errors). Measurements without the task split (an older driver) fall back to rows
 *     left ÷ the sample's rows per second, and the estimate's own start-up and wrap-up;
 *   - cost of the next run: `price_per_hour` × its wall time, plus the per-million-token prices ×
 *     the tokens of the rows left (the parts given add up).
 */
import type { Job } from '../jobfile/schema.ts';

/** One sampled row's result, as the driver collected it. */
export interface SampleRow {
  prompt_tokens: number | null;
  completion_tokens: number | null;
  finish_reason: string | null;
  error_code: string | null;
}

/** What the driver measured (python/sparkinfer/estimate.py writes it as `driver_estimate.json`). */
export interface EstimateMeasurements {
  /** Input rows. */
  rows: number;
  /** Rows whose prompt the engine counted, and their prompt tokens. */
  rows_counted: number;
  prompt_tokens: number;
  /** Rows that could not be counted, by error code (a template error, an engine that refused). */
  count_errors_by_code: Record<string, number>;
  /** Rows finished in earlier runs (taken from their ledgers), with their token sums. */
  rows_from_ledger: number;
  ledger_prompt_tokens: number;
  ledger_completion_tokens: number;
  /** The sampled rows' results (they are in this run's ledger now). */
  sample: SampleRow[];
  /** Wall seconds of the sample's inference pass. */
  sample_s: number;
  /** Wall seconds of the token-count pass. */
  count_s: number;
  /** Epoch ms: when the count pass began (start-up ends there), and when the sample pass ended. */
  count_started_at: number;
  sample_ended_at: number;
  /** Each sample task's rows and seconds (its worker's stats file). Absent from an older driver's. */
  tasks?: { rows: number; s: number }[];
  /** Task slots the sample pass had, and the ones the next run's inference will keep busy. */
  slots?: number;
  run_slots?: number;
  /** Seconds of the next run's resume step and of its summary's read-back, rehearsed. */
  resume_s?: number;
  readback_s?: number;
  /** Epoch ms: when the rehearsal ended (the estimate's own wrap-up starts there). */
  wrapup_started_at?: number;
}

export interface Range {
  low: number;
  mid: number;
  high: number;
}

export interface Projection {
  /** `generate`, or `embed` (no completion tokens). */
  task: Job['task'];
  rows: number;
  /** Rows with a result already (earlier ledgers and the sample): the next run takes them as they are. */
  rows_done: number;
  rows_left: number;
  /** Every row's prompt tokens, exact. */
  prompt_tokens: number;
  prompt_tokens_left: number;
  rows_not_counted: number;
  count_errors_by_code: Record<string, number>;
  completion: {
    sampled: number;
    failed: number;
    mean: number | null;
    p50: number | null;
    p95: number | null;
    hit_max_tokens: number;
    max_tokens: number;
  };
  /** The whole job's completion tokens (rows done exactly, rows left projected). */
  completion_tokens: Range;
  throughput: { rows_per_s: number | null; output_tokens_per_s: number | null };
  /** The next `sparkinfer run`: start-up + inference of the rows left + wrap-up. */
  wall_s: Range;
  startup_s: number;
  infer_s: Range;
  tail_s: number;
  /** The next run's cost, when the job gives a price; `basis` says how. */
  cost: (Range & { basis: string }) | null;
}

/** Nearest-rank percentile of ascending numbers (`q` in 0..100); null for none. */
export function percentile(sorted: readonly number[], q: number): number | null {
  if (sorted.length === 0) return null;
  const rank = Math.ceil((q / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1] as number;
}

/** Mean and the half-width of its ~95 % interval (2·sd/√n); with one value the interval is unknown (Infinity). */
export function meanInterval(values: readonly number[]): { mean: number; half: number } | null {
  const n = values.length;
  if (n === 0) return null;
  const mean = values.reduce((a, b) => a + b, 0) / n;
  if (n === 1) return { mean, half: Number.POSITIVE_INFINITY };
  const variance = values.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1);
  return { mean, half: (2 * Math.sqrt(variance)) / Math.sqrt(n) };
}

const round = (x: number, digits = 0): number => {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
};

/**
 * The projection. `finishedAt` is when the estimate's CLI ended (epoch ms), for its wrap-up time;
 * `job` gives `sampling.max_tokens`, the task and the prices.
 */
export function project(
  m: EstimateMeasurements,
  job: Pick<Job, 'task' | 'sampling' | 'estimate'>,
  times: { startedAt: number; finishedAt: number },
): Projection {
  const maxTokens = typeof job.sampling.max_tokens === 'number' ? job.sampling.max_tokens : 0;
  const ok = m.sample.filter((r) => r.error_code === null && typeof r.completion_tokens === 'number');
  const completions = ok.map((r) => r.completion_tokens as number).sort((a, b) => a - b);
  const sampledCompletion = m.sample.reduce((a, r) => a + (r.completion_tokens ?? 0), 0);
  const sampledPrompt = m.sample.reduce((a, r) => a + (r.prompt_tokens ?? 0), 0);
  const rowsDone = m.rows_from_ledger + m.sample.length;
  const rowsLeft = Math.max(0, m.rows - rowsDone);
  const known = m.ledger_completion_tokens + sampledCompletion;
  // embed: no completion tokens, and the interval is moot.
  const ci = job.task === 'embed' ? { mean: 0, half: 0 } : meanInterval(completions);
  const perRow: Range =
    ci === null
      ? { low: 0, mid: maxTokens / 2, high: maxTokens } // nothing sampled came back ok: anything up to max_tokens
      : {
          low: Math.max(0, ci.mean - ci.half),
          mid: ci.mean,
          high: job.task === 'embed' ? 0 : Math.min(maxTokens > 0 ? maxTokens : Number.POSITIVE_INFINITY, ci.mean + ci.half),
        };
  const completionTokens: Range = {
    low: Math.round(known + rowsLeft * perRow.low),
    mid: Math.round(known + rowsLeft * perRow.mid),
    high: Math.round(known + rowsLeft * perRow.high),
  };
  const sampleS = m.sample_s > 0 ? m.sample_s : null;
  const rowsPerS = sampleS !== null && m.sample.length > 0 ? m.sample.length / sampleS : null;
  const tokPerS = sampleS !== null ? sampledCompletion / sampleS : null;
  // A generation's time follows its completion tokens: the inference range scales with theirs.
  const scale = (x: number): number => (perRow.mid > 0 ? x / perRow.mid : 1);
  const { startup, infer, tail } = nextRunTime(m, rowsLeft, { low: scale(perRow.low), high: scale(perRow.high) }, times);
  const wall: Range = { low: startup + infer.low + tail, mid: startup + infer.mid + tail, high: startup + infer.high + tail };
  const promptLeft = Math.max(0, m.prompt_tokens - m.ledger_prompt_tokens - sampledPrompt);
  return {
    task: job.task,
    rows: m.rows,
    rows_done: rowsDone,
    rows_left: rowsLeft,
    prompt_tokens: m.prompt_tokens,
    prompt_tokens_left: promptLeft,
    rows_not_counted: m.rows - m.rows_counted,
    count_errors_by_code: m.count_errors_by_code,
    completion: {
      sampled: m.sample.length,
      failed: m.sample.length - ok.length,
      mean: ci === null ? null : round(ci.mean, 2),
      p50: percentile(completions, 50),
      p95: percentile(completions, 95),
      hit_max_tokens: ok.filter((r) => r.finish_reason === 'length' || (maxTokens > 0 && (r.completion_tokens as number) >= maxTokens))
        .length,
      max_tokens: maxTokens,
    },
    completion_tokens: completionTokens,
    throughput: {
      rows_per_s: rowsPerS === null ? null : round(rowsPerS, 3),
      output_tokens_per_s: tokPerS === null ? null : round(tokPerS, 1),
    },
    wall_s: { low: round(wall.low, 1), mid: round(wall.mid, 1), high: round(wall.high, 1) },
    startup_s: round(startup, 1),
    infer_s: { low: round(infer.low, 1), mid: round(infer.mid, 1), high: round(infer.high, 1) },
    tail_s: round(tail, 1),
    cost: costOf(job.estimate, wall, promptLeft, {
      low: completionTokens.low - known,
      mid: completionTokens.mid - known,
      high: completionTokens.high - known,
    }),
  };
}

/**
 * The next run's start-up, inference and wrap-up, in seconds (the header says how). `completion`:
 * the completion range as factors of its middle (low ≤ 1 ≤ high).
 */
export function nextRunTime(
  m: EstimateMeasurements,
  rowsLeft: number,
  completion: { low: number; high: number },
  times: { startedAt: number; finishedAt: number },
): { startup: number; infer: Range; tail: number } {
  const ownStartup = Math.max(0, (m.count_started_at - times.startedAt) / 1000);
  const tasks = (m.tasks ?? []).filter((t) => t.rows > 0 && t.s >= 0);
  const rows = tasks.reduce((a, t) => a + t.rows, 0);
  const { slots, run_slots: runSlots } = m;
  if (rows === 0 || slots === undefined || runSlots === undefined || slots < 1 || runSlots < 1) {
    const rowsPerS = m.sample_s > 0 && m.sample.length > 0 ? m.sample.length / m.sample_s : null;
    const mid = rowsLeft === 0 ? 0 : rowsPerS !== null ? rowsLeft / rowsPerS : Number.NaN;
    const tail = Math.max(0, (times.finishedAt - m.sample_ended_at) / 1000);
    return { startup: ownStartup, infer: { low: mid * completion.low, mid, high: mid * completion.high }, tail };
  }
  const slotSeconds = tasks.reduce((a, t) => a + t.s, 0);
  // Paid once by a pass however many rows it has: its job's start, slots idle while its last tasks ran.
  const once = Math.max(0, m.sample_s - slotSeconds / slots);
  const perRows = rowsLeft === 0 ? 0 : (rowsLeft * (slotSeconds / rows)) / runSlots;
  const spread = meanInterval(tasks.map((t) => t.s / t.rows));
  const rel = spread !== null && Number.isFinite(spread.half) && spread.mean > 0 ? spread.half / spread.mean : 0;
  const infer: Range =
    rowsLeft === 0
      ? { low: 0, mid: 0, high: 0 }
      : {
          low: once + perRows * Math.max(0, Math.min(completion.low, 1 - rel)),
          mid: once + perRows,
          high: once + perRows * Math.max(completion.high, 1 + rel),
        };
  const wrapupAt = m.wrapup_started_at ?? m.sample_ended_at;
  return {
    startup: ownStartup + (m.resume_s ?? 0),
    infer,
    tail: (m.readback_s ?? 0) + Math.max(0, (times.finishedAt - wrapupAt) / 1000),
  };
}

/** The next run's cost from the job's prices; null without one. */
export function costOf(
  prices: Job['estimate'],
  wallS: Range,
  promptLeft: number,
  completionLeft: Range,
): (Range & { basis: string }) | null {
  if (prices === undefined) return null;
  const parts: string[] = [];
  const at = (k: keyof Range): number => {
    let c = 0;
    if (prices.price_per_hour !== undefined) c += (prices.price_per_hour * wallS[k]) / 3600;
    if (prices.price_per_million_prompt_tokens !== undefined) c += (prices.price_per_million_prompt_tokens * promptLeft) / 1e6;
    if (prices.price_per_million_completion_tokens !== undefined)
      c += (prices.price_per_million_completion_tokens * completionLeft[k]) / 1e6;
    return round(c, 4);
  };
  if (prices.price_per_hour !== undefined) parts.push(`price_per_hour ${prices.price_per_hour} × the wall time`);
  if (prices.price_per_million_prompt_tokens !== undefined)
    parts.push(`price_per_million_prompt_tokens ${prices.price_per_million_prompt_tokens} × the prompt tokens left`);
  if (prices.price_per_million_completion_tokens !== undefined)
    parts.push(`price_per_million_completion_tokens ${prices.price_per_million_completion_tokens} × the completion tokens left`);
  return { low: at('low'), mid: at('mid'), high: at('high'), basis: parts.join(' + ') };
}
