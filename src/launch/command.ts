/**
 * Engine command lines, as argv arrays (never a shell string): nothing from a job file reaches a
 * shell. Pure functions, so the flags can be checked without starting anything.
 */
import { BadArgumentError } from '../errors.ts';
import { checkInt, checkString, describeValue } from '../checks.ts';

export type LaunchKind = 'llama-server' | 'vllm';
export const LAUNCH_KINDS: readonly LaunchKind[] = ['llama-server', 'vllm'];

/** What shapes an engine's command line. */
export interface EngineCommandOptions {
  /** Which engine to run. */
  kind: LaunchKind;
  /** The model argument, already resolved (a GGUF path for llama-server; a path or model id for vllm). */
  model: string;
  /** Name the engine serves the model under (`--alias` / `--served-model-name`): the job's `model`. */
  alias: string;
  /** Port to bind on 127.0.0.1. */
  port: number;
  /** Extra engine arguments, appended last so that they win over ours. Default `[]`. */
  args?: readonly string[];
  /** Concurrent sequences: llama-server `--parallel` (slots). Not passed to vllm. */
  parallel: number;
  /**
   * Compute threads (llama-server `--threads`). Absent: the engine's own (all cores); `startEngine`
   * passes `defaultEngineThreads` of this machine's cores unless the job or `args` set it.
   */
  threads?: number;
  /** Context per slot in tokens; llama-server's `--ctx-size` is `parallel × ctxPerSlot`. */
  ctxPerSlot: number;
  /** Embeddings-only instance (llama-server `--embeddings`). Default false. */
  embeddings?: boolean;
  /** Pooling for embeddings (llama-server `--pooling`). Default `mean`. */
  pooling?: string;
  /**
   * llama-server HTTP threads. Default `max(512, parallel × 4)`: every in-flight request holds one,
   * and `/health` and `/metrics` polls must not queue behind them. 512 is the largest `auto`
   * window (`concurrency_max`'s default). Requests beyond the threads wait in the TCP accept
   * backlog, where `/metrics` does not count them as deferred and a client that went away cannot
   * cancel them, and the polls wait there too: with 64 threads and a window of 256, bench c got
   * 2 of its ~30 once-a-second `/metrics` samples answered over two rounds (2026-11-29).
   */
  threadsHttp?: number;
}

const POOLINGS = ['none', 'mean', 'cls', 'last', 'rank'];

/** Checks the options up front, with messages that quote the bad value. */
export function validateCommandOptions(o: Omit<EngineCommandOptions, 'port' | 'model'> & { model?: unknown }): void {
  if (!LAUNCH_KINDS.includes(o.kind))
    throw new BadArgumentError(`Expected \`kind\` to be one of ${LAUNCH_KINDS.join(', ')}, got ${describeValue(o.kind)}`);
  checkString('alias', o.alias);
  checkInt('parallel', o.parallel, 1);
  checkInt('ctxPerSlot', o.ctxPerSlot, 1);
  if (o.threads !== undefined) checkInt('threads', o.threads, 1);
  if (o.threadsHttp !== undefined) checkInt('threadsHttp', o.threadsHttp, 1);
  if (o.args !== undefined && (!Array.isArray(o.args) || o.args.some((a) => typeof a !== 'string'))) {
    throw new BadArgumentError(`Expected \`args\` to be a list of strings, got ${describeValue(o.args)}`);
  }
  if (o.pooling !== undefined && !POOLINGS.includes(o.pooling)) {
    throw new BadArgumentError(`Expected \`pooling\` to be one of ${POOLINGS.join(', ')}, got ${describeValue(o.pooling)}`);
  }
}

/**
 * A launched llama-server's default compute threads on a machine with `cores` cores: all but a
 * reserve of max(1, ⌊cores / 8⌋) left to the job's own processes (the Spark JVM, the Python driver,
 * the CLI and one worker per task slot, which `local[*]` scales with the cores). llama.cpp's
 * threads spin at a barrier after every operation, so one thread descheduled by any other runnable
 * process stalls them all: on 2 cores the quickstart ran slower with 2 threads than with 1
 * (docs/setup.md, "Engine threads"). 2 cores → 1, 4 → 3, 8 → 7, 16 → 14, 64 → 56.
 */
export function defaultEngineThreads(cores: number): number {
  const n = Number.isFinite(cores) ? Math.floor(cores) : 1;
  return Math.max(1, n - Math.max(1, Math.floor(n / 8)));
}

/** True when engine arguments already set llama-server's compute threads (`-t`, `--threads`, `--threads=N`). */
export function argsSetThreads(args: readonly string[] | undefined): boolean {
  return (args ?? []).some((a) => a === '-t' || a === '--threads' || a.startsWith('--threads='));
}

/** The argv (without the program) for an engine. */
export function engineArgv(o: EngineCommandOptions): string[] {
  validateCommandOptions(o);
  checkInt('port', o.port, 1);
  const extra = [...(o.args ?? [])];
  if (o.kind === 'vllm') {
    return ['serve', o.model, '--host', '127.0.0.1', '--port', String(o.port), '--served-model-name', o.alias, ...extra];
  }
  const argv = [
    '--host',
    '127.0.0.1',
    '--port',
    String(o.port),
    '-m',
    o.model,
    '--alias',
    o.alias,
    '--metrics', // off by default; the scheduler reads the queue from it
    '--slots',
    '--parallel',
    String(o.parallel),
    '--ctx-size',
    String(o.parallel * o.ctxPerSlot),
    '--threads-http',
    String(o.threadsHttp ?? Math.max(512, o.parallel * 4)),
    '--cont-batching',
    // No host-RAM prompt cache: with it (llama.cpp's default, 8 GiB) every request that takes a
    // slot first saves that slot's previous prompt state to RAM and searches the cache, which
    // capped a 256-slot engine at ~25 admissions/s on an H200 whatever the model (bench/GPU.md).
    // Each slot still reuses its own cached prefix. A later `--cache-ram N` in args wins.
    '--cache-ram',
    '0',
    // One KV pool shared by all slots, each still capped at ctxPerSlot (so a prompt that does not
    // fit one slot is refused as before). With a pool per slot, a batch that mixes new prompts
    // with running sequences is split into many small steps; answers that finish at different
    // times (any real workload) then cost a 256-slot engine on an H200 a third of its
    // throughput (bench/GPU.md). llama.cpp does the same when it picks the slot count itself.
    // A later `--no-kv-unified` in args wins.
    '--kv-unified',
    '--kv-unified-per-slot',
    String(o.ctxPerSlot),
  ];
  if (o.threads !== undefined) argv.push('--threads', String(o.threads));
  if (o.embeddings === true) argv.push('--embeddings', '--pooling', o.pooling ?? 'mean');
  return [...argv, ...extra];
}
