/**
 * A run's progress as its files tell it: rows and tokens summed over the workers' stats files
 * (src/rundir/stats.ts), the total from the driver's `plan.json`. Read every second by the CLI's
 * progress line (src/spark/progress.ts), the run's timeline (src/job/timeline.ts) and the summary.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { addHistogram, newHistogram, type LatencyHistogram } from './histogram.ts';
import type { WorkerStats } from './stats.ts';

export interface Progress {
  rowsTotal?: number;
  rowsDone: number;
  rowsFailed: number;
  completionTokens: number;
  promptTokens: number;
  /** Prompt tokens whose engine said how many it served from its cache, and that many (stats.ts). */
  promptTokensCacheKnown?: number;
  promptTokensCached?: number;
  inflight: number;
  /** Resends of failed attempts and the adaptive windows' cuts, by reason, over every stats file (stats.ts). */
  retriesByReason?: Record<string, number>;
  windowCuts?: Record<string, number>;
  /** Hedges sent (worker/hedge.ts), over every stats file. */
  hedges?: number;
  /** Requests sent (every attempt, hedges included), over every stats file. */
  requestsSent?: number;
  /** Rows that ended in a per-row error, by code, over every stats file. */
  errorsByCode?: Record<string, number>;
  /** Every attempt's latency (histogram.ts), over every stats file. */
  latency?: LatencyHistogram;
  /** The in-flight windows of the workers still running, summed, and how many those are. */
  window?: number;
  active?: number;
  workers: number;
  tasksDone?: number;
  tasksActive?: number;
  tasksTotal?: number;
}

function readJson<T>(path: string): T | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

/** Adds `from`'s counts into `into`, by key; a stats file of an older worker has none (undefined). */
function addCounts(into: Record<string, number>, from: Record<string, number> | undefined): void {
  if (from === null || typeof from !== 'object') return;
  for (const [k, n] of Object.entries(from)) if (typeof n === 'number' && Number.isFinite(n) && n > 0) into[k] = (into[k] ?? 0) + n;
}

/** Sums the stats files. A retried task attempt leaves its own file; counts can briefly exceed the total. */
export function readProgress(runDir: string): Progress {
  const p: Progress = {
    rowsDone: 0,
    rowsFailed: 0,
    completionTokens: 0,
    promptTokens: 0,
    promptTokensCacheKnown: 0,
    promptTokensCached: 0,
    inflight: 0,
    retriesByReason: {},
    windowCuts: {},
    requestsSent: 0,
    errorsByCode: {},
    latency: newHistogram(),
    window: 0,
    active: 0,
    workers: 0,
  };
  const plan = readJson<{ rows_total?: number }>(join(runDir, 'plan.json'));
  if (plan?.rows_total !== undefined) p.rowsTotal = plan.rows_total;
  let names: string[] = [];
  try {
    names = readdirSync(join(runDir, 'stats')).filter((n) => n.endsWith('.json') && !n.startsWith('.'));
  } catch {
    return p;
  }
  for (const n of names) {
    const s = readJson<WorkerStats>(join(runDir, 'stats', n));
    if (s === undefined) continue;
    p.workers++;
    p.rowsDone += s.rows_done;
    p.rowsFailed += s.rows_failed;
    p.completionTokens += s.completion_tokens;
    p.promptTokens += s.prompt_tokens;
    p.promptTokensCacheKnown = (p.promptTokensCacheKnown ?? 0) + (s.prompt_tokens_cache_known ?? 0);
    p.promptTokensCached = (p.promptTokensCached ?? 0) + (s.prompt_tokens_cached ?? 0);
    addCounts((p.retriesByReason ??= {}), s.retries_by_reason);
    addCounts((p.windowCuts ??= {}), s.window_cuts);
    p.hedges = (p.hedges ?? 0) + (s.hedges ?? 0);
    p.requestsSent = (p.requestsSent ?? 0) + (s.requests_sent ?? 0);
    addCounts((p.errorsByCode ??= {}), s.errors_by_code);
    addHistogram((p.latency ??= newHistogram()), s.request_seconds);
    if (!s.done) {
      p.inflight += s.inflight;
      p.window = (p.window ?? 0) + (s.window ?? 0);
      p.active = (p.active ?? 0) + 1;
    }
  }
  return p;
}
