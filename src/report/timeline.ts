/**
 * Where a run's time went: the samples the CLI takes once a second (src/job/timeline.ts: the
 * workers' stats and the engine's own load) and their classes. Each sample taken while the
 * inference runs is classified:
 *   - engine-bound: the engine's queue is not dry (requests waiting) or every slot is busy;
 *   - orchestrator-bound: the engine has room, and our requests are in flight but too few to fill it
 *     (the window is the limit);
 *   - Spark-bound: the engine has room and nothing of ours is in flight (tasks waiting on input or
 *     output, or not started).
 * The verdict is the class with the largest share; `engine_busy_fraction` is the engine's share.
 */
export type Bottleneck = 'engine' | 'orchestrator' | 'spark';

export interface Sample {
  /** ms since the run started. */
  t: number;
  rowsDone: number;
  rowsFailed: number;
  completionTokens: number;
  /** Our requests in flight, and the sum of the workers' windows. */
  inflight: number;
  window: number;
  /** Workers that have not finished. */
  active: number;
  running?: number | undefined;
  waiting?: number | undefined;
  kvUsage?: number | undefined;
  /** This sample's class; undefined outside the inference (no worker running). */
  class?: Bottleneck | undefined;
}

export interface Verdict {
  bottleneck: Bottleneck | null;
  engine_busy_fraction: number | null;
  /** Share of the classified samples in each class. */
  fractions: Record<Bottleneck, number>;
  samples: number;
}

export function classify(s: Omit<Sample, 'class'>, slots: number | undefined): Bottleneck | undefined {
  if (s.active === 0) return undefined;
  const engineFull = (s.waiting !== undefined && s.waiting > 0) || (slots !== undefined && s.running !== undefined && s.running >= slots);
  if (engineFull) return 'engine';
  return s.inflight > 0 ? 'orchestrator' : 'spark';
}

export function verdictOf(samples: readonly Sample[]): Verdict {
  const counts: Record<Bottleneck, number> = { engine: 0, orchestrator: 0, spark: 0 };
  let n = 0;
  for (const s of samples)
    if (s.class !== undefined) {
      counts[s.class]++;
      n++;
    }
  const fractions: Record<Bottleneck, number> = { engine: 0, orchestrator: 0, spark: 0 };
  if (n === 0) return { bottleneck: null, engine_busy_fraction: null, fractions, samples: 0 };
  let best: Bottleneck = 'engine';
  for (const k of ['engine', 'orchestrator', 'spark'] as const) {
    fractions[k] = Math.round((counts[k] / n) * 1000) / 1000;
    if (counts[k] > counts[best]) best = k;
  }
  return { bottleneck: best, engine_busy_fraction: fractions.engine, fractions, samples: n };
}

/** `engine-bound 82%` for the progress line. */
export function formatVerdict(v: Verdict): string {
  if (v.bottleneck === null) return '';
  return `${v.bottleneck}-bound ${Math.round(v.fractions[v.bottleneck] * 100)}%`;
}
