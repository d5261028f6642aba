/**
 * Nothing the CLI starts outlives it. Engines and spark-submit each lead a process group of their
 * own (so a Ctrl-C in the terminal does not reach them directly, and vLLM's or Spark's helper
 * processes can be killed together); `track` registers such a group and `untrack` lets it go.
 * Three layers stop a tracked group when the CLI ends, each covering what the one before cannot:
 *
 *   1. Handlers: at exit and on SIGINT/SIGTERM/SIGHUP every live group is killed. When the CLI has
 *      its own handler for a signal it owns the shutdown (graceful `stop()`, exit code 130) and only
 *      the `exit` hook acts here; otherwise the groups are killed and the signal raised again.
 *   2. The kernel's parent-death signal: `withParentDeathSignal` starts a command through
 *      `setpriv --pdeathsig KILL`, so the kernel SIGKILLs that child the moment the CLI dies,
 *      SIGKILL included. It reaches the direct child only (prctl(2): not its own children).
 *   3. The reaper (reaper.ts): a process in its own session that sees the CLI's death as
 *      end-of-file on a pipe and kills each tracked group whole, grandchildren included.
 *
 * A group tracked with a `pidDir` is also written there (procs.ts), so that a rerun can find and
 * stop what a killed run left, should all three layers have been killed too.
 *
 * `SPARKINFER_FAULT_NO_REAPER=1` is a fault hook for tests, not a feature: it turns layers 2 and 3
 * off, so a test can make a run leave its engine behind and check that the rerun stops it.
 */
import { accessSync, constants } from 'node:fs';
import { basename } from 'node:path';
import { findOnPath } from './paths.ts';
import { forgetGroup, recordGroup, startTime } from './procs.ts';
import { reaperForget, reaperTrack } from './reaper.ts';

export { groupAlive } from './procs.ts';

interface Tracked {
  pidDir: string | undefined;
  role: string;
}

const live = new Map<number, Tracked>(); // process group id (= leader pid) → where it is recorded
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
let installed = false;

/** Sends `signal` to a process group; false when it no longer exists. */
export function killGroup(pgid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw err;
  }
}

function faultNoReaper(): boolean {
  return process.env.SPARKINFER_FAULT_NO_REAPER === '1';
}

let setprivPath: string | null | undefined;

/**
 * `[bin, argv]` to spawn so that the kernel kills the child when this process dies (layer 2).
 * Unchanged when `setpriv` (util-linux) is missing, or when `bin` can't be found: then the spawn
 * fails as it would have, with ENOENT, instead of as setpriv's exit 127.
 */
export function withParentDeathSignal(bin: string, argv: readonly string[]): [string, string[]] {
  if (faultNoReaper()) return [bin, [...argv]];
  setprivPath ??= findOnPath('setpriv') ?? null;
  if (setprivPath === null) return [bin, [...argv]];
  const target = bin.includes('/') ? bin : findOnPath(bin);
  try {
    if (target === undefined) return [bin, [...argv]];
    accessSync(target, constants.X_OK);
  } catch {
    return [bin, [...argv]];
  }
  return [setprivPath, ['--pdeathsig', 'KILL', '--', bin, ...argv]];
}

function killAll(): void {
  for (const pgid of live.keys()) {
    try {
      killGroup(pgid, 'SIGKILL');
    } catch {
      // EPERM and friends: nothing more can be done while exiting
    }
  }
  for (const pgid of [...live.keys()]) untrack(pgid);
}

function onExit(): void {
  killAll();
}

function onSignal(signal: NodeJS.Signals): void {
  if (process.listenerCount(signal) > 1) return; // the CLI handles it and will stop engines itself
  killAll();
  uninstall();
  process.kill(process.pid, signal);
}

function install(): void {
  if (installed) return;
  installed = true;
  process.on('exit', onExit);
  for (const s of SIGNALS) process.on(s, onSignal);
}

function uninstall(): void {
  if (!installed) return;
  installed = false;
  process.off('exit', onExit);
  for (const s of SIGNALS) process.off(s, onSignal);
}

export interface TrackOptions {
  /** What it is, for messages and the pid file's name. Default `process`. */
  role?: string;
  /** The command, for messages. */
  command?: string;
  /** Folder for a pid file (`<run dir>/pids`), so a rerun can find the group if all else fails. */
  pidDir?: string;
}

/** Tracks a started group (its leader's pid) until `untrack`. */
export function track(pgid: number, opts: TrackOptions = {}): void {
  const role = opts.role ?? 'process';
  live.set(pgid, { pidDir: opts.pidDir, role });
  install();
  const start = startTime(pgid);
  if (start === undefined) return; // already gone
  reaperTrack(pgid, start);
  if (opts.pidDir !== undefined) {
    try {
      recordGroup(opts.pidDir, pgid, role, basename(opts.command ?? '?'));
    } catch {
      // A full disk must not stop the run here; layers 1-3 still stand, and the ledger's own
      // write will report the disk (worker/ledger.ts).
    }
  }
}

/** Forgets a group: it exited, or the CLI stopped it itself. */
export function untrack(pgid: number): void {
  const t = live.get(pgid);
  if (t === undefined) return;
  live.delete(pgid);
  reaperForget(pgid);
  if (t.pidDir !== undefined) forgetGroup(t.pidDir, { role: t.role, pgid });
  if (live.size === 0) uninstall();
}
