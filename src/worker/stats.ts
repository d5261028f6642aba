/**
 * Worker statistics, written atomically (tmp + rename) to `<run>/stats/<worker id>.json` about once
 * a second. The CLI (and on Kubernetes the driver) sums them for progress and the failure budget.
 * The file's format is src/rundir/stats.ts; this is the worker's writer.
 */
import { mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { WorkerStats } from '../rundir/stats.ts';
import { newHistogram } from '../rundir/histogram.ts';

export function newStats(worker: string, now: number): WorkerStats {
  return {
    worker,
    pid: process.pid,
    started_at: now,
    updated_at: now,
    rows_in: 0,
    rows_done: 0,
    rows_ok: 0,
    rows_failed: 0,
    prompt_tokens: 0,
    completion_tokens: 0,
    prompt_tokens_cache_known: 0,
    prompt_tokens_cached: 0,
    requests_sent: 0,
    retries: 0,
    retries_by_reason: {},
    hedges: 0,
    window_cuts: {},
    engine_bound: null,
    request_seconds: newHistogram(),
    inflight: 0,
    window: 0,
    errors_by_code: {},
    outage: false,
    done: false,
    max_rss_kb: 0,
  };
}

/** A window's cuts by reason when it keeps them (the adaptive window's `snapshot()`), else {}. */
export function windowCuts(window: object): Record<string, number> {
  const snap = (window as { snapshot?: () => { cuts?: Record<string, number> } }).snapshot;
  if (typeof snap !== 'function') return {};
  return { ...(snap.call(window).cuts ?? {}) };
}

/** The bound of the engine the window shares (scheduler/share.ts `SharedWindow`), once known; else null. */
export function engineBound(window: object): number | null {
  const bound = (window as { share?: { bound?: unknown } }).share?.bound;
  return typeof bound === 'number' ? bound : null;
}

/**
 * This process's peak resident memory in KiB: `VmHWM` of /proc/self/status. Not getrusage's
 * ru_maxrss: Linux carries that across fork and exec, so a worker started by Spark's JVM would
 * report the JVM's peak (proc(5), getrusage(2)).
 */
export function peakRssKb(): number {
  try {
    const m = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync('/proc/self/status', 'utf8'));
    if (m !== null) return Number(m[1]);
  } catch {
    // not Linux
  }
  return process.resourceUsage().maxRSS;
}

export class StatsFile {
  readonly #path: string;
  readonly #tmp: string;
  constructor(dir: string, worker: string) {
    mkdirSync(dir, { recursive: true });
    this.#path = join(dir, `${worker}.json`);
    this.#tmp = join(dir, `.${worker}.json.tmp`);
  }
  write(stats: WorkerStats): void {
    stats.max_rss_kb = peakRssKb();
    writeFileSync(this.#tmp, JSON.stringify(stats));
    renameSync(this.#tmp, this.#path);
  }
}

/**
 * Tokens spent so far by the other workers of the run, summed over their stats files (a second
 * stale at most): with its own counters, what a worker checks the spend budgets against.
 */
export function otherWorkersTokens(dir: string, self: string): { promptTokens: number; completionTokens: number } {
  const sum = { promptTokens: 0, completionTokens: 0 };
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return sum;
  }
  for (const n of names) {
    if (!n.endsWith('.json') || n.startsWith('.') || n === `${self}.json`) continue;
    try {
      const s = JSON.parse(readFileSync(join(dir, n), 'utf8')) as Partial<WorkerStats>;
      sum.promptTokens += s.prompt_tokens ?? 0;
      sum.completionTokens += s.completion_tokens ?? 0;
    } catch {
      // being replaced: the next look sees it
    }
  }
  return sum;
}
