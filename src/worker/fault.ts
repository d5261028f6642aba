/**
 * FAULT HOOK for the reliability tests, not a feature: `SPARKINFER_FAULT_KILL_AFTER_ROWS=N` makes
 * one worker process SIGKILL itself right after it has written its N-th result (ledger and stdout),
 * so that Spark has to retry the task. Only the first worker of a run that reaches N rows fires:
 * it claims `<run>/fault-kill-after-rows.fired` with O_EXCL, so the retried attempt (and every
 * other task) runs normally. The variable is read once, at startup; unset, it costs nothing.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { checkInt } from '../checks.ts';

export const FAULT_KILL_ENV = 'SPARKINFER_FAULT_KILL_AFTER_ROWS';
export const FAULT_KILL_MARKER = 'fault-kill-after-rows.fired';

/**
 * Returns a function to call after each emitted result, or undefined when the hook is off.
 * @param kill how to die (default: SIGKILL to this process); injectable for tests
 */
export function armFaultKill(
  runDir: string,
  workerId: string,
  env: NodeJS.ProcessEnv = process.env,
  kill: () => void = () => process.kill(process.pid, 'SIGKILL'),
): ((rowsEmitted: number) => void) | undefined {
  const raw = env[FAULT_KILL_ENV];
  if (raw === undefined || raw === '') return undefined;
  const n = Number(raw);
  checkInt(FAULT_KILL_ENV, Number.isNaN(n) ? raw : n, 1);
  let spent = false;
  return (rowsEmitted) => {
    if (spent || rowsEmitted < n) return;
    spent = true;
    let fd: number;
    try {
      fd = openSync(join(runDir, FAULT_KILL_MARKER), 'wx');
    } catch {
      return; // another attempt fired already
    }
    writeSync(fd, JSON.stringify({ worker: workerId, pid: process.pid, after_rows: rowsEmitted, at: new Date().toISOString() }));
    closeSync(fd);
    kill();
  };
}
