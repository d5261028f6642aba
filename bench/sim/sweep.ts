/**
 * Fixed windows versus `auto` on a SIMULATED engine, in virtual time: the simulator half of the
 * benchmark's fixed-window sweep (scenario c) and the source of the numbers in docs/scheduler.md.
 */
import { AdaptiveWindow } from '../../src/scheduler/adaptive.ts';
import { FixedWindow } from '../../src/scheduler/window.ts';
import { runClosedLoop, type ClosedLoopOptions, type ClosedLoopResult } from './closed-loop.ts';
import type { SimProfile } from './profiles.ts';

export interface SweepOptions {
  profile: SimProfile;
  /** Workers sharing the engine; a fixed total is split evenly over them. Default 1. */
  workers?: number;
  /**
   * Total fixed windows to try. Default 1, 2, 4 … 256. Past `slots + maxWaiting` the simulated
   * clients hit the full queue with 503s again and again, as real ones would: slow to simulate.
   */
  totals?: number[];
  /** Simulated ms per run. Default 600,000 (10 minutes). */
  durationMs?: number;
  /** Simulated ms not counted. Default 120,000. */
  warmupMs?: number;
  seed?: number;
  /** Also run `auto` without engine metrics (latency and errors only). Default true. */
  latencyOnly?: boolean;
}

export interface SweepRow {
  /** Total window (fixed), or the mean total in flight (auto). */
  total: number;
  tokensPerS: number;
  preemptionRate: number;
  meanWaiting: number;
}

export interface SweepResult {
  fixed: SweepRow[];
  best: SweepRow;
  /** The largest fixed window tried. */
  max: SweepRow;
  auto: SweepRow;
  autoLatencyOnly: SweepRow | undefined;
  autoVsBestFixed: number;
  autoVsMaxFixed: number;
  latencyOnlyVsBestFixed: number | undefined;
}

const row = (total: number, r: ClosedLoopResult): SweepRow => ({
  total,
  tokensPerS: r.tokensPerS,
  preemptionRate: r.preemptionRate,
  meanWaiting: r.meanWaiting,
});

export function sweepWindows(options: SweepOptions): SweepResult {
  const o = options;
  const workers = o.workers ?? 1;
  const totals = o.totals ?? [1, 2, 4, 8, 16, 32, 64, 128, 256];
  const base: Omit<ClosedLoopOptions, 'workers'> = {
    engine: o.profile.engine,
    promptTokens: o.profile.promptTokens,
    outputTokens: o.profile.outputTokens,
    durationMs: o.durationMs ?? 600_000,
    warmupMs: o.warmupMs ?? 120_000,
    ...(o.seed !== undefined ? { seed: o.seed } : {}),
  };
  const fixed = totals.map((total) =>
    row(
      total,
      runClosedLoop({
        ...base,
        workers: Array.from({ length: workers }, () => ({ window: () => new FixedWindow(Math.max(1, Math.round(total / workers))) })),
      }),
    ),
  );
  const autoRun = (pollMs: number | false): SweepRow => {
    const r = runClosedLoop({
      ...base,
      pollMs,
      workers: Array.from({ length: workers }, (_, i) => ({
        window: (now: () => number) => new AdaptiveWindow({ now }),
        startAtMs: i * 5000,
      })),
    });
    return row(r.totalInFlight.mean, r);
  };
  const best = fixed.reduce((a, b) => (b.tokensPerS > a.tokensPerS ? b : a));
  const max = fixed[fixed.length - 1] as SweepRow;
  const auto = autoRun(1000);
  const autoLatencyOnly = (o.latencyOnly ?? true) ? autoRun(false) : undefined;
  return {
    fixed,
    best,
    max,
    auto,
    autoLatencyOnly,
    autoVsBestFixed: auto.tokensPerS / best.tokensPerS,
    autoVsMaxFixed: auto.tokensPerS / max.tokensPerS,
    latencyOnlyVsBestFixed: autoLatencyOnly === undefined ? undefined : autoLatencyOnly.tokensPerS / best.tokensPerS,
  };
}
