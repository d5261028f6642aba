/**
 * Every process group the bench starts. The bench starts its children detached (each in its own
 * group, so a timeout can kill a whole tree), which also means they outlive a bench that is
 * stopped with Ctrl-C or `kill`. bench/run.ts kills what is still tracked on SIGINT, SIGTERM,
 * SIGHUP and at exit, so a stopped run leaves no worker or Spark JVM behind.
 */
import type { ChildProcess } from 'node:child_process';

const live = new Set<ChildProcess>();

/** Tracks a child that leads its own process group (spawned with `detached: true`). */
export function tracked<T extends ChildProcess>(child: T): T {
  if (child.pid === undefined) return child;
  live.add(child);
  child.once('exit', () => live.delete(child));
  return child;
}

/** Kills every tracked process group that has not exited; returns how many it signalled. */
export function killTracked(signal: NodeJS.Signals = 'SIGKILL'): number {
  let n = 0;
  for (const child of live) {
    try {
      process.kill(-(child.pid as number), signal);
      n++;
    } catch { /* already gone */ }
  }
  live.clear();
  return n;
}
