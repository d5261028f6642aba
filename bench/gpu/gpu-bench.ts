/**
 * GPU benchmark (bench/GPU.md): one llama-server per GPU, started by sparkinfer's own
 * launcher (src/launch), and two arms per GPU count, each measured in the same run:
 *
 * - **ceiling**: the reference load (pre-rendered bodies, fixed concurrency of 2 × slots per
 *   engine over keep-alive connections, no scheduler), the same shape as bench scenario a;
 * - **worker**: sparkinfer's worker (dist/sparkinfer-worker.mjs), `concurrency: auto`, ledger on,
 *   fed from a file of worker protocol lines (what Spark's TRANSFORM pipes in), W workers per
 *   engine that share it without talking to each other.
 *
 * Both arms send byte-identical bodies (the worker's own request builder renders the ceiling's)
 * with `ignore_eos`. `--workload fixed` asks every row for `max_tokens`; `--workload varied`
 * gives each row its own `max_tokens`, uniform in [max/4, 7·max/4] (mean `max_tokens`), through
 * OpenAI Batch lines (`input.format: openai-batch`), so answers admitted together don't finish
 * together. `--repeats N` runs the two arms N times on the same engines, alternating which goes
 * first, and reports each pair and the spread. Each arm runs `warmup + measure` seconds; the rate is
 * the completions inside the measured period (steady state, as bench/lib/worker.ts). GPU
 * utilization comes from `nvidia-smi dmon -s u` over the same period.
 *
 * Runs on the device machine from the bundle `dist/gpu-bench.mjs` (bench/gpu/device.sh); it also
 * runs on a CPU llama-server (no nvidia-smi: utilization is null), which is how it is smoke-tested.
 *
 *   node dist/gpu-bench.mjs --llama-server PATH --model FILE --model-name NAME --gpus 1,2,4 \
 *     --worker dist/sparkinfer-worker.mjs --out DIR [--parallel 256] [--max-tokens 64] \
 *     [--warmup 10] [--measure 30] [--workers-per-engine 2] [--ngl 999] [--result FILE]
 *     [--arms ceiling,worker] [--ceiling-ramp 0] [--worker-concurrency auto] [--workload fixed|varied]
 *     [--repeats 1]
 *
 * Diagnostics: `--ceiling-ramp S` starts the reference load's lanes evenly over S seconds instead
 * of all at once (equal-length answers then finish in staggered groups, as they do behind a
 * scheduler that ramps up); `--worker-concurrency N` gives the workers a fixed window.
 */
import { parseArgs } from 'node:util';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, rmSync, openSync, writeFileSync, existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { Pool } from 'undici';
import { startEngine } from '../../src/launch/engine.ts';
import type { LocalEngine } from '../../src/launch/supervisor.ts';
import { engineLoad } from '../../src/engine/prometheus.ts';
import { WORKER_NODE_FLAGS } from '../../src/worker/protocol.ts';
import { cpuSecondsOf } from '../lib/proc.ts';
import { waitLlamaIdle } from '../lib/engines.ts';
import { readWindow } from '../lib/worker.ts';
import { addScaleOut, combine } from './pairs.ts';
import { batchLineRows, bodiesFor, questionRows, resolvedJob, writeProtocolFile, type JobOptions } from '../lib/workload.ts';

const { values } = parseArgs({
  options: {
    'llama-server': { type: 'string' },
    model: { type: 'string' },
    'model-name': { type: 'string', default: 'smollm2-135m-instruct' },
    gpus: { type: 'string', default: '1' },
    worker: { type: 'string', default: 'dist/sparkinfer-worker.mjs' },
    out: { type: 'string', default: 'bench/work/gpu' },
    parallel: { type: 'string', default: '256' },
    'ctx-per-slot': { type: 'string', default: '512' },
    'max-tokens': { type: 'string', default: '64' },
    warmup: { type: 'string', default: '10' },
    measure: { type: 'string', default: '30' },
    'workers-per-engine': { type: 'string', default: '2' },
    ngl: { type: 'string', default: '999' },
    threads: { type: 'string', default: '4' },
    'extra-args': { type: 'string', default: '' },
    tag: { type: 'string', default: '' },
    arms: { type: 'string', default: 'ceiling,worker' },
    'ceiling-ramp': { type: 'string', default: '0' },
    'worker-concurrency': { type: 'string', default: 'auto' },
    workload: { type: 'string', default: 'fixed' },
    repeats: { type: 'string', default: '1' },
    /** Where the result JSON goes. Default `<out>/gpu-<model-name>[-<tag>].json`. */
    result: { type: 'string' },
  },
  strict: true,
});

function int(name: string, v: string | undefined): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name}: expected an integer from 1 and up, got ${String(v)}`);
  return n;
}

const bin = values['llama-server'];
const modelFile = values.model;
if (bin === undefined || modelFile === undefined) throw new Error('--llama-server and --model are required');
const modelName = values['model-name'] ?? 'model';
const gpuCounts = (values.gpus ?? '1').split(',').map((g) => int('gpus', g));
const parallel = int('parallel', values.parallel);
const ctxPerSlot = int('ctx-per-slot', values['ctx-per-slot']);
const maxTokens = int('max-tokens', values['max-tokens']);
const warmupS = int('warmup', values.warmup);
const measureS = int('measure', values.measure);
const wpe = int('workers-per-engine', values['workers-per-engine']);
const outDir = resolve(values.out ?? 'bench/work/gpu');
const workerBundle = resolve(values.worker ?? 'dist/sparkinfer-worker.mjs');
const extraArgs = (values['extra-args'] ?? '').split(' ').filter((a) => a !== '');
const arms = new Set((values.arms ?? 'ceiling,worker').split(',').filter((a) => a !== ''));
for (const a of arms) if (a !== 'ceiling' && a !== 'worker') throw new Error(`--arms: expected ceiling and/or worker, got ${a}`);
const ceilingRampS = Number(values['ceiling-ramp']);
if (!Number.isFinite(ceilingRampS) || ceilingRampS < 0)
  throw new Error(`--ceiling-ramp: expected seconds from 0 up, got ${String(values['ceiling-ramp'])}`);
const workload = values.workload ?? 'fixed';
if (workload !== 'fixed' && workload !== 'varied') throw new Error(`--workload: expected fixed or varied, got ${workload}`);
const repeats = int('repeats', values.repeats);
const workerConcurrency: 'auto' | number =
  values['worker-concurrency'] === 'auto' ? 'auto' : int('worker-concurrency', values['worker-concurrency']);
mkdirSync(outDir, { recursive: true });

const log = (m: string): void => {
  process.stderr.write(`[gpu-bench ${new Date().toISOString().slice(11, 19)}] ${m}\n`);
};

// ---------------------------------------------------------------- GPU utilization (nvidia-smi dmon)

interface DmonSample {
  at: number;
  gpu: number;
  sm: number;
}

/** `samples` fills while it runs (one line per GPU per second). */
function startDmon(): { samples: DmonSample[]; stop(): void } {
  const samples: DmonSample[] = [];
  let child: ChildProcess | undefined;
  try {
    execFileSync('nvidia-smi', ['-L'], { stdio: 'ignore' });
    child = spawn('nvidia-smi', ['dmon', '-s', 'u', '-d', '1'], { stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    return { samples, stop: () => {} };
  }
  let rest = '';
  child.stdout?.on('data', (d: Buffer) => {
    const text = rest + d.toString();
    const lines = text.split('\n');
    rest = lines.pop() ?? '';
    for (const line of lines) {
      if (line.startsWith('#')) continue;
      const f = line.trim().split(/\s+/);
      const gpu = Number(f[0]);
      const sm = Number(f[1]);
      if (Number.isInteger(gpu) && Number.isFinite(sm)) samples.push({ at: performance.now(), gpu, sm });
    }
  });
  child.on('error', () => {});
  return {
    samples,
    stop: () => {
      child?.kill('SIGKILL');
    },
  };
}

function utilization(
  samples: DmonSample[],
  gpus: number,
  from: number,
  to: number,
): { mean: number | null; per_gpu: Array<number | null> } {
  const per = Array.from({ length: gpus }, (_, g) => {
    const s = samples.filter((x) => x.gpu === g && x.at >= from && x.at < to);
    return s.length === 0 ? null : round(s.reduce((a, x) => a + x.sm, 0) / s.length, 1);
  });
  const known = per.filter((p): p is number => p !== null);
  return { mean: known.length === 0 ? null : round(known.reduce((a, b) => a + b, 0) / known.length, 1), per_gpu: per };
}

const round = (v: number, d = 3): number => Number(v.toFixed(d));

// ---------------------------------------------------------------- steady-state rate

interface Event {
  at: number;
  tokens: number;
}

/** Completions in [from, to): tokens after the first one over the span first → last (whole inter-burst intervals). */
function steady(events: Event[], measureMs: number): { tok_s: number; rps: number; span_s: number; completions: number } {
  const first = events[0];
  const last = events.at(-1);
  if (first === undefined || last === undefined) return { tok_s: 0, rps: 0, span_s: 0, completions: 0 };
  const spanS = (last.at - first.at) / 1000;
  if (spanS < 0.25 * (measureMs / 1000)) {
    const tokens = events.reduce((a, e) => a + e.tokens, 0);
    return {
      tok_s: round(tokens / (measureMs / 1000), 1),
      rps: round(events.length / (measureMs / 1000), 1),
      span_s: round(spanS),
      completions: events.length,
    };
  }
  const after = events.slice(1);
  return {
    tok_s: round(after.reduce((a, e) => a + e.tokens, 0) / spanS, 1),
    rps: round(after.length / spanS, 1),
    span_s: round(spanS),
    completions: events.length,
  };
}

/** The measured period in wall-clock time, so the engine's log can be read for the same span (engine-steps.ts). */
function measuredWindow(from: number, to: number): { measured_from: string; measured_to: string } {
  const wall = (t: number): string => new Date(performance.timeOrigin + t).toISOString();
  return { measured_from: wall(from), measured_to: wall(to) };
}

// ---------------------------------------------------------------- engines

interface Engine {
  gpu: number;
  engine: LocalEngine;
  origin: string;
  endpoint: string;
}

async function startEngines(n: number): Promise<Engine[]> {
  return Promise.all(
    Array.from({ length: n }, async (_, gpu) => {
      const engine = await startEngine({
        kind: 'llama-server',
        model: resolve(modelFile as string),
        alias: modelName,
        bin: resolve(bin as string),
        args: ['--n-gpu-layers', String(values.ngl ?? '999'), '--flash-attn', 'on', ...extraArgs],
        parallel,
        ctxPerSlot,
        threads: int('threads', values.threads),
        maxRestarts: 0,
        logFile: join(outDir, `engine-${modelName}-${n}gpu-${gpu}.log`),
        env: { ...process.env, CUDA_VISIBLE_DEVICES: String(gpu) },
        logger: { info: () => {}, warn: (m) => log(`engine ${gpu}: ${m}`) },
      });
      await engine.waitHealthy(300_000);
      return { gpu, engine, endpoint: engine.endpoint, origin: engine.endpoint.replace(/\/v1$/, '') };
    }),
  );
}

// ---------------------------------------------------------------- the two arms

function jobOptions(e: Engine, name: string): JobOptions {
  return {
    name,
    endpoint: e.endpoint,
    engineKind: 'llama-server',
    maxTokens,
    concurrency: workerConcurrency,
    model: modelName,
    inputPath: join(outDir, 'unused'),
    outputPath: join(outDir, `${name}-out`),
    runDir: join(outDir, `${name}-run`),
    openaiBatch: workload === 'varied',
  };
}

const QUESTIONS = questionRows(4096, 3);
const ROWS =
  workload === 'varied'
    ? batchLineRows(QUESTIONS, modelName, Math.max(1, Math.round(maxTokens / 4)), Math.round((7 * maxTokens) / 4))
    : QUESTIONS;

/** The reference load on every engine at once, for warmup + measure seconds. */
async function ceilingArm(engines: Engine[], dmon: DmonSample[]): Promise<Record<string, unknown>> {
  const conc = parallel * 2;
  const t0 = performance.now();
  const from = t0 + warmupS * 1000;
  const to = from + measureS * 1000;
  const events: Event[] = [];
  let failed = 0;
  const trace: unknown[] = [];
  const traceTimer = setInterval(() => {
    void (async () => {
      const t = round((performance.now() - t0) / 1000, 1);
      trace.push([
        t,
        await Promise.all(
          engines.map(async (e) => {
            try {
              const l = engineLoad(await (await fetch(`${e.origin}/metrics`)).text());
              return [l.running ?? null, l.waiting ?? null];
            } catch {
              return [null, null];
            }
          }),
        ),
      ]);
    })();
  }, 1000);
  await Promise.all(
    engines.map(async (e) => {
      const { path, bodies } = bodiesFor(resolvedJob(jobOptions(e, `ceiling-${e.gpu}`)), ROWS);
      const pool = new Pool(e.origin, {
        connections: conc,
        pipelining: 1,
        headersTimeout: 600_000,
        bodyTimeout: 600_000,
        keepAliveTimeout: 60_000,
      });
      let next = e.gpu * 977;
      const lane = async (_: unknown, i: number): Promise<void> => {
        if (ceilingRampS > 0) await delay((i * ceilingRampS * 1000) / conc);
        while (performance.now() < to) {
          const body = bodies[next++ % bodies.length] as string;
          try {
            const res = await pool.request({ method: 'POST', path, body, headers: { 'content-type': 'application/json' } });
            const text = await res.body.text();
            const at = performance.now();
            if (res.statusCode !== 200) {
              failed++;
              continue;
            }
            const tokens = (JSON.parse(text) as { usage?: { completion_tokens?: number } }).usage?.completion_tokens ?? 0;
            if (at >= from && at < to) events.push({ at, tokens });
          } catch {
            failed++;
          }
        }
      };
      await Promise.all(Array.from({ length: conc }, lane));
      await pool.destroy();
    }),
  );
  clearInterval(traceTimer);
  events.sort((a, b) => a.at - b.at);
  return {
    concurrency_per_engine: conc,
    ramp_s: ceilingRampS,
    failed,
    ...measuredWindow(from, to),
    ...steady(events, measureS * 1000),
    gpu_util: utilization(dmon, engines.length, from, to),
    trace_every_s: 1,
    trace,
  };
}

/** W workers per engine, each fed from the protocol file, for warmup + measure seconds; then killed. */
async function workerArm(engines: Engine[], input: string, dmon: DmonSample[], label: string): Promise<Record<string, unknown>> {
  const t0 = performance.now();
  const from = t0 + warmupS * 1000;
  const to = from + measureS * 1000;
  const events: Event[] = [];
  const errors: Record<string, number> = {};
  const children: Array<{ child: ChildProcess; cpuS: number; lines: number; stderr: string; exited: boolean }> = [];
  for (const e of engines) {
    for (let w = 0; w < wpe; w++) {
      const name = `${label}-e${e.gpu}-w${w}`;
      // A fresh run folder: a ledger left by an earlier arm would answer rows from disk.
      rmSync(join(outDir, `${name}-run`), { recursive: true, force: true });
      rmSync(join(outDir, `${name}-out`), { recursive: true, force: true });
      const job = resolvedJob(jobOptions(e, name));
      const jobPath = join(outDir, `${name}.job.json`);
      writeFileSync(jobPath, JSON.stringify(job));
      const fd = openSync(input, 'r');
      const child = spawn(process.execPath, [...WORKER_NODE_FLAGS, workerBundle, jobPath], { stdio: [fd, 'pipe', 'pipe'], detached: true });
      closeSync(fd);
      const rec = { child, cpuS: 0, lines: 0, stderr: '', exited: false };
      children.push(rec);
      let rest = '';
      child.stdout?.on('data', (d: Buffer) => {
        const at = performance.now();
        const text = rest + d.toString('utf8');
        let start = 0;
        for (let nl = text.indexOf('\n'); nl !== -1; nl = text.indexOf('\n', start)) {
          const r = JSON.parse(text.slice(start, nl)) as { completion_tokens?: number | null; error_code?: string | null };
          start = nl + 1;
          rec.lines++;
          if (r.error_code !== null && r.error_code !== undefined) {
            errors[r.error_code] = (errors[r.error_code] ?? 0) + 1;
            continue;
          }
          if (at >= from && at < to) events.push({ at, tokens: r.completion_tokens ?? 0 });
        }
        rest = text.slice(start);
      });
      child.stderr?.on('data', (d: Buffer) => {
        if (rec.stderr.length < 4000) rec.stderr += d.toString();
      });
      child.once('exit', () => {
        rec.exited = true;
      });
    }
  }
  const cpuTimer = setInterval(() => {
    for (const c of children) {
      const s = cpuSecondsOf(c.child.pid as number);
      if (Number.isFinite(s)) c.cpuS = s;
    }
  }, 250);
  // Once a second: each worker's window and in-flight count (its stats file) and each engine's
  // running and waiting requests (/metrics), to see how the windows settle.
  const trace: Array<Record<string, unknown>> = [];
  const traceTimer = setInterval(() => {
    void (async () => {
      const t = round((performance.now() - t0) / 1000, 1);
      const windows = children.map((_c, i) => readWindow(join(outDir, `${label}-e${Math.floor(i / wpe)}-w${i % wpe}-run`)));
      const load = await Promise.all(
        engines.map(async (e) => {
          try {
            const l = engineLoad(await (await fetch(`${e.origin}/metrics`)).text());
            return [l.running ?? null, l.waiting ?? null];
          } catch {
            return [null, null];
          }
        }),
      );
      trace.push({ t, windows, engines: load });
    })();
  }, 1000);
  await delay(Math.max(0, to - performance.now()));
  clearInterval(cpuTimer);
  clearInterval(traceTimer);
  const early = children.filter((c) => c.exited);
  for (const c of children) {
    try {
      process.kill(-(c.child.pid as number), 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  if (early.length > 0) log(`${early.length} worker(s) exited before the end: ${early[0]?.stderr.slice(0, 400) ?? ''}`);
  events.sort((a, b) => a.at - b.at);
  const lines = children.reduce((a, c) => a + c.lines, 0);
  const cpuS = children.reduce((a, c) => a + c.cpuS, 0);
  return {
    workers: children.length,
    workers_exited_early: early.length,
    lines,
    errors,
    ...measuredWindow(from, to),
    ...steady(events, measureS * 1000),
    gpu_util: utilization(dmon, engines.length, from, to),
    worker_cpu_s: round(cpuS, 2),
    worker_cpu_us_per_request: lines > 0 ? round((cpuS / lines) * 1e6, 1) : null,
    trace_every_s: 1,
    trace: trace.map((x) => [x.t, x.windows, x.engines]),
  };
}

// ---------------------------------------------------------------- main

async function main(): Promise<void> {
  if (!existsSync(workerBundle)) throw new Error(`no worker bundle at ${workerBundle} (node scripts/build.ts)`);
  const input = join(outDir, 'input.lines');
  // Enough rows that no worker reaches the end of its file within a run (each worker reads its own copy).
  const columns = resolvedJob(jobOptions({ gpu: 0, engine: undefined as never, origin: '', endpoint: 'http://127.0.0.1:1/v1' }, 'cols')).run
    .columns;
  await writeProtocolFile(input, ROWS, columns, 400_000);
  const runs: Array<Record<string, unknown>> = [];
  for (const n of gpuCounts) {
    log(`${modelName}: ${n} engine(s), ${parallel} slots each, ${wpe} worker(s) per engine`);
    const t = performance.now();
    const engines = await startEngines(n);
    const startS = (performance.now() - t) / 1000;
    const dmon = startDmon();
    // An engine that dies (a crash, with no restarts in the bench) ends this GPU count at once: the
    // pairs measured so far are kept, and the reason goes into the result. Without this, every
    // remaining arm waited 2 min for an idle engine that was gone.
    let gone: string | null = null;
    const dead = new AbortController();
    for (const e of engines)
      e.engine.once('giveup', ({ reason }) => {
        gone ??= `engine ${e.gpu}: ${reason}`;
        dead.abort(new Error(gone));
      });
    try {
      // Warm every engine (CUDA graphs, allocator) with a short burst of the reference load.
      await Promise.all(
        engines.map(async (e) => {
          const { path, bodies } = bodiesFor(resolvedJob(jobOptions(e, 'warm')), ROWS.slice(0, parallel));
          const pool = new Pool(e.origin, { connections: parallel });
          await Promise.all(
            bodies.map(async (body) => {
              const r = await pool.request({ method: 'POST', path, body, headers: { 'content-type': 'application/json' } });
              await r.body.text();
            }),
          );
          await pool.destroy();
        }),
      ).catch(async (err: unknown) => {
        // A socket closed under the warm-up is most often the engine dying; its exit is seen a
        // moment later. Then the run is filed with the reason instead of ending in a stack trace.
        if (!dead.signal.aborted) await delay(5000, undefined, { signal: dead.signal }).catch(() => {});
        if (gone === null) throw err;
      });
      const pairs: Array<{ ceiling?: Record<string, unknown>; worker?: Record<string, unknown> }> = [];
      for (let rep = 0; rep < repeats && gone === null; rep++) {
        // Alternate which arm goes first, so drift over the run (clocks, heat) doesn't favour one.
        const order = rep % 2 === 0 ? ['ceiling', 'worker'] : ['worker', 'ceiling'];
        const pair: { ceiling?: Record<string, unknown>; worker?: Record<string, unknown> } = {};
        for (const arm of order.filter((a) => arms.has(a))) {
          if (gone !== null) break;
          // An engine still busy after 2 min is noted, and the arm goes on; a dead one ends the wait.
          await Promise.all(
            engines.map((e) => waitLlamaIdle(e.origin, 120_000, dead.signal).catch((err: unknown) => log((err as Error).message))),
          );
          if (gone !== null) break;
          if (arm === 'ceiling') {
            const c = await ceilingArm(engines, dmon.samples);
            pair.ceiling = c;
            log(`  ceiling: ${String(c.tok_s)} tok/s, ${String(c.rps)} req/s, GPU ${JSON.stringify(c.gpu_util)}`);
          } else {
            const w = await workerArm(engines, input, dmon.samples, `${modelName.replace(/[^a-z0-9-]/g, '')}-w${n}`);
            pair.worker = w;
            log(
              `  worker:  ${String(w.tok_s)} tok/s, ${String(w.rps)} req/s, GPU ${JSON.stringify(w.gpu_util)}, ${String(w.worker_cpu_us_per_request)} µs CPU/request`,
            );
          }
        }
        // A pair cut short by a dead engine is not a pair: its arm ran on a failing engine.
        if (gone === null) pairs.push(pair);
      }
      if (gone !== null) log(`stopped after ${pairs.length} of ${repeats} pair(s): ${gone}`);
      runs.push({
        gpus: n,
        engine_start_s: round(startS, 1),
        engine_argv: engines[0]?.engine.command,
        ...(pairs.length > 0 ? combine(pairs) : {}),
        ...(gone !== null ? { engine_failed: gone, pairs_done: pairs.length } : {}),
      });
      writeResult(runs); // after each GPU count: a run cut short keeps what it measured
    } finally {
      dmon.stop();
      await Promise.all(engines.map((e) => e.engine.stop()));
    }
  }
}

function writeResult(runs: Array<Record<string, unknown>>): void {
  addScaleOut(runs);
  const result = {
    model: modelName,
    model_file: modelFile,
    parallel,
    ctx_per_slot: ctxPerSlot,
    max_tokens: maxTokens,
    warmup_s: warmupS,
    measure_s: measureS,
    workers_per_engine: wpe,
    worker_concurrency: workerConcurrency,
    arms: [...arms],
    workload,
    repeats,
    rows_prompt:
      workload === 'varied'
        ? `bench/lib/workload.ts batchLineRows(questionRows(4096, 3)): OpenAI Batch lines, chat, ignore_eos, max_tokens uniform in [${Math.max(1, Math.round(maxTokens / 4))}, ${Math.round((7 * maxTokens) / 4)}]`
        : 'bench/lib/workload.ts questionRows(4096, 3), chat, ignore_eos',
    gpu: gpuName(),
    node: process.version,
    runs,
  };
  const file =
    values.result !== undefined
      ? resolve(values.result)
      : join(outDir, `gpu-${modelName}${values.tag !== '' && values.tag !== undefined ? `-${values.tag}` : ''}.json`);
  writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
  if (runs.length === gpuCounts.length) process.stdout.write(`${JSON.stringify(result)}\n`);
  log(`wrote ${file} (${runs.length} of ${gpuCounts.length} GPU counts)`);
}

function gpuName(): string | null {
  try {
    return execFileSync('nvidia-smi', ['--query-gpu=name,driver_version,memory.total', '--format=csv,noheader'], {
      encoding: 'utf8',
    }).trim();
  } catch {
    return null;
  }
}

await main();
