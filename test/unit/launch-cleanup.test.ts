/**
 * Nothing outlives the CLI (src/launch/cleanup.ts), with real processes: each layer on its own, a
 * SIGKILLed stand-in CLI (test/fixtures/procs/starter.ts) and what it started; the rerun's sweep of
 * pid files (src/launch/procs.ts), which must stop only what is provably the run's own.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { groupAlive, groupRunning, isOurs, readGroups, startTime, stopLeftovers } from '../../src/launch/procs.ts';
import { ROOT } from '../helpers/cli.ts';
import { waitFor } from '../helpers/wait.ts';
import { tempDir } from '../helpers/tmp.ts';

const STARTER = join(ROOT, 'test', 'fixtures', 'procs', 'starter.ts');

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return startTime(pid) !== undefined && !/^\S+ \(.*\) Z/.test(readStat(pid));
  } catch {
    return false;
  }
}

function readStat(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return '';
  }
}

/** Starts the stand-in CLI and returns it with the first JSON line it prints. */
async function starter(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ cli: ChildProcess; info: Record<string, unknown> }> {
  const cli = spawn(process.execPath, [STARTER, ...args], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...env } });
  const info = await new Promise<Record<string, unknown>>((res, rej) => {
    cli.stdout?.once('data', (d: Buffer) => res(JSON.parse(d.toString()) as Record<string, unknown>));
    cli.once('exit', (c) => rej(new Error(`starter exited with ${c}`)));
  });
  return { cli, info };
}

function kill(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // gone
  }
}

test('parent-death signal: the kernel kills a child started through withParentDeathSignal when its parent is SIGKILLed', async () => {
  const { cli, info } = await starter(['pdeathsig']);
  const pid = info.pid as number;
  assert.match(String(info.via), /setpriv$/, 'setpriv (util-linux) wraps the command');
  assert.ok(alive(pid));
  cli.kill('SIGKILL');
  await waitFor('the child to die with its parent', () => !alive(pid), 10_000);
});

test("reaper: a SIGKILLed CLI's tracked group dies whole, grandchildren included, and its pid file names it until then", async (t) => {
  const dir = tempDir('pids');
  const { cli, info } = await starter(['tracked', dir]);
  const pid = info.pid as number;
  const grandchild = info.grandchild as number;
  t.after(() => kill(pid));
  assert.ok(alive(pid) && alive(grandchild));
  assert.deepEqual(
    readGroups(dir).map((g) => [g.pgid, g.role, g.command]),
    [[pid, 'engine', 'bash']],
  );
  assert.equal(readGroups(dir)[0]?.start, startTime(pid));
  cli.kill('SIGKILL');
  await waitFor('the tracked group to die', () => !groupAlive(pid), 10_000);
  assert.equal(alive(grandchild), false);
});

test("fault hook off-switch, then the rerun's sweep: a leftover group is found by its pid file and stopped", async (t) => {
  const dir = tempDir('pids');
  const { cli, info } = await starter(['tracked', dir], { SPARKINFER_FAULT_NO_REAPER: '1' });
  const pid = info.pid as number;
  t.after(() => kill(pid));
  cli.kill('SIGKILL');
  await new Promise((r) => cli.once('exit', r));
  // Without the reaper nothing stops the group: this is what a rerun must clean up.
  assert.ok(groupAlive(pid), 'the group outlives its CLI when the layers are off');
  const said = stopLeftovers(dir, 1000);
  assert.deepEqual(said, [`engine bash (process group ${pid})`]);
  assert.equal(groupRunning(pid), false);
  assert.deepEqual(readdirSync(dir), [], 'pid files are removed once their groups are gone');
});

test('the sweep leaves a process alone whose start time differs from the record (a reused pid)', (t) => {
  const dir = tempDir('pids');
  const stranger = spawn('sleep', ['600'], { detached: true, stdio: 'ignore' });
  const pid = stranger.pid ?? 0;
  t.after(() => kill(pid));
  const real = startTime(pid) ?? '0';
  writeFileSync(
    join(dir, `engine-${pid}.json`),
    JSON.stringify({ pgid: pid, start: String(Number(real) - 1), role: 'engine', command: 'llama-server' }),
  );
  assert.equal(isOurs({ pgid: pid, start: String(Number(real) - 1) }), false);
  assert.deepEqual(stopLeftovers(dir, 100), []);
  assert.ok(alive(pid), 'a stranger with a reused pid is not killed');
  assert.equal(isOurs({ pgid: pid, start: real }), true);
});
