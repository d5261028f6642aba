/**
 * No engine outlives the CLI. Engines run in their own process group (so a Ctrl-C in the terminal
 * does not reach them directly, and vLLM's worker processes can be killed together); this module
 * kills every live group when the process exits or receives SIGINT/SIGTERM/SIGHUP.
 *
 * When the CLI has its own handler for a signal, it owns the shutdown (graceful `stop()`, exit
 * code 130), and only the `exit` hook acts here. When nobody else listens, the groups are killed
 * and the signal is raised again so that the process dies as it would have without us.
 */
const live = new Set<number>(); // process group ids (= leader pids)
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

/** Whether any process of the group is still around (zombies included). */
export function groupAlive(pgid: number): boolean {
  return killGroup(pgid, 0);
}

function killAll(): void {
  for (const pgid of live) {
    try {
      killGroup(pgid, 'SIGKILL');
    } catch {
      // EPERM and friends: nothing more can be done while exiting
    }
  }
  live.clear();
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

/** Tracks a started engine's process group until `untrack`. */
export function track(pgid: number): void {
  live.add(pgid);
  install();
}

export function untrack(pgid: number): void {
  live.delete(pgid);
  if (live.size === 0) uninstall();
}
