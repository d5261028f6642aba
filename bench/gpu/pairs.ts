/**
 * Pairs of arms (engine ceiling, worker) from gpu-bench --repeats, combined into one row. Shared by
 * gpu-bench.ts (one engine start) and collect.ts (several starts filed as one row, NAME=A+B).
 */
import { round } from '../lib/context.ts';

export type Arm = Record<string, unknown>;
/** One pair of arms; `first` says which ran first (gpu-bench alternates it). */
export interface Pair {
  ceiling?: Arm;
  worker?: Arm;
  first?: 'ceiling' | 'worker';
}

/**
 * One repeat: its arms as measured. Several: each arm is the mean of its repeats (`tok_s`, `rps`,
 * GPU `sm`), `repeats` keeps every pair, and the ratio is the ratio of the means, with the
 * per-pair ratios' range beside it.
 */
export function combine(pairs: Pair[]): Record<string, unknown> {
  const ratioOf = (p: Pair): number | null =>
    p.ceiling !== undefined && p.worker !== undefined ? round((p.worker.tok_s as number) / (p.ceiling.tok_s as number)) : null;
  if (pairs.length === 1) {
    const p = pairs[0] as Pair;
    return { ceiling: p.ceiling, worker: p.worker, worker_vs_engine_ratio: ratioOf(p) };
  }
  const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
  const sd = (xs: number[]): number => Math.sqrt(xs.reduce((a, x) => a + (x - mean(xs)) ** 2, 0) / Math.max(1, xs.length - 1));
  const arm = (name: 'ceiling' | 'worker'): Record<string, unknown> | undefined => {
    const each = pairs.map((p) => p[name]).filter((a): a is Record<string, unknown> => a !== undefined);
    if (each.length === 0) return undefined;
    const tok = each.map((a) => a.tok_s as number);
    const utils = each.map((a) => (a.gpu_util as { mean: number | null }).mean).filter((u): u is number => u !== null);
    return {
      tok_s: round(mean(tok), 1),
      tok_s_sd: round(sd(tok), 1),
      tok_s_each: tok,
      rps: round(mean(each.map((a) => a.rps as number)), 1),
      gpu_util: { mean: utils.length === 0 ? null : round(mean(utils), 1) },
      ...(name === 'worker' ? { worker_cpu_us_per_request: each.map((a) => a.worker_cpu_us_per_request) } : {}),
    };
  };
  const ceiling = arm('ceiling');
  const worker = arm('worker');
  const ratios = pairs.map(ratioOf).filter((r): r is number => r !== null);
  return {
    ceiling,
    worker,
    worker_vs_engine_ratio:
      ceiling !== undefined && worker !== undefined ? round((worker.tok_s as number) / (ceiling.tok_s as number)) : null,
    ratio_each: ratios,
    ratio_min: ratios.length > 0 ? Math.min(...ratios) : null,
    ratio_max: ratios.length > 0 ? Math.max(...ratios) : null,
    repeats: pairs.map((p, i) => ({
      first: p.first ?? (i % 2 === 0 ? 'ceiling' : 'worker'),
      ratio: ratioOf(p),
      ceiling: p.ceiling,
      worker: p.worker,
    })),
  };
}

/**
 * Scale-out per GPU count, in place: the count's arm tok/s over n × the one-GPU arm's
 * (`scaleout_efficiency` for the worker, `scaleout_efficiency_ceiling` for the reference load).
 * null where the one-GPU run or the arm is missing. gpu-bench uses it on one file's runs, and
 * collect.ts on runs pooled from several files.
 */
export function addScaleOut(runs: Array<Record<string, unknown>>): void {
  const base = runs.find((r) => r.gpus === 1);
  const tokS = (r: Record<string, unknown> | undefined, arm: string): number | undefined =>
    (r?.[arm] as { tok_s?: number } | undefined)?.tok_s;
  const of = (r: Record<string, unknown>, arm: string): number | null => {
    const at1 = tokS(base, arm);
    const atN = tokS(r, arm);
    return at1 === undefined || atN === undefined ? null : round(atN / ((r.gpus as number) * at1));
  };
  for (const r of runs) {
    r.scaleout_efficiency = of(r, 'worker');
    r.scaleout_efficiency_ceiling = of(r, 'ceiling');
  }
}
