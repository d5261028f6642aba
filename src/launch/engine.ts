/**
 * Starting a local engine for a run: options checked, model and binary resolved, a port picked,
 * the process spawned under supervision (`LocalEngine`, in supervisor.ts).
 */
import { existsSync, mkdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, isAbsolute, resolve } from 'node:path';
import { BadArgumentError, RuntimeFailure, SpecError } from '../errors.ts';
import {
  argsSetThreads,
  defaultEngineThreads,
  engineArgv,
  validateCommandOptions,
  type EngineCommandOptions,
  type LaunchKind,
} from './command.ts';
import { findOnPath, llamaServerPath, resolveModel } from './paths.ts';
import { freePort } from './port.ts';
import { defaultSleep, LocalEngine, stderrLogger, type LaunchLogger, type Sleep } from './supervisor.ts';

export { LocalEngine, stderrLogger } from './supervisor.ts';
export type { EngineExit, LaunchLogger, LocalEngineEvents, Sleep } from './supervisor.ts';

export interface StartEngineOptions extends Omit<EngineCommandOptions, 'port' | 'model'> {
  /** llama-server: `smollm2-135m-instruct` or a GGUF path (see `resolveModel`). vllm: a path or a model id. */
  model: string;
  /** Restarts allowed after unexpected exits, over the engine's life. */
  maxRestarts: number;
  /** File that receives the engine's stdout and stderr (appended; one header line per start). */
  logFile: string;
  /** Folder for the engine's pid file (`<run dir>/pids`): a rerun after a crash stops a leftover engine. */
  pidDir?: string;
  /** Aborting it stops the engine. */
  signal?: AbortSignal;
  /** Default: `stderrLogger`. */
  logger?: LaunchLogger;
  /** Port on 127.0.0.1. Default: a free one (`freePort`). */
  port?: number;
  /** Engine binary. Default: `llamaServerPath()`, or `vllm` on PATH. */
  bin?: string;
  /** Folder relative model paths are resolved against (the job file's). Default: the working directory. */
  baseDir?: string;
  /** Cores of this machine, for the default `threads`. Default: `os.availableParallelism()`. */
  cores?: number;
  /** Engine environment. Default: `process.env`. */
  env?: NodeJS.ProcessEnv;
  /** Between SIGTERM and SIGKILL on `stop()`, in ms. Default 5000. */
  stopGraceMs?: number;
  /** Wait before restart number n is `n × restartDelayMs` ms (a crash loop must not spin). Default 250. */
  restartDelayMs?: number;
  /** Between `/health` polls, in ms. Default 200. */
  pollIntervalMs?: number;
  /** Clock in ms. Default `Date.now`. */
  now?: () => number;
  /** Default: a timer that ends early when its signal aborts. */
  sleep?: Sleep;
}

function resolveLaunchModel(kind: LaunchKind, model: string, baseDir: string | undefined, env: NodeJS.ProcessEnv): string {
  const opts = { ...(baseDir !== undefined ? { baseDir } : {}), env };
  if (kind === 'llama-server') return resolveModel(model, opts);
  // vllm also takes a model id (resolved from its own cache); a path that exists is made absolute.
  const asPath = isAbsolute(model) ? model : resolve(baseDir ?? process.cwd(), model);
  return existsSync(asPath) ? asPath : model;
}

function resolveBin(kind: LaunchKind, env: NodeJS.ProcessEnv): string {
  if (kind === 'llama-server') return llamaServerPath(env);
  const vllm = findOnPath('vllm', env);
  if (vllm === undefined) {
    throw new RuntimeFailure(
      'engine.launch.kind `vllm` needs the `vllm` command on PATH and it is not there; install vLLM, or use kind `llama-server` or an `endpoint`',
    );
  }
  return vllm;
}

/** `threads` as given; else, for llama-server without `--threads` in its args, `defaultEngineThreads` of the cores. */
export function launchThreads(opts: Pick<StartEngineOptions, 'kind' | 'threads' | 'args' | 'cores'>): { threads?: number } {
  if (opts.threads !== undefined) return { threads: opts.threads };
  if (opts.kind !== 'llama-server' || argsSetThreads(opts.args)) return {};
  return { threads: defaultEngineThreads(opts.cores ?? availableParallelism()) };
}

/**
 * Starts an engine on 127.0.0.1 and returns at once (the model is still loading: call
 * `waitHealthy`). Throws a BadArgumentError for bad options (a programmer error), a SpecError for a
 * missing model, and a RuntimeFailure when the engine binary is missing; all before anything is started.
 */
export async function startEngine(opts: StartEngineOptions): Promise<LocalEngine> {
  validateCommandOptions(opts);
  if (typeof opts.maxRestarts !== 'number' || !Number.isInteger(opts.maxRestarts) || opts.maxRestarts < 0) {
    throw new BadArgumentError(
      `Expected \`maxRestarts\` to be an integer from 0 and up, got \`${String(opts.maxRestarts)}\` (${typeof opts.maxRestarts})`,
    );
  }
  if (typeof opts.logFile !== 'string' || opts.logFile === '') {
    throw new BadArgumentError(`Expected \`logFile\` to be a file path, got \`${String(opts.logFile)}\` (${typeof opts.logFile})`);
  }
  for (const key of ['stopGraceMs', 'restartDelayMs', 'pollIntervalMs', 'port'] as const) {
    const v = opts[key];
    if (v !== undefined && (typeof v !== 'number' || !Number.isFinite(v) || v < (key === 'port' ? 1 : 0))) {
      throw new BadArgumentError(
        `Expected \`${key}\` to be a number from ${key === 'port' ? 1 : 0} and up, got \`${String(v)}\` (${typeof v})`,
      );
    }
  }
  if (opts.signal?.aborted) throw opts.signal.reason;
  const env = opts.env ?? process.env;
  const model = resolveLaunchModel(opts.kind, opts.model, opts.baseDir, env);
  const bin = opts.bin ?? resolveBin(opts.kind, env);
  const port = opts.port ?? (await freePort());
  const argv = engineArgv({ ...opts, model, port, ...launchThreads(opts) });
  mkdirSync(dirname(resolve(opts.logFile)), { recursive: true });

  const engine = new LocalEngine({
    kind: opts.kind,
    bin,
    argv,
    port,
    logFile: resolve(opts.logFile),
    ...(opts.pidDir !== undefined ? { pidDir: opts.pidDir } : {}),
    maxRestarts: opts.maxRestarts,
    env,
    logger: opts.logger ?? stderrLogger,
    stopGraceMs: opts.stopGraceMs ?? 5000,
    restartDelayMs: opts.restartDelayMs ?? 250,
    pollIntervalMs: opts.pollIntervalMs ?? 200,
    now: opts.now ?? Date.now,
    sleep: opts.sleep ?? defaultSleep,
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
  engine._spawn();
  return engine;
}
