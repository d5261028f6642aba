/** bench/lib/children.ts: a stopped bench kills the process groups it started, children included. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { killTracked, tracked } from '../../bench/lib/children.ts';

/** Running, as opposed to gone or a zombie waiting for a parent that may never reap it (PID 1 in a container). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

test('killTracked kills a tracked group with its grandchild, and forgets groups that exited', async () => {
  // A shell that starts a grandchild `sleep` and prints its pid: the group must go, not just the shell.
  const child = tracked(spawn('sh', ['-c', 'sleep 60 & echo $!; wait'], { detached: true, stdio: ['ignore', 'pipe', 'ignore'] }));
  const [chunk] = (await once(child.stdout, 'data')) as [Buffer];
  const grandchild = Number(chunk.toString().trim());
  assert.ok(alive(grandchild));
  const exited = once(child, 'exit');
  assert.equal(killTracked(), 1);
  await exited;
  // SIGKILL is delivered asynchronously: poll briefly for the grandchild to stop.
  for (let i = 0; i < 100 && alive(grandchild); i++) await new Promise((r) => setTimeout(r, 20));
  assert.equal(alive(grandchild), false);
  assert.equal(killTracked(), 0);
});
