/**
 * The bench starts its workers, Spark JVMs and simulators detached (each leads its own process
 * group, so a timeout can kill a whole tree), which also lets them outlive a bench stopped with
 * Ctrl-C or `kill`. `tracked` hands each group to the CLI's own engine cleanup
 * (src/launch/cleanup.ts), which kills every tracked group on SIGINT, SIGTERM, SIGHUP and at exit.
 */
import type { ChildProcess } from 'node:child_process';
import { track, untrack } from '../../src/launch/cleanup.ts';

/** Tracks a child that leads its own process group (spawned with `detached: true`) until it exits. */
export function tracked<T extends ChildProcess>(child: T): T {
  const pid = child.pid;
  if (pid === undefined) return child;
  track(pid);
  child.once('exit', () => untrack(pid));
  return child;
}
