/**
 * c. Fixed in-flight windows (1, 2, 4 … 256) against `auto`, with the real worker driven from an
 * endless input, on two engines:
 * - the real llama-server (slot-limited: throughput flattens at its slots);
 * - the SIMULATED KV-limited engine (src/sim, profile `kv-limited`, run faster than real time),
 *   where over-subscription causes preemption and recompute, so the largest window is not best.
 * Each point is a steady-state rate: tokens completed between a warm-up and the end of a fixed
 * measurement period (no tail). The virtual-time `sweepWindows` of bench/sim/sweep.ts runs as a
 * cross-check of the simulated half.
 */
import { join } from 'node:path';
import { mkdirSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import { engineLoad } from '../../src/engine/prometheus.ts';
import { startSimProcess, type BenchEngine } from '../lib/engines.ts';
import { measureCpu, type CpuSeconds } from '../lib/proc.ts';
import { bodiesFor, protocolLine, questionRows, writeJobFiles, type Row } from '../lib/workload.ts';
import { runLoad } from '../lib/loadgen.ts';
import { runWorkerTimed, type TimedResult } from '../lib/worker.ts';
import { round, type BenchContext, type Scenario, type ScenarioResult } from '../lib/context.ts';
import { PROFILES } from '../sim/profiles.ts';
import { sweepWindows } from '../sim/sweep.ts';
import { seededRandom } from '../../src/sim/clock.ts';
import { heldOutBest } from '../lib/best-window.ts';

type Window = number | 'auto';

/** One window's result: the mean over rounds, and each round's rate. */
interface Point {
  window: Window;
  tokS: number;
  rps: number;
  spanS: number;
  errors: number;
  errorsByCode: Record<string, number>;
  tokSEach: number[];
  /**
   * The engine's own view during the measured periods, once a second (/metrics): mean running and
   * waiting requests, and the share of samples in which every slot was busy with more waiting (the
   * state auto aims for: queue small but never empty). Only for an engine with known slots.
   */
  engine?: { running: number | null; waiting: number | null; saturatedShare: number | null; samples: number };
  /** auto only: the worker's window once a second, [s, window, in flight], per round; and its log. */
  windowTrace?: Array<Array<[number, number | null, number | null]>>;
  log?: string[];
}

interface EngineSweep {
  points: Point[];
  best: Point;
  max: Point;
  auto: Point;
  /** auto over the best fixed window: held out (bench/lib/best-window.ts) with two rounds or more, else the highest mean. */
  autoVsBest: number;
  /** auto over the highest mean of the fixed windows (biased low when the windows are alike and noisy). */
  autoVsBestNaive: number;
  /** The held-out best rate and the window picked for each round (null with one round). */
  heldOut: { rate: number; picks: number[] } | null;
  autoVsMax: number;
  /**
   * How much one window's rate moves between rounds on this engine: the mean over windows of
   * sd / mean of its rounds (null with one round). The noise floor auto is judged against.
   */
  roundCv: number | null;
  cpu: CpuSeconds;
}

function engineView(samples: Array<[number | undefined, number | undefined]>, slots: number | undefined): NonNullable<Point['engine']> {
  const known = (i: 0 | 1): number[] => samples.map((x) => x[i]).filter((v): v is number => v !== undefined);
  const avg = (xs: number[]): number | null => (xs.length === 0 ? null : round(xs.reduce((a, b) => a + b, 0) / xs.length, 2));
  const full = samples.filter(([r, q]) => r !== undefined && q !== undefined && slots !== undefined && r >= slots && q > 0).length;
  return {
    running: avg(known(0)),
    waiting: avg(known(1)),
    saturatedShare: slots === undefined || samples.length === 0 ? null : round(full / samples.length, 2),
    samples: samples.length,
  };
}

/** Rows whose prompts have the kv-limited profile's sizes (100–500 tokens at ~4 characters each). */
function longRows(n: number): Row[] {
  const r = seededRandom(3);
  const [lo, hi] = PROFILES['kv-limited'].promptTokens;
  return questionRows(n, 3).map((row) => {
    const chars = 4 * Math.round(lo + r() * (hi - lo));
    const q = String(row.question);
    return { ...row, question: `${q} `.repeat(Math.ceil(chars / (q.length + 1))).slice(0, chars) };
  });
}

async function sweepOne(
  ctx: BenchContext,
  label: string,
  engine: BenchEngine,
  o: {
    windows: Window[];
    rows: Row[];
    maxTokens: number;
    warmupMs: number;
    measureMs: number;
    engineKind: 'llama-server' | 'openai' | 'vllm';
    /** Reported tok/s are multiplied by this (a simulator running faster than real time reports simulated tok/s). */
    scale: number;
    /**
     * Every window runs once per round, the order rotated each round, and a point is the mean of its
     * rounds. A slow drift of the machine (a CPU engine's batch cycle moved from 2.7 to 5.3 s between
     * runs) then falls on every window alike instead of on whichever ran during it.
     */
    rounds: number;
    /** The engine's slots (llama-server --parallel), for `engine.saturatedShare`. */
    slots?: number;
  },
): Promise<EngineSweep> {
  const dir = join(ctx.workDir, `c-${label}`);
  mkdirSync(dir, { recursive: true });
  const runs = new Map<Window, TimedResult[]>(o.windows.map((w) => [w, []]));
  const loads = new Map<Window, Array<[number | undefined, number | undefined]>>(o.windows.map((w) => [w, []]));
  /** /metrics once a second between the warm-up's end and the period's end. */
  const sampleLoad = async (into: Array<[number | undefined, number | undefined]>): Promise<void> => {
    const end = performance.now() + o.warmupMs + o.measureMs;
    await delay(o.warmupMs);
    while (performance.now() < end - 500) {
      try {
        const l = engineLoad(await (await fetch(`${engine.origin}/metrics`)).text());
        into.push([l.running, l.waiting]);
      } catch {
        /* a missed sample */
      }
      await delay(1000);
    }
  };
  const measured = await measureCpu(async () => {
    for (let round = 0; round < o.rounds; round++) {
      const k = round % o.windows.length;
      const order = [...o.windows.slice(k), ...o.windows.slice(0, k)];
      for (const w of order) {
        const runDir = join(dir, `run-${w}-r${round}`);
        const files = writeJobFiles(dir, {
          name: `c-${label}-${w}`,
          endpoint: engine.endpoint,
          engineKind: o.engineKind,
          maxTokens: o.maxTokens,
          concurrency: w,
          inputPath: join(dir, 'unused'),
          outputPath: join(dir, 'out'),
          runDir,
        });
        // A killed worker's requests still run to the end in the engine: wait them out.
        await engine.waitIdle(600_000);
        const columns = files.job.run.columns;
        const sampling = sampleLoad(loads.get(w) as Array<[number | undefined, number | undefined]>);
        const r: TimedResult = await runWorkerTimed({
          jobPath: files.jobJsonPath,
          warmupMs: o.warmupMs,
          measureMs: o.measureMs,
          ...(w === 'auto' ? { runDir } : {}),
          line: (i) => protocolLine(o.rows[i % o.rows.length] as Row, columns, `k${i}`),
        });
        await sampling;
        (runs.get(w) as TimedResult[]).push(r);
        const last = r.windowTrace?.at(-1);
        ctx.log(
          `c: ${label} round ${round + 1}/${o.rounds} window ${String(w)}: ${(r.tokS * o.scale).toFixed(1)} tok/s${last !== undefined ? ` (auto window ${String(last[1])}, in flight ${String(last[2])})` : ''}${r.errors > 0 ? ` (${r.errors} errors ${JSON.stringify(r.errorsByCode)})` : ''}`,
        );
      }
    }
  }, [[engine.pid(), 'engine']]);
  const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
  const points: Point[] = o.windows.map((w) => {
    const rs = runs.get(w) as TimedResult[];
    const errorsByCode: Record<string, number> = {};
    for (const r of rs) for (const [c, n] of Object.entries(r.errorsByCode)) errorsByCode[c] = (errorsByCode[c] ?? 0) + n;
    return {
      window: w,
      tokS: mean(rs.map((r) => r.tokS)) * o.scale,
      rps: mean(rs.map((r) => r.rps)) * o.scale,
      spanS: mean(rs.map((r) => r.spanS)),
      errors: rs.reduce((a, r) => a + r.errors, 0),
      errorsByCode,
      tokSEach: rs.map((r) => round(r.tokS * o.scale, 2)),
      ...(w === 'auto' ? { windowTrace: rs.map((r) => r.windowTrace ?? []), log: rs[0]?.log ?? [] } : {}),
      engine: engineView(loads.get(w) ?? [], o.slots),
    };
  });
  const fixed = points.filter((p) => p.window !== 'auto');
  const best = fixed.reduce((a, b) => (b.tokS > a.tokS ? b : a));
  const max = fixed.reduce((a, b) => ((b.window as number) > (a.window as number) ? b : a));
  const auto = points.find((p) => p.window === 'auto') as Point;
  const cvs = points
    .filter((p) => p.tokSEach.length > 1)
    .map((p) => {
      const m = p.tokSEach.reduce((a, b) => a + b, 0) / p.tokSEach.length;
      const sd = Math.sqrt(p.tokSEach.reduce((a, x) => a + (x - m) ** 2, 0) / (p.tokSEach.length - 1));
      return m > 0 ? sd / m : 0;
    });
  const roundCv = cvs.length === 0 ? null : cvs.reduce((a, b) => a + b, 0) / cvs.length;
  const heldOut = heldOutBest(fixed.map((p) => ({ window: p.window as number, each: p.tokSEach })));
  return {
    points,
    best,
    max,
    auto,
    heldOut,
    autoVsBest: auto.tokS / (heldOut?.rate ?? best.tokS),
    autoVsBestNaive: auto.tokS / best.tokS,
    autoVsMax: auto.tokS / max.tokS,
    roundCv,
    cpu: measured.cpu,
  };
}

async function runC(ctx: BenchContext): Promise<ScenarioResult> {
  const windows: Window[] = [...(ctx.smoke ? [1, 16] : ctx.quick ? [1, 16, 64, 256] : [1, 2, 4, 8, 16, 32, 64, 128, 256]), 'auto'];
  // The real engine runs each window in rounds (two in --quick, three in the full run), so
  // --quick keeps 16 and 256 there: on a slot engine every window from the slot count up behaves
  // alike, and below it the slots idle (the full run sweeps 1 … 256). The simulator's HTTP sweep, a diagnostic, keeps 64 (its knee) and
  // 256 (where it preempts); the virtual-time sweep, its verdict, runs every window anyway.
  const realWindows: Window[] = ctx.quick && !ctx.smoke ? [16, 256, 'auto'] : windows;
  const simWindows: Window[] = ctx.quick && !ctx.smoke ? [64, 256, 'auto'] : windows;
  const t = (quick: number, full: number): number => (ctx.smoke ? 3000 : ctx.quick ? quick : full);

  // The real engine: short prompts, a short fixed output, and periods sized from one batch cycle
  // (all slots busy once), since completions come in bursts of a cycle.
  const llama = await ctx.engine();
  const slots = Number(llama.settings.parallel ?? 16);
  const realTokens = 8;
  const { bodies } = bodiesFor(
    writeJobFiles(join(ctx.workDir, 'c-probe'), {
      name: 'c-probe',
      endpoint: llama.endpoint,
      engineKind: llama.kind,
      maxTokens: realTokens,
      concurrency: slots,
      inputPath: 'unused',
      outputPath: 'unused',
      runDir: join(ctx.workDir, 'c-probe'),
    }).job,
    questionRows(slots, 13),
  );
  await llama.waitIdle();
  const cycleMs = (await runLoad({ origin: llama.origin, path: '/v1/chat/completions', bodies, concurrency: slots })).wallS * 1000;
  ctx.log(`c: one batch cycle (${slots} × ${realTokens} tokens) takes ${(cycleMs / 1000).toFixed(1)} s`);
  const real = await sweepOne(ctx, llama.kind, llama, {
    windows: realWindows,
    rows: questionRows(2000, 11),
    maxTokens: realTokens,
    engineKind: llama.kind,
    scale: 1,
    warmupMs: Math.max(t(4000, 10_000), (ctx.quick ? 1 : 1.5) * cycleMs),
    measureMs: Math.max(t(8000, 30_000), (ctx.quick ? 2.5 : 8) * cycleMs),
    rounds: ctx.smoke ? 1 : ctx.quick ? 2 : 3,
    slots,
  });

  // The simulated KV-limited engine, as its own process, `timeScale` times real time.
  const timeScale = 0.05;
  const sim = await startSimProcess({ mode: 'sim', args: ['--profile', 'kv-limited', '--time-scale', String(timeScale)] });
  const kv = PROFILES['kv-limited'];
  let simSweep: EngineSweep;
  try {
    simSweep = await sweepOne(ctx, 'sim-kv', sim, {
      windows: simWindows,
      rows: longRows(500),
      maxTokens: Math.round((kv.outputTokens[0] + kv.outputTokens[1]) / 2),
      engineKind: 'vllm',
      scale: timeScale,
      warmupMs: t(4000, 12_000),
      measureMs: t(8000, 36_000),
      rounds: 1,
    });
  } finally {
    await sim.stop();
  }

  // Cross-check in virtual time (the same simulator, the worker's window classes, no HTTP).
  const virtual = sweepWindows({
    profile: kv,
    totals: [1, 2, 4, 8, 16, 32, 48, 64, 128, 256],
    durationMs: ctx.smoke ? 120_000 : ctx.quick ? 300_000 : 600_000,
    warmupMs: 60_000,
    latencyOnly: false,
  });

  // The simulator's verdict comes from virtual time: there the worker's metrics poll and window
  // growth run on the simulated clock. Over HTTP the simulator runs 1/timeScale times faster than
  // real time while the worker still polls once a real second, so auto adapts 1/timeScale times
  // slower relative to the engine: kept as a diagnostic (…_sim_http).
  const autoVsBest = Math.min(real.autoVsBest, virtual.autoVsBestFixed);
  const autoVsMax = Math.min(real.autoVsMax, virtual.autoVsMaxFixed);
  const norm = (s: EngineSweep): Array<{ x: number; y: number }> =>
    s.points.filter((p) => p.window !== 'auto').map((p) => ({ x: p.window as number, y: round(p.tokS / s.best.tokS) }));
  return {
    keys: {
      auto_vs_best_fixed: round(autoVsBest),
      auto_vs_max_fixed: round(autoVsMax),
      auto_vs_best_fixed_engine: round(real.autoVsBest),
      // The same against the highest mean of the fixed windows, which is what this key meant until
      // 2026-11-29: with alike, noisy windows that mean is the luckiest, not the best.
      auto_vs_best_fixed_engine_naive: round(real.autoVsBestNaive),
      auto_vs_best_fixed_sim: round(virtual.autoVsBestFixed),
      auto_vs_max_fixed_engine: round(real.autoVsMax),
      auto_vs_max_fixed_sim: round(virtual.autoVsMaxFixed),
      auto_vs_best_fixed_sim_http: round(simSweep.autoVsBest),
      auto_vs_max_fixed_sim_http: round(simSweep.autoVsMax),
      // The real engine's own view: with auto, the share of 1 s samples in which every slot was busy
      // and more requests waited (the state auto aims for), against the best fixed window's; and
      // how much a window's rate moved between rounds (the noise the throughput ratio sits in).
      auto_engine_saturated_share: real.auto.engine?.saturatedShare ?? null,
      best_fixed_engine_saturated_share: real.best.engine?.saturatedShare ?? null,
      engine_round_cv: real.roundCv === null ? null : round(real.roundCv),
    },
    details: {
      real_engine: {
        engine: llama.settings,
        max_tokens: realTokens,
        batch_cycle_s: cycleMs / 1000,
        points: real.points,
        best: real.best,
        held_out_best: real.heldOut,
        max: real.max,
        auto: real.auto,
      },
      sim_kv_limited: {
        profile: kv,
        time_scale: timeScale,
        max_tokens: Math.round((kv.outputTokens[0] + kv.outputTokens[1]) / 2),
        note: 'tok/s are simulated tok/s (real rate × timeScale)',
        points: simSweep.points,
        best: simSweep.best,
        max: simSweep.max,
        auto: simSweep.auto,
      },
      sim_virtual_time: {
        fixed: virtual.fixed,
        best: virtual.best,
        max: virtual.max,
        auto: virtual.auto,
        auto_vs_best_fixed: virtual.autoVsBestFixed,
        auto_vs_max_fixed: virtual.autoVsMaxFixed,
      },
    },
    cpu: { llama_sweep: real.cpu, sim_sweep: simSweep.cpu },
    commands: [],
    chart: {
      title: 'c. Fixed windows vs auto (throughput / best fixed window)',
      kind: 'line',
      logX: true,
      xLabel: 'fixed in-flight window',
      yLabel: 'throughput / best fixed',
      note: `auto: ${llama.kind} ${round(real.autoVsBest)} of best; sim kv-limited ${round(virtual.autoVsBestFixed)} (virtual time), ${round(simSweep.autoVsBest)} (HTTP, ${Math.round(1 / timeScale)}× real time)`,
      series: [
        { name: `${llama.kind} (real)`, points: norm(real) },
        {
          name: 'sim kv-limited, virtual time',
          points: virtual.fixed.map((r) => ({ x: r.total, y: round(r.tokensPerS / virtual.best.tokensPerS) })),
        },
        { name: 'sim kv-limited, HTTP', points: norm(simSweep) },
      ],
      refLines: [
        { y: round(real.autoVsBest), label: `auto, ${llama.kind}` },
        { y: round(virtual.autoVsBestFixed), label: 'auto, sim (virtual time)' },
      ],
    },
    notes: [
      'Each point is the steady-state rate between a warm-up and the end of a fixed period; the worker is then killed.',
      'The real engine is slot-limited: past its slots a larger window only queues in the server, so auto ≈ max there.',
      'The simulated engine is KV-limited: past ~50 sequences it preempts and recomputes, so the largest window loses.',
      `The real engine runs every window ${ctx.smoke ? 'once' : ctx.quick ? 'twice' : 'three times'}, in an order rotated between rounds, and each point is the mean of its rounds; engine_round_cv is how much one window moved between rounds. A slot engine that batches little (engine_batching_gain in b) gives every window from its slot count up the same rate within that noise, so the highest mean is the luckiest of several equal windows. auto_vs_best_fixed_engine therefore divides by the held-out best (bench/lib/best-window.ts: each round's window is picked on the other rounds); auto_vs_best_fixed_engine_naive divides by the highest mean. auto_engine_saturated_share says directly whether auto kept every slot busy with requests waiting.`,
      "auto_vs_*_sim come from the virtual-time sweep (bench/sim/sweep.ts: the same engine model and window classes, polls on the simulated clock). The HTTP sweep (…_sim_http) runs the simulator 1/timeScale times faster than real time while the worker polls /metrics once a real second, which slows auto's adaptation by that factor relative to the engine; it is kept as a check of the whole worker path, not as the verdict.",
      ctx.quick ? '--quick sweeps 1, 16, 64, 256 with short periods.' : '',
    ].filter((n) => n !== ''),
  };
}

export const scenarioC: Scenario = { id: 'c', name: 'c-window-sweep', title: 'Fixed window sweep versus auto', run: runC };
