/**
 * The supervised engine process: health-wait, restart on a crash within a budget, stop. It runs
 * in its own process group and is stopped by killing the group. Created by `startEngine`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { closeSync, openSync, writeSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import { RuntimeFailure, SpecError } from '../errors.ts';
import { formatDuration } from '../jobfile/units.ts';
import { groupAlive, killGroup, track, untrack, withParentDeathSignal } from './cleanup.ts';
import type { LaunchKind } from './command.ts';
import { EngineClient } from '../engine/client.ts';
import { probeHealth, type ProbeResult } from '../engine/health.ts';
import { logTail } from './log-tail.ts';

export interface LaunchLogger {
  info(message: string): void;
  warn(message: string): void;
}

/** Writes `launch: <message>` lines to stderr (stdout carries results only). */
export const stderrLogger: LaunchLogger = {
  info: (m) => void process.stderr.write(`launch: ${m}\n`),
  warn: (m) => void process.stderr.write(`launch: WARNING: ${m}\n`),
};

export type Sleep = (ms: number, signal?: AbortSignal) => Promise<void>;
export const defaultSleep: Sleep = (ms, signal) => delay(ms, undefined, signal ? { signal } : {}).catch(() => undefined);

export interface EngineExit {
  pid: number | undefined;
  code: number | null;
  signal: NodeJS.Signals | null;
  /** True when `stop()` caused it. */
  expected: boolean;
}

export interface LocalEngineEvents {
  /** The engine process exited (every time, expected or not). */
  exit: [EngineExit];
  /** A crashed engine was started again on the same port. */
  restart: [{ restarts: number; pid: number | undefined }];
  /** The engine is gone for good: it died before it was ever healthy, or the restart budget is spent. */
  giveup: [{ reason: string }];
}

type State = 'running' | 'restarting' | 'stopping' | 'stopped' | 'gaveup';

export interface EngineConfig {
  kind: LaunchKind;
  bin: string;
  argv: string[];
  port: number;
  logFile: string;
  /** Where the engine's pid file goes (`<run dir>/pids`), for a rerun after a crash (procs.ts). */
  pidDir?: string;
  maxRestarts: number;
  env: NodeJS.ProcessEnv;
  logger: LaunchLogger;
  stopGraceMs: number;
  restartDelayMs: number;
  pollIntervalMs: number;
  now: () => number;
  sleep: Sleep;
  signal?: AbortSignal;
}

function describeExit(e: Pick<EngineExit, 'code' | 'signal'>, err?: Error): string {
  if (err !== undefined) return `could not start: ${err.message}`;
  return e.signal !== null ? `killed by ${e.signal}` : `exit code ${e.code}`;
}

export class LocalEngine extends EventEmitter<LocalEngineEvents> {
  readonly kind: LaunchKind;
  /** OpenAI-compatible base URL: `http://127.0.0.1:PORT/v1`. */
  readonly endpoint: string;
  readonly port: number;
  readonly logFile: string;
  /** The full command, for logs: `[bin, ...argv]`. */
  readonly command: readonly string[];
  readonly #cfg: EngineConfig;
  readonly #healthUrl: string;
  readonly #lifetime = new AbortController(); // aborted by stop(): cancels a pending restart
  readonly #wake = new Set<() => void>();
  #child: ChildProcess | undefined;
  #childExited: Promise<void> = Promise.resolve();
  #state: State = 'running';
  #restarts = 0;
  #everHealthy = false;
  #goneReason = '';
  #stopping: Promise<void> | undefined;

  /** Use `startEngine`. */
  constructor(cfg: EngineConfig) {
    super();
    this.#cfg = cfg;
    this.kind = cfg.kind;
    this.port = cfg.port;
    this.logFile = cfg.logFile;
    this.endpoint = `http://127.0.0.1:${cfg.port}/v1`;
    this.#healthUrl = `http://127.0.0.1:${cfg.port}/health`;
    this.command = [cfg.bin, ...cfg.argv];
    cfg.signal?.addEventListener('abort', this.#onAbort, { once: true });
  }

  readonly #onAbort = (): void => {
    this.stop().catch((e: unknown) => this.#cfg.logger.warn(`stopping ${this.kind} at ${this.endpoint}: ${String(e)}`));
  };

  /** Restarts done so far. */
  get restarts(): number {
    return this.#restarts;
  }

  /** The live engine process's pid (its process group id too), or undefined between processes. */
  pid(): number | undefined {
    const c = this.#child;
    return c !== undefined && c.exitCode === null && c.signalCode === null ? c.pid : undefined;
  }

  /** Starts a process. Internal: called by `startEngine` and by the supervisor. */
  _spawn(): void {
    const { bin, argv, logFile, env } = this.#cfg;
    const fd = openSync(logFile, 'a');
    let child: ChildProcess;
    try {
      writeSync(
        fd,
        `\n=== sparkinfer: ${new Date().toISOString()} start ${this.#restarts + 1} of ${this.kind}: ${this.command.join(' ')}\n`,
      );
      const [file, args] = withParentDeathSignal(bin, argv);
      child = spawn(file, args, { detached: true, stdio: ['ignore', fd, fd], env });
    } finally {
      closeSync(fd); // the child has its own copy
    }
    this.#child = child;
    let handled = false;
    const onGone = (code: number | null, signal: NodeJS.Signals | null, err?: Error): void => {
      if (handled) return;
      handled = true;
      this.#onExit(child, code, signal, err);
    };
    this.#childExited = new Promise((resolveExit) => {
      child.once('exit', (code, signal) => {
        onGone(code, signal);
        resolveExit();
      });
      child.on('error', (err) => {
        if (child.pid === undefined) {
          onGone(null, null, err);
          resolveExit();
        }
      });
    });
    if (child.pid !== undefined)
      track(child.pid, { role: 'engine', command: bin, ...(this.#cfg.pidDir !== undefined ? { pidDir: this.#cfg.pidDir } : {}) });
    if (!this.#everHealthy) this.#watchStartup(child);
  }

  /**
   * Polls `/health` until the first start is healthy, so that supervision works for callers that
   * never call `waitHealthy` (the workers do their own health waits): a crash before that point is
   * a startup failure and is not restarted.
   */
  /** One `/health` probe on a fresh connection, so that no pooled socket outlives an engine that restarts. */
  async #probe(timeoutMs: number, signal?: AbortSignal): Promise<ProbeResult> {
    const client = new EngineClient({ endpoint: this.endpoint, connections: 1 });
    try {
      return await probeHealth(client, timeoutMs, signal);
    } finally {
      await client.close();
    }
  }

  #watchStartup(child: ChildProcess): void {
    const { pollIntervalMs, logger } = this.#cfg;
    const stopped = this.#lifetime.signal;
    const loop = async (): Promise<void> => {
      while (this.#child === child && !this.#everHealthy && !stopped.aborted) {
        const probe = await this.#probe(2000, stopped);
        if (probe.ok && this.#child === child) {
          this.#everHealthy = true;
          this.#notify();
          return;
        }
        await this.#pause(pollIntervalMs, stopped);
      }
    };
    loop().catch((e: unknown) => logger.warn(`health watch of ${this.kind} at ${this.#healthUrl} failed: ${String(e)}`));
  }

  #onExit(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null, err?: Error): void {
    const pid = child.pid;
    if (pid !== undefined) {
      // The leader is gone; helpers it left in its group (vLLM workers) would hold the GPU and the port.
      if (groupAlive(pid)) killGroup(pid, 'SIGKILL');
      untrack(pid);
    }
    if (this.#child === child) this.#child = undefined;
    const expected = this.#state === 'stopping' || this.#state === 'stopped';
    this.emit('exit', { pid, code, signal, expected });
    if (expected) {
      this.#notify();
      return;
    }

    const how = describeExit({ code, signal }, err);
    const { maxRestarts, logger, restartDelayMs } = this.#cfg;
    if (!this.#everHealthy) {
      // Bad flags, a bad model or a taken port: starting it again would fail the same way.
      this.#giveUp(`${this.kind} exited before it was healthy at ${this.#healthUrl} (${how})`);
      return;
    }
    if (this.#restarts >= maxRestarts) {
      this.#giveUp(`${this.kind} at ${this.endpoint} exited (${how}) and its restart budget (${maxRestarts}) is spent`);
      return;
    }
    this.#restarts += 1;
    const n = this.#restarts;
    logger.warn(
      `${this.kind} at ${this.endpoint} exited unexpectedly (${how}); restarting it on the same port (${n} of ${maxRestarts}); log: ${this.logFile}`,
    );
    this.#state = 'restarting';
    this.#notify();
    this.#cfg.sleep(n * restartDelayMs, this.#lifetime.signal).then(
      () => {
        if (this.#state !== 'restarting') return; // stopped meanwhile
        try {
          this._spawn();
        } catch (e) {
          return this.#giveUp(`${this.kind} could not be restarted: ${(e as Error).message}`);
        }
        this.#state = 'running';
        this.emit('restart', { restarts: n, pid: this.#child?.pid });
        this.#notify();
      },
      (e: unknown) => this.#giveUp(`${this.kind} restart failed: ${String(e)}`),
    );
  }

  #giveUp(reason: string): void {
    const tail = logTail(this.logFile);
    this.#state = 'gaveup';
    this.#goneReason = `${reason}; log: ${this.logFile}${tail ? `; last lines:\n${tail}` : ''}`;
    this.#cfg.logger.warn(this.#goneReason);
    this.emit('giveup', { reason: this.#goneReason });
    this.#notify();
  }

  #notify(): void {
    for (const wake of [...this.#wake]) wake();
  }

  /** Sleeps `ms`, waking early on a state change (exit, restart, give-up, stop) or `signal`. */
  #pause(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolvePause) => {
      const timer = new AbortController();
      const done = (): void => {
        this.#wake.delete(done);
        signal?.removeEventListener('abort', done);
        timer.abort();
        resolvePause();
      };
      this.#wake.add(done);
      signal?.addEventListener('abort', done, { once: true });
      this.#cfg.sleep(ms, timer.signal).then(done, done);
    });
  }

  /**
   * Resolves once `GET /health` answers 200. Rejects with a RuntimeFailure naming the endpoint when
   * the engine exits before it was ever healthy, gives up, is stopped, or `timeoutMs` passes; with
   * `signal.reason` when aborted. While it waits it logs a line every ~5 s. After a crash it waits
   * through the supervisor's restart.
   */
  async waitHealthy(timeoutMs: number, signal?: AbortSignal): Promise<void> {
    if (typeof timeoutMs !== 'number' || !(timeoutMs > 0)) {
      throw new SpecError(`Expected \`timeoutMs\` to be a number above 0, got \`${String(timeoutMs)}\` (${typeof timeoutMs})`);
    }
    const { now, logger, pollIntervalMs } = this.#cfg;
    const start = now();
    let lastLog = start;
    let status = 'starting';
    for (;;) {
      if (signal?.aborted) throw signal.reason;
      if (this.#goneReason !== '') throw new RuntimeFailure(this.#goneReason); // gave up (possibly stopped since)
      if (this.#state === 'stopping' || this.#state === 'stopped') {
        throw new RuntimeFailure(`${this.kind} at ${this.#healthUrl} was stopped before it was healthy`);
      }
      const elapsed = now() - start;
      if (this.#state === 'running' && this.pid() !== undefined) {
        const probe = await this.#probe(Math.max(1, Math.min(2000, timeoutMs - elapsed)), signal);
        if (probe.ok && this.#state === 'running') {
          this.#everHealthy = true;
          return;
        }
        status = probe.state;
      } else if (this.#state === 'restarting') {
        status = `restarting after a crash (${this.#restarts} of ${this.#cfg.maxRestarts})`;
      }
      const t = now();
      if (t - start >= timeoutMs) {
        throw new RuntimeFailure(
          `${this.kind} at ${this.#healthUrl} was not healthy after ${formatDuration(timeoutMs)} (last: ${status}); log: ${this.logFile}`,
        );
      }
      if (t - lastLog >= 5000) {
        lastLog = t;
        logger.info(
          `waiting for ${this.kind} at ${this.#healthUrl} (${Math.round((t - start) / 1000)}s/${Math.round(timeoutMs / 1000)}s): ${status}`,
        );
      }
      await this.#pause(Math.min(pollIntervalMs, timeoutMs - (t - start)), signal);
    }
  }

  /**
   * Stops the engine for good: SIGTERM to its process group, SIGKILL after `stopGraceMs`.
   * Resolves once the process has exited (and was reaped). Idempotent.
   */
  stop(): Promise<void> {
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  async #stop(): Promise<void> {
    const wasGone = this.#state === 'gaveup';
    this.#state = 'stopping';
    this.#lifetime.abort();
    this.#notify();
    const pid = this.pid();
    if (pid !== undefined && !wasGone) {
      const exited = this.#childExited;
      killGroup(pid, 'SIGTERM');
      const graceOver = new AbortController();
      const inTime = await Promise.race([
        exited.then(() => true),
        this.#cfg.sleep(this.#cfg.stopGraceMs, graceOver.signal).then(() => false),
      ]);
      graceOver.abort();
      if (!inTime) {
        this.#cfg.logger.warn(`${this.kind} (pid ${pid}) ignored SIGTERM for ${formatDuration(this.#cfg.stopGraceMs)}; killing it`);
        killGroup(pid, 'SIGKILL');
        await exited;
      }
    }
    this.#state = 'stopped';
    this.#cfg.signal?.removeEventListener('abort', this.#onAbort);
    this.#notify();
  }
}
