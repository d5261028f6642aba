/**
 * Which processes are a run's own, proven by the kernel's own record rather than by a pid alone.
 *
 * A pid is reused once its process is gone, so "kill pid 1234" from a file written an hour ago could
 * hit a stranger. Each started group leader is therefore recorded with its start time
 * (`/proc/<pid>/stat` field 22, clock ticks since boot, proc(5)), and a group counts as ours when:
 *   - its leader is alive with the same start time, or
 *   - its leader is gone but the group still has members: Linux does not hand out a pid as a new
 *     pid or group id while a process group of that id exists, so those members are the ones the
 *     leader left (vLLM's workers, Spark's Python driver).
 *
 * The pid files live in `<run dir>/pids/<role>-<pid>.json`. A rerun after a crash reads the killed
 * run's files and stops what is still its own (`stopLeftovers`); the reaper applies the same rule
 * (reaper.ts).
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RuntimeFailure } from '../errors.ts';

/** What a pid file holds. */
export interface OwnedGroup {
  /** The group leader's pid, which is also the process group id. */
  pgid: number;
  /** `/proc/<pgid>/stat` field 22 when it was started. */
  start: string;
  /** What it is, for messages: `engine`, `spark`. */
  role: string;
  /** The program, for messages (the first word of the command). */
  command: string;
}

/** `/proc/<pid>/stat` from field 3 on (`rest[0]` is field 3), or undefined when there is no such process. */
function statFields(pid: number | string): string[] | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // `pid (comm) state ppid pgrp …`: comm may hold spaces and parentheses, so split after the last ')'.
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/** The process's start time in clock ticks since boot, or undefined when there is no such process. */
export function startTime(pid: number): string | undefined {
  return statFields(pid)?.[19]; // field 22
}

/** Whether the process group `pgid` still has a member (zombies included). */
export function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Whether the group has a member that is not a zombie. A zombie holds no memory, GPU or port, and
 * is gone once its parent reaps it, which may be never when that parent is busy or careless.
 */
export function groupRunning(pgid: number): boolean {
  if (!groupAlive(pgid)) return false;
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const f = statFields(name);
    if (f !== undefined && f[2] === String(pgid) && f[0] !== 'Z') return true; // field 5 pgrp, field 3 state
  }
  return false;
}

/** The rule in the header: the group is still the one that was recorded, and still running. */
export function isOurs(g: Pick<OwnedGroup, 'pgid' | 'start'>): boolean {
  const now = startTime(g.pgid);
  if (now !== undefined && now !== g.start) return false;
  return groupRunning(g.pgid);
}

function pidFile(dir: string, g: Pick<OwnedGroup, 'role' | 'pgid'>): string {
  return join(dir, `${g.role}-${g.pgid}.json`);
}

/** Records a started group in `dir`. Returns the record, or undefined when the leader is already gone. */
export function recordGroup(dir: string, pgid: number, role: string, command: string): OwnedGroup | undefined {
  const start = startTime(pgid);
  if (start === undefined) return undefined;
  const g: OwnedGroup = { pgid, start, role, command };
  mkdirSync(dir, { recursive: true });
  writeFileSync(pidFile(dir, g), `${JSON.stringify(g)}\n`);
  return g;
}

export function forgetGroup(dir: string, g: Pick<OwnedGroup, 'role' | 'pgid'>): void {
  rmSync(pidFile(dir, g), { force: true });
}

/** The groups recorded in `dir` (unreadable files are skipped: a torn file names nothing). */
export function readGroups(dir: string): OwnedGroup[] {
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => n.endsWith('.json'));
  } catch {
    return [];
  }
  const out: OwnedGroup[] = [];
  for (const n of names) {
    try {
      const g = JSON.parse(readFileSync(join(dir, n), 'utf8')) as Partial<OwnedGroup>;
      if (Number.isInteger(g.pgid) && (g.pgid ?? 0) > 1 && typeof g.start === 'string' && /^\d+$/.test(g.start)) {
        out.push({ pgid: g.pgid as number, start: g.start, role: String(g.role ?? 'process'), command: String(g.command ?? '?') });
      }
    } catch {
      // a torn file
    }
  }
  return out;
}

/** Blocks the thread for `ms` (used only before a run starts anything). */
function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * Stops what an earlier run recorded in `dir` and is still its own: SIGTERM to each group, SIGKILL
 * after `graceMs`, waiting up to `graceMs + 5 s` in all for no member but zombies to be left. Returns one line per group stopped.
 * Throws when a group survives SIGKILL (it is then not ours to fix: the message says what to do).
 */
export function stopLeftovers(dir: string, graceMs = 3000): string[] {
  const ours = readGroups(dir).filter(isOurs);
  const said: string[] = [];
  for (const g of ours) {
    try {
      process.kill(-g.pgid, 'SIGTERM');
    } catch {
      // gone meanwhile
    }
    said.push(`${g.role} ${g.command} (process group ${g.pgid})`);
  }
  const deadline = Date.now() + graceMs + 5000;
  let killed = false;
  for (;;) {
    const live = ours.filter((g) => groupRunning(g.pgid));
    if (live.length === 0) break;
    if (!killed && Date.now() >= deadline - 5000) {
      for (const g of live) {
        try {
          process.kill(-g.pgid, 'SIGKILL');
        } catch {
          // gone meanwhile
        }
      }
      killed = true;
    }
    if (Date.now() >= deadline) {
      throw new RuntimeFailure(
        `could not stop ${live.map((g) => `process group ${g.pgid} (${g.command})`).join(', ')}; stop it by hand (kill -KILL -- -PGID)`,
      );
    }
    sleepSync(50);
  }
  for (const g of readGroups(dir)) forgetGroup(dir, g);
  return said;
}
