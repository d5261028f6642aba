/**
 * The engines a benchmark runs against: the real llama-server with the demo model (one warm
 * instance shared by scenarios a, b, c and g, with fixed threads and slots), and the SIMULATED
 * engine / instant FAKE from src/sim, each as its own process so that its CPU is counted apart.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { startEngine, type LocalEngine } from '../../src/launch/engine.ts';
import { engineLoad } from '../../src/engine/prometheus.ts';
import { runLoad } from './loadgen.ts';

export const ROOT = join(import.meta.dirname, '..', '..');
export const NODE = process.execPath;

export interface BenchEngine {
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

/** Starts llama-server with the demo model, waits for health and warms it with a short load. */
export async function startLlama(o: LlamaOptions): Promise<BenchEngine> {
  const engine: LocalEngine = await startEngine({
    kind: 'llama-server', model: 'smollm2-135m-instruct', alias: 'smollm2-135m-instruct', args: [],
    parallel: o.parallel, ctxPerSlot: o.ctxPerSlot, threads: o.threads, maxRestarts: 0, logFile: o.logFile,
    logger: { info: () => {}, warn: (m) => process.stderr.write(`bench engine: ${m}\n`) },
  });
  await engine.waitHealthy(180_000);
  const origin = engine.endpoint.replace(/\/v1$/, '');
  const warm = Array.from({ length: o.parallel }, (_, i) => JSON.stringify({
    model: 'smollm2-135m-instruct', messages: [{ role: 'user', content: `Warm-up ${i}: say hello.` }], max_tokens: 8, temperature: 0, ignore_eos: true,
  }));
  await runLoad({ origin, path: '/v1/chat/completions', bodies: warm, concurrency: o.parallel });
  return {
    endpoint: engine.endpoint,
    origin,
    pid: () => engine.pid(),
    settings: { kind: 'llama-server', model: 'smollm2-135m-instruct (GGUF Q4_1)', parallel: o.parallel, ctx_per_slot: o.ctxPerSlot, threads: o.threads, argv: engine.command },
    waitIdle: (timeoutMs = 60_000) => waitLlamaIdle(origin, timeoutMs),
    stop: () => engine.stop(),
  };
}

async function waitLlamaIdle(origin: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const res = await fetch(`${origin}/metrics`);
      const load = engineLoad(await res.text());
      if ((load.running ?? 0) === 0 && (load.waiting ?? 0) === 0) return;
    } catch { /* between polls */ }
    if (Date.now() > deadline) throw new Error(`engine at ${origin} still busy after ${timeoutMs} ms`);
    await delay(250);
  }
}

export interface SimProcessOptions {
  mode: 'sim' | 'instant';
  /** Extra flags for src/sim/main.ts (`--profile kv-limited`, `--time-scale 0.1` …). */
  args?: string[];
  /** Pin to CPUs with taskset (`"0"`). */
  cpus?: string;
  env?: NodeJS.ProcessEnv;
}

/** Starts `node src/sim/main.ts` as its own process group; resolves with its URL. */
export async function startSimProcess(o: SimProcessOptions): Promise<BenchEngine & { child: ChildProcess }> {
  const argv = ['--disable-warning=ExperimentalWarning', join(ROOT, 'src', 'sim', 'main.ts'), '--mode', o.mode, ...(o.args ?? [])];
  const [cmd, args] = o.cpus !== undefined ? ['taskset', ['-c', o.cpus, NODE, ...argv]] as const : [NODE, argv] as const;
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'], detached: true, env: o.env ?? process.env });
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
    try { process.kill(-(child.pid as number), 'SIGTERM'); } catch { /* gone */ }
    await Promise.race([exited, delay(3000)]);
    try { process.kill(-(child.pid as number), 'SIGKILL'); } catch { /* gone */ }
  };
  return {
    child,
    endpoint: `${info.url}/v1`,
    origin: info.url,
    pid: () => child.pid,
    settings: { kind: o.mode === 'instant' ? 'instant FAKE (answers at once, no model)' : 'SIMULATED engine (src/sim)', args: o.args ?? [], engine: info.engine },
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
