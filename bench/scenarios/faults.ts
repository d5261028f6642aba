/**
 * h. Faults and a rate limit on the real engine (issue 37): the same rows, end to end through the
 * bundled worker driven directly (bench/lib/worker.ts `runWorkerFile`, no Spark), against the
 * shared warm llama-server, in arms:
 *   - fault-free: the worker talks to the engine through the fault proxy with no plan (so every
 *     arm pays the same proxy hop);
 *   - 2 % and 5 % random faults: test/helpers/fault-proxy.ts `randomPlan`, every POST draws
 *     (retries too), kinds 500, 503, 429 (retry-after 1 s), reset, truncated body, timeout (held
 *     until the job's request_timeout);
 *   - a rate limit: test/helpers/rate-limit-proxy.ts (a STAND-IN for a hosted provider's limiter:
 *     a token bucket, 429 with retry-after-ms and x-ratelimit-* headers) at a fixed
 *     requests-per-second limit, on a subset of the rows sized to its arm time at that limit.
 * Why the worker directly and not `sparkinfer run`: a Spark arm adds ~15 s of JVM start, planning
 * and write to every arm (bench a's fixed overhead), which would dilute the ratios the control
 * loop is judged on, and the faults are the worker's to absorb (retries, window, rate gate); Spark
 * only adds task retries, which these faults never reach.
 * Every row must end ok; rows not ok are reported per arm and fail the scenario.
 */
import { join } from 'node:path';
import { mkdirSync } from 'node:fs';
import { readProgress } from '../../src/rundir/progress.ts';
import type { BenchEngine } from '../lib/engines.ts';
import { measureCpu, type CpuSeconds } from '../lib/proc.ts';
import { runWorkerFile, type WorkerStats } from '../lib/worker.ts';
import { questionRows, writeJobFiles, writeProtocolFile } from '../lib/workload.ts';
import { randomPlan, startFaultProxy, type Fault } from '../../test/helpers/fault-proxy.ts';
import { startRateLimitProxy } from '../../test/helpers/rate-limit-proxy.ts';
import { round, type BenchContext, type Scenario, type ScenarioResult } from '../lib/context.ts';

/** The kinds the random arms draw from, with equal odds. */
export const FAULT_KINDS: readonly Fault[] = ['5xx', '503', '429', 'reset', 'truncate', 'timeout'];

/**
 * `engine.request_timeout` of every arm: what one `timeout` fault costs (one window place held,
 * then a retry). A normal request waits up to about two of the engine's batch cycles (the window
 * holds up to ~2× the 16 slots; a cycle of 16 short requests is 2–4 s on a quiet machine), and in
 * a smoke run on a loaded machine (load average 5–7) 10 s timed out a third of the warm-up's
 * requests. 20 s leaves that margin while a held request still costs seconds, not the default
 * 10 minutes.
 */
export const REQUEST_TIMEOUT = '20s';
/** Retries per request; at 5 % per attempt, a row fails 7 in a row with odds 0.05^7. */
const RETRIES = 6;
/** Output tokens per row (ignore_eos: every arm generates exactly the same tokens). */
const MAX_TOKENS = 8;

interface Sizes {
  /** Rows of the fault-free and fault arms (--quick: ~25–35 s each at ~5–6 rows/s). */
  rows: number;
  /** Seconds the rate-limited arm should last at its limit (its rows = limit × this). */
  rateArmS: number;
  /** Run the fault-free arm again after the fault arms (A B C A), so a steady drift cancels. */
  repeatBaseline: boolean;
}

const SIZES: Record<'smoke' | 'quick' | 'full', Sizes> = {
  smoke: { rows: 24, rateArmS: 6, repeatBaseline: false },
  quick: { rows: 160, rateArmS: 30, repeatBaseline: false },
  full: { rows: 1200, rateArmS: 120, repeatBaseline: true },
};

interface Arm {
  name: string;
  rate: number | null;
  rows: number;
  ok: number;
  failed: number;
  wallS: number;
  tokS: number;
  rps: number;
  posts: number;
  injected: Record<string, number>;
  errorsByCode: Record<string, number>;
  cpu: CpuSeconds;
  /** What the worker said of its run (its stats file): hedges, retries and window cuts by reason. */
  worker: WorkerSaid;
  /** The rate-limited arm: the limiter's own counts. */
  limiter?: { limit_rps: number; forwarded: number; refused: number; forwarded_rps_span: number | null };
}

interface WorkerSaid {
  hedges: number;
  retries_by_reason: Record<string, number>;
  window_cuts: Record<string, number>;
}

/** The worker's own counts from its stats file(s) in the arm's run directory (src/rundir/progress.ts). */
function workerSaid(runDir: string): WorkerSaid {
  const p = readProgress(runDir);
  return { hedges: p.hedges ?? 0, retries_by_reason: p.retriesByReason ?? {}, window_cuts: p.windowCuts ?? {} };
}

/** The arms, in the order of their one-digit row tags. */
const ARM_SALTS = ['warmup', 'faultfree', 'faults2pct', 'faults5pct', 'faultfree2', 'ratelimit'];

interface ArmRun {
  ctx: BenchContext;
  engine: BenchEngine;
  dir: string;
  rows: number;
}

/** Writes the job (its endpoint the proxy) and the input, runs the worker, counts the rows. */
async function runArm(a: ArmRun, name: string, endpoint: string): Promise<{ stats: WorkerStats; cpu: CpuSeconds; said: WorkerSaid }> {
  const files = writeJobFiles(a.dir, {
    name: `h-${name}`,
    endpoint,
    engineKind: 'llama-server',
    maxTokens: MAX_TOKENS,
    concurrency: 'auto',
    requestTimeout: REQUEST_TIMEOUT,
    retries: RETRIES,
    inputPath: join(a.dir, 'unused'),
    outputPath: join(a.dir, 'out'),
    runDir: join(a.dir, `run-${name}`),
  });
  const input = join(a.dir, `input-${name}.lines`);
  // The same questions in every arm, each arm's set tagged with its own digit (the same token
  // count): otherwise an arm finds the previous arm's prompts in llama-server's prompt cache and
  // skips their prefill (the first smoke runs' later arms ran up to 2x faster than the first).
  const salt = ARM_SALTS.indexOf(name);
  const rows = questionRows(a.rows, 37).map((r) => ({ ...r, question: `Set ${salt}: ${String(r.question)}` }));
  await writeProtocolFile(input, rows, files.job.run.columns, a.rows);
  await a.engine.waitIdle(120_000); // a held (timeout) request of the last arm may still run in the engine
  const m = await measureCpu(
    (meter) => runWorkerFile({ jobPath: files.jobJsonPath, inputFile: input, meter }),
    [[a.engine.pid(), 'engine']],
  );
  return { stats: m.value, cpu: m.cpu, said: workerSaid(join(a.dir, `run-${name}`)) };
}

function armOf(
  name: string,
  rate: number | null,
  rows: number,
  r: { stats: WorkerStats; cpu: CpuSeconds; said: WorkerSaid },
): Omit<Arm, 'posts' | 'injected'> {
  const s = r.stats;
  return {
    name,
    rate,
    rows,
    ok: s.lines - s.errors,
    failed: rows - (s.lines - s.errors),
    wallS: round(s.wallS, 2),
    tokS: round(s.completionTokens / s.wallS, 2),
    rps: round((s.lines - s.errors) / s.wallS, 3),
    errorsByCode: s.errorsByCode,
    cpu: r.cpu,
    worker: r.said,
  };
}

/** One arm behind the fault proxy, faulting `rate` of the POSTs (0: none). */
async function faultArm(a: ArmRun, name: string, rate: number, seed: number): Promise<Arm> {
  const proxy = await startFaultProxy(a.engine.origin, {
    ...(rate > 0 ? { plan: randomPlan({ rate, kinds: FAULT_KINDS, seed }) } : {}),
    retryAfterS: 1,
  });
  try {
    const r = await runArm(a, name, proxy.endpoint);
    const arm: Arm = {
      ...armOf(name, rate, a.rows, r),
      posts: proxy.posts(),
      injected: Object.fromEntries(Object.entries(proxy.injected()).filter(([, n]) => n > 0)),
    };
    a.ctx.log(
      `h: ${name}: ${arm.ok}/${arm.rows} rows ok in ${arm.wallS} s (${arm.tokS} tok/s), ${arm.posts} POSTs, faults ${JSON.stringify(arm.injected)}, worker ${JSON.stringify(arm.worker)}`,
    );
    return arm;
  } finally {
    await proxy.close();
  }
}

/** The rate-limited arm: the rate-limit proxy at `limit` POSTs a second (burst: the limit) in front of the engine. */
async function rateArm(a: ArmRun, limit: number): Promise<Arm> {
  const proxy = await startRateLimitProxy(a.engine.origin, { requestsPerSecond: limit });
  try {
    const r = await runArm(a, 'ratelimit', proxy.endpoint);
    const st = proxy.stats();
    const spanS = st.firstAt !== undefined && st.lastAt !== undefined ? (st.lastAt - st.firstAt) / 1000 : 0;
    const arm: Arm = {
      ...armOf('ratelimit', null, a.rows, r),
      posts: st.forwarded + st.refused,
      injected: {},
      limiter: {
        limit_rps: limit,
        forwarded: st.forwarded,
        refused: st.refused,
        forwarded_rps_span: spanS > 0 ? round((st.forwarded - 1) / spanS, 3) : null,
      },
    };
    a.ctx.log(
      `h: ratelimit at ${limit}/s: ${arm.ok}/${arm.rows} rows ok in ${arm.wallS} s (${arm.rps} rows/s), refused ${st.refused} of ${arm.posts}`,
    );
    return arm;
  } finally {
    await proxy.close();
  }
}

/** The limit of the rate-limited arm: 4 requests/s, lowered where the engine's own fault-free rate is under 1.5× that, so the limiter, not the engine, binds. */
export function rateLimitFor(faultFreeRps: number): number {
  return Math.min(4, Math.max(1, Math.floor(faultFreeRps / 1.5)));
}

/** Fault-free rate over every fault-free arm (A B C A: both ends), in completion tokens per second. */
function baselineTokS(arms: readonly Arm[]): number {
  const base = arms.filter((a) => a.rate === 0);
  const tokens = base.reduce((s, a) => s + a.tokS * a.wallS, 0);
  return tokens / base.reduce((s, a) => s + a.wallS, 0);
}

async function runH(ctx: BenchContext): Promise<ScenarioResult> {
  const z = ctx.smoke ? SIZES.smoke : ctx.quick ? SIZES.quick : SIZES.full;
  const dir = join(ctx.workDir, 'h');
  mkdirSync(dir, { recursive: true });
  const engine = await ctx.llama();
  const a: ArmRun = { ctx, engine, dir, rows: z.rows };
  const arms: Arm[] = [];
  // An untimed warm-up through the same path (worker start, the engine's prompt cache for the
  // shared system prompt): in a smoke run the first arm took twice as long as the next ones.
  const warm = await faultArm({ ...a, rows: 32 }, 'warmup', 0, 0);
  arms.push(await faultArm(a, 'faultfree', 0, 0));
  arms.push(await faultArm(a, 'faults2pct', 0.02, 3702));
  arms.push(await faultArm(a, 'faults5pct', 0.05, 3705));
  if (z.repeatBaseline) arms.push(await faultArm(a, 'faultfree2', 0, 0));
  const base = baselineTokS(arms);
  const limit = rateLimitFor(base / MAX_TOKENS);
  const rated = await rateArm({ ...a, rows: Math.max(4, Math.round(limit * z.rateArmS)) }, limit);
  arms.push(rated);
  const byName = (n: string): Arm | undefined => arms.find((x) => x.name === n);
  const ratio = (n: string): number | null => {
    const x = byName(n);
    return x !== undefined && base > 0 ? round(x.tokS / base) : null;
  };
  const problems = arms
    .filter((x) => x.failed !== 0)
    .map((x) => `${x.name}: ${x.failed} of ${x.rows} rows not ok ${JSON.stringify(x.errorsByCode)}`);
  const refusedFrac = rated.limiter !== undefined && rated.posts > 0 ? round(rated.limiter.refused / rated.posts) : null;
  const rowKeys = Object.fromEntries(
    arms.flatMap((x) => [
      [`faults_rows_ok_${x.name}`, x.ok],
      [`faults_rows_failed_${x.name}`, x.failed],
    ]),
  );
  return {
    keys: {
      faults_tok_s_0: round(base, 2),
      faults_ratio_2pct: ratio('faults2pct'),
      faults_ratio_5pct: ratio('faults5pct'),
      ratelimit_limit_rps: limit,
      ratelimit_achieved_rps: rated.rps,
      ratelimit_vs_limit: round(rated.rps / limit),
      ratelimit_refused_frac: refusedFrac,
      faults_all_rows_ok: problems.length === 0,
      ...rowKeys,
    },
    details: {
      engine: engine.settings,
      sizes: z,
      max_tokens: MAX_TOKENS,
      request_timeout: REQUEST_TIMEOUT,
      retries: RETRIES,
      fault_kinds: FAULT_KINDS,
      rate_limit_proxy: 'test/helpers/rate-limit-proxy.ts (burst = the limit)',
      arms: arms.map(({ cpu: _cpu, ...x }) => x),
      warmup: { rows: warm.rows, ok: warm.ok, wall_s: warm.wallS, posts: warm.posts },
    },
    cpu: Object.fromEntries(arms.map((x) => [x.name, x.cpu])),
    commands: [],
    chart: {
      title: 'h. Faults and a rate limit (llama-server, worker driven directly)',
      kind: 'bar',
      yLabel: 'rows ok per wall s',
      note: `${z.rows} rows × ${MAX_TOKENS} tokens; faults: ${FAULT_KINDS.join(', ')}; request_timeout ${REQUEST_TIMEOUT}; limit ${limit}/s on ${rated.rows} rows`,
      series: [{ name: 'rows/s', points: arms.map((x) => ({ x: x.name, y: x.rps })) }],
    },
    notes: [
      'Every arm runs the same rows through dist/sparkinfer-worker.mjs directly (no Spark) with concurrency auto; wall time from spawn to exit. Ratios are completion tokens per wall second over the fault-free rate (all fault-free arms pooled).',
      `Faults: every POST (retries too) draws; kinds ${FAULT_KINDS.join(', ')} with equal odds; 429 carries retry-after 1 s; timeout holds the request until request_timeout (${REQUEST_TIMEOUT}).`,
      "ratelimit_achieved_rps: rows ok per wall second of the rate-limited arm (the user's rate); details.arms[].limiter.forwarded_rps_span is the limiter's own forwarded rate between its first and last forward. ratelimit_refused_frac: refused / (forwarded + refused) POSTs.",
      "The rate-limit proxy (test/helpers/rate-limit-proxy.ts) is a STAND-IN for a hosted provider's limiter.",
    ],
    problems,
  };
}

export const scenarioH: Scenario = { id: 'h', name: 'h-faults', title: 'Faults and a rate limit on the real engine', run: runH };
