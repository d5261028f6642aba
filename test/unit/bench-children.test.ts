/** bench/lib/children.ts: a bench stopped by a signal kills the process groups it started, grandchildren included. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { waitFor } from '../helpers/wait.ts';

/** Running, as opposed to gone or a zombie waiting for a parent that may never reap it (PID 1 in a container). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

test('a process that tracked a detached group and then gets SIGTERM takes the group down with it', async () => {
  const children = join(import.meta.dirname, '..', '..', 'bench', 'lib', 'children.ts');
  // The "bench": starts a detached shell whose own child is a `sleep`, tracks it, prints the
  // sleep's pid and waits to be stopped.
  const script = `
    import { spawn } from 'node:child_process';
    import { tracked } from ${JSON.stringify(children)};
    const sh = tracked(spawn('sh', ['-c', 'sleep 60 & echo $!; wait'], { detached: true, stdio: ['ignore', 'pipe', 'ignore'] }));
    sh.stdout.once('data', (d) => process.stdout.write(d));
    setInterval(() => {}, 1000);
  `;
  const bench = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const [chunk] = (await once(bench.stdout, 'data')) as [Buffer];
  const grandchild = Number(chunk.toString().trim());
  assert.ok(alive(grandchild));
  const exited = once(bench, 'exit');
  bench.kill('SIGTERM');
  await exited;
  // SIGKILL is delivered asynchronously: wait for the grandchild to stop.
  try {
    await waitFor(`grandchild ${grandchild} to be gone`, () => !alive(grandchild), 2000, 20);
  } finally {
    if (alive(grandchild)) process.kill(grandchild, 'SIGKILL');
  }
});
