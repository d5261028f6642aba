/**
 * What a run's workers learned about an engine's capacity (scheduler/capacity.ts), kept in the run
 * directory for the run's later tasks: `<run>/engines/<hash of the endpoint>.json`,
 * `{"slots": N, "phase": "learned" | "probe", "at": epoch ms}`. Each Spark task starts a new
 * worker process, and without this every one of them probed the engine from its first guess again
 * (docs/scheduler.md, "Sharing an engine"). A guess is kept too (`probe`): the next task goes on
 * probing from it rather than from the start. Trusted for TRUST_MS after it was last written: the
 * workers rewrite it whenever the capacity or the guess changes and when they leave, so a run that
 * goes on keeps it fresh, and a resume hours later (another engine, maybe) learns anew.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const TRUST_MS = 10 * 60_000;

/** What is kept: scheduler/capacity.ts's `RememberedCapacity` (the same shape; rundir/ may not import the scheduler). */
export interface RememberedCapacity {
  slots: number;
  phase: 'probe' | 'learned';
}

function fileFor(runDir: string, endpoint: string): string {
  const h = createHash('sha256').update(endpoint).digest('hex').slice(0, 16);
  return join(runDir, 'engines', `${h}.json`);
}

/** The capacity learned (or guessed) earlier in the run, if recent; undefined otherwise (or unreadable). */
export function readEngineCapacity(runDir: string, endpoint: string, now: number = Date.now()): RememberedCapacity | undefined {
  try {
    const c = JSON.parse(readFileSync(fileFor(runDir, endpoint), 'utf8')) as { slots?: unknown; phase?: unknown; at?: unknown };
    if (typeof c.slots !== 'number' || !Number.isInteger(c.slots) || c.slots < 1 || typeof c.at !== 'number') return undefined;
    if (now - c.at > TRUST_MS) return undefined;
    return { slots: c.slots, phase: c.phase === 'probe' ? 'probe' : 'learned' };
  } catch {
    return undefined;
  }
}

/** Keeps the capacity for the run's later tasks (atomically; a failure only costs them a probe). */
export function writeEngineCapacity(runDir: string, endpoint: string, state: RememberedCapacity, now: number = Date.now()): void {
  const path = fileFor(runDir, endpoint);
  try {
    mkdirSync(join(runDir, 'engines'), { recursive: true });
    const tmp = `${path}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify({ slots: state.slots, phase: state.phase, at: now }));
    renameSync(tmp, path);
  } catch {
    // a read-only or full run directory: the next task probes again
  }
}
