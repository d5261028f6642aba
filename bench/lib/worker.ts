/**
 * Drives the bundled worker (dist/sparkinfer-worker.mjs) directly, as Spark's TRANSFORM would:
 * protocol lines on stdin, result lines on stdout. Three shapes:
 * - `runWorkerFile`: a fixed input file, results read by this process (wall time to exit);
 * - `runWorkerTimed`: an endless input, throughput counted between a warm-up and the end of a
 *   measurement period, then the worker is killed (steady state, no tail);
 * - `runWorkerPiped`: input file → worker (optionally pinned) → the slow consumer process.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { once } from 'node:events';
import { setTimeout as delay } from 'node:timers/promises';
import { NODE, ROOT } from './engines.ts';
import { cpuSecondsOf, rssWatcher, type CpuMeter } from './proc.ts';
import { WORKER_NODE_FLAGS } from '../../src/worker/protocol.ts';
import { tracked } from './children.ts';

export const WORKER = join(ROOT, 'dist', 'sparkinfer-worker.mjs');

export interface WorkerStats {
  lines: number;
  errors: number;
  completionTokens: number;
  promptTokens: number;
  wallS: number;
  tokS: number;
  rps: number;
  exitCode: number | null;
  peakRssMb: number;
  errorsByCode: Record<string, number>;
}

function spawnWorker(
  jobPath: string,
  stdio: Array<'pipe' | 'ignore' | number | NodeJS.WritableStream>,
  cpus?: string,
  env?: NodeJS.ProcessEnv,
): ChildProcess {
  const argv = [...WORKER_NODE_FLAGS, WORKER, jobPath]; // the flags the driver's USING command passes
  const [cmd, args] = cpus !== undefined ? (['taskset', ['-c', cpus, NODE, ...argv]] as const) : ([NODE, argv] as const);
  return tracked(spawn(cmd, args, { stdio: stdio as never, detached: true, env: env ?? process.env }));
}

function killTree(child: ChildProcess): void {
  try {
    process.kill(-(child.pid as number), 'SIGKILL');
  } catch {
    /* gone */
  }
}

interface LineSink {
  onLine(line: string, t: number): void;
}

function readLinesFrom(stream: NodeJS.ReadableStream, sink: LineSink): void {
  let rest = '';
  stream.on('data', (chunk: Buffer) => {
    const t = performance.now();
    const text = rest + chunk.toString('utf8');
    let start = 0;
    for (let nl = text.indexOf('\n'); nl !== -1; nl = text.indexOf('\n', start)) {
      sink.onLine(text.slice(start, nl), t);
      start = nl + 1;
    }
    rest = text.slice(start);
  });
}

function tally(): { stats: Omit<WorkerStats, 'wallS' | 'tokS' | 'rps' | 'exitCode' | 'peakRssMb'>; add(line: string): number } {
  const stats = { lines: 0, errors: 0, completionTokens: 0, promptTokens: 0, errorsByCode: {} as Record<string, number> };
  return {
    stats,
    add(line) {
      const r = JSON.parse(line) as { completion_tokens?: number | null; prompt_tokens?: number | null; error_code?: string | null };
      stats.lines++;
      const ct = r.completion_tokens ?? 0;
      stats.completionTokens += ct;
      stats.promptTokens += r.prompt_tokens ?? 0;
      if (r.error_code !== null && r.error_code !== undefined) {
        stats.errors++;
        stats.errorsByCode[r.error_code] = (stats.errorsByCode[r.error_code] ?? 0) + 1;
      }
      return ct;
    },
  };
}

/** A fixed input file through the worker; wall time from spawn to exit. */
export async function runWorkerFile(o: {
  jobPath: string;
  inputFile: string;
  meter?: CpuMeter;
  cpus?: string;
  env?: NodeJS.ProcessEnv;
}): Promise<WorkerStats> {
  const fd = openSync(o.inputFile, 'r');
  const t0 = performance.now();
  const child = spawnWorker(o.jobPath, [fd, 'pipe', 'pipe'], o.cpus, o.env);
  closeSync(fd);
  o.meter?.tag(child.pid, 'worker');
  const rss = rssWatcher(child.pid as number);
  const t = tally();
  readLinesFrom(child.stdout as NodeJS.ReadableStream, {
    onLine: (l) => {
      t.add(l);
    },
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const [code] = (await once(child, 'close')) as [number | null];
  const wallS = (performance.now() - t0) / 1000;
  const peakRssMb = rss.stop();
  if (code !== 0) throw new Error(`worker exited with ${String(code)}: ${stderr.slice(0, 500)}`);
  return { ...t.stats, wallS, tokS: t.stats.completionTokens / wallS, rps: t.stats.lines / wallS, exitCode: code, peakRssMb };
}

export interface TimedResult {
  /** Completion tokens per second between warm-up and the end. */
  tokS: number;
  /** Result lines per second in the same period. */
  rps: number;
  measuredS: number;
  /** From the first to the last completion inside the period, in s (the rate's denominator). */
  spanS: number;
  lines: number;
  errors: number;
  errorsByCode: Record<string, number>;
  /** With `runDir`: once a second, [s since spawn, window, in flight] from the worker's stats file. */
  windowTrace?: Array<[number, number | null, number | null]>;
  /** The worker's own log lines (stderr), the first 40: how it sized its window. */
  log?: string[];
}

/** [window, in flight] from the first stats file under `<runDir>/stats` (one worker per run folder). */
export function readWindow(runDir: string): [number | null, number | null] {
  try {
    const dir = join(runDir, 'stats');
    const f = readdirSync(dir).find((n) => n.endsWith('.json') && !n.startsWith('.'));
    if (f === undefined) return [null, null];
    const st = JSON.parse(readFileSync(join(dir, f), 'utf8')) as { window?: number; inflight?: number };
    return [st.window ?? null, st.inflight ?? null];
  } catch {
    return [null, null];
  }
}

/**
 * An endless input (`line(i)` for i = 0, 1, …) through the worker for `warmupMs + measureMs`;
 * counts what completes after the warm-up, then kills the worker.
 */
export async function runWorkerTimed(o: {
  jobPath: string;
  line: (i: number) => string;
  warmupMs: number;
  measureMs: number;
  meter?: CpuMeter;
  env?: NodeJS.ProcessEnv;
  runDir?: string;
}): Promise<TimedResult> {
  const child = spawnWorker(o.jobPath, ['pipe', 'pipe', 'pipe'], undefined, o.env);
  o.meter?.tag(child.pid, 'worker');
  const t0 = performance.now();
  const from = t0 + o.warmupMs;
  const to = from + o.measureMs;
  // Completions inside the period, by arrival time. Continuous batching with a fixed output length
  // finishes requests in bursts (all slots that started together end together), so the rate is
  // taken between the first and the last arrival in the period, leaving out the first arrival's
  // tokens: whole inter-burst intervals only.
  const events: Array<{ at: number; tokens: number }> = [];
  const t = tally();
  readLinesFrom(child.stdout as NodeJS.ReadableStream, {
    onLine: (l, at) => {
      const ct = t.add(l);
      if (at >= from && at < to) events.push({ at, tokens: ct });
    },
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    if (stderr.length < 64_000) stderr += d.toString();
  });
  let exited = false;
  child.once('exit', () => {
    exited = true;
  });
  const windowTrace: Array<[number, number | null, number | null]> = [];
  const runDir = o.runDir;
  const traceTimer =
    runDir === undefined
      ? undefined
      : setInterval(() => {
          windowTrace.push([Number(((performance.now() - t0) / 1000).toFixed(1)), ...readWindow(runDir)]);
        }, 1000);
  const stdin = child.stdin as NodeJS.WritableStream;
  stdin.on('error', () => {}); // EPIPE when it is killed
  const feed = (async () => {
    let i = 0;
    try {
      while (!exited && performance.now() < to) {
        let chunk = '';
        for (let k = 0; k < 64; k++) chunk += `${o.line(i++)}\n`;
        if (!stdin.write(chunk)) {
          // Wait for drain, at most 200 ms; the loser's listener is removed (no listener pile-up).
          const ac = new AbortController();
          await Promise.race([once(stdin, 'drain', { signal: ac.signal }), delay(200, undefined, { signal: ac.signal })]);
          ac.abort();
        }
      }
    } catch {
      // EPIPE once the worker is killed: the run is over.
    }
  })();
  await delay(Math.max(0, to - performance.now()));
  if (traceTimer !== undefined) clearInterval(traceTimer);
  const early = exited;
  killTree(child);
  await feed;
  if (early) throw new Error(`worker exited during a timed run: ${stderr.slice(0, 500)}`);
  const first = events[0];
  const last = events.at(-1);
  const spanS = first !== undefined && last !== undefined ? (last.at - first.at) / 1000 : 0;
  let tokS: number;
  let rps: number;
  if (first !== undefined && spanS >= 0.25 * (o.measureMs / 1000)) {
    const after = events.filter((e) => e.at > first.at);
    tokS = after.reduce((a, e) => a + e.tokens, 0) / spanS;
    rps = after.length / spanS;
  } else {
    // One burst (or none) in the period: the plain count over the period, flagged by `spanS`.
    tokS = events.reduce((a, e) => a + e.tokens, 0) / (o.measureMs / 1000);
    rps = events.length / (o.measureMs / 1000);
  }
  return {
    tokS,
    rps,
    measuredS: o.measureMs / 1000,
    spanS,
    lines: events.length,
    errors: t.stats.errors,
    errorsByCode: t.stats.errorsByCode,
    ...(runDir !== undefined
      ? {
          windowTrace,
          log: stderr
            .split('\n')
            .filter((l) => l !== '')
            .slice(0, 40),
        }
      : {}),
  };
}

export interface PipedResult extends WorkerStats {
  stalls: number;
  workerCpuS: number;
}

/**
 * input file → worker (pinned to `workerCpus`) → slow consumer process (pinned to `otherCpus`).
 * The worker's CPU is read from /proc just before it exits (it is a zombie until reaped).
 */
export async function runWorkerPiped(o: {
  jobPath: string;
  inputFile: string;
  workerCpus?: string;
  otherCpus?: string;
  stallMs?: number;
  meter?: CpuMeter;
}): Promise<PipedResult> {
  const consumerArgv = [
    '--disable-warning=ExperimentalWarning',
    join(ROOT, 'bench', 'lib', 'slow-consumer.ts'),
    '--stall-ms',
    String(o.stallMs ?? 50),
  ];
  const consumer =
    o.otherCpus !== undefined
      ? tracked(spawn('taskset', ['-c', o.otherCpus, NODE, ...consumerArgv], { stdio: ['pipe', 'pipe', 'inherit'], detached: true }))
      : tracked(spawn(NODE, consumerArgv, { stdio: ['pipe', 'pipe', 'inherit'], detached: true }));
  o.meter?.tag(consumer.pid, 'consumer');
  const fd = openSync(o.inputFile, 'r');
  const t0 = performance.now();
  const worker = spawnWorker(o.jobPath, [fd, consumer.stdin as NodeJS.WritableStream, 'pipe'], o.workerCpus);
  closeSync(fd);
  (consumer.stdin as NodeJS.WritableStream & { destroy(): void }).destroy(); // the worker holds the pipe now
  o.meter?.tag(worker.pid, 'worker');
  const rss = rssWatcher(worker.pid as number, 100);
  let stderr = '';
  worker.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  // Sample the worker's CPU while it runs; the last sample before exit is its total (±0.1 s).
  let workerCpuS = 0;
  const cpuTimer = setInterval(() => {
    const c = cpuSecondsOf(worker.pid as number);
    if (Number.isFinite(c)) workerCpuS = c;
  }, 100);
  let out = '';
  consumer.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const [code] = (await once(worker, 'exit')) as [number | null];
  clearInterval(cpuTimer);
  const peakRssMb = rss.stop();
  await once(consumer, 'close');
  const wallS = (performance.now() - t0) / 1000;
  if (code !== 0) throw new Error(`worker exited with ${String(code)}: ${stderr.slice(0, 500)}`);
  const c = JSON.parse(out.trim().split('\n').at(-1) ?? '{}') as {
    lines: number;
    completion_tokens: number;
    errors: number;
    stalls: number;
    last_ms: number;
  };
  return {
    lines: c.lines,
    errors: c.errors,
    completionTokens: c.completion_tokens,
    promptTokens: 0,
    errorsByCode: {},
    wallS,
    tokS: c.completion_tokens / wallS,
    rps: c.lines / wallS,
    exitCode: code,
    peakRssMb,
    stalls: c.stalls,
    workerCpuS,
  };
}
