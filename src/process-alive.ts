/**
 * Whether a process exists on this host: `kill(pid, 0)` (kill(2): signal 0 checks without
 * sending). EPERM means it exists as another user's process. Shared by the run lock
 * (job/run-setup.ts) and the engine share board (scheduler/board-file.ts).
 */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
