/**
 * A launched llama-server's default compute threads (issue 37): all cores but a reserve for the
 * job's own processes (launch/command.ts `defaultEngineThreads`), unless the job or the engine's
 * args set them; what `startEngine` puts on the command line (launch/engine.ts `launchThreads`).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { argsSetThreads, defaultEngineThreads, engineArgv } from '../../src/launch/command.ts';
import { launchThreads } from '../../src/launch/engine.ts';

test('defaultEngineThreads: one core left below 16, one in 8 from there, never under 1', () => {
  const table = [1, 2, 3, 4, 8, 15, 16, 17, 32, 64, 128].map((c) => [c, defaultEngineThreads(c)]);
  assert.deepEqual(table, [
    [1, 1],
    [2, 1],
    [3, 2],
    [4, 3],
    [8, 7],
    [15, 14],
    [16, 14],
    [17, 15],
    [32, 28],
    [64, 56],
    [128, 112],
  ]);
  assert.equal(defaultEngineThreads(0), 1);
  assert.equal(defaultEngineThreads(Number.NaN), 1);
});

test('argsSetThreads: -t, --threads and --threads=N; not --threads-http', () => {
  assert.equal(argsSetThreads(['-t', '3']), true);
  assert.equal(argsSetThreads(['--threads', '3']), true);
  assert.equal(argsSetThreads(['--threads=3']), true);
  assert.equal(argsSetThreads(['--threads-http', '64', '--threads-batch', '2']), false);
  assert.equal(argsSetThreads(undefined), false);
});

test('launchThreads: the job wins; else args win (nothing added); else the default of the cores; vllm gets none', () => {
  assert.deepEqual(launchThreads({ kind: 'llama-server', threads: 2, cores: 2 }), { threads: 2 }, 'engine.launch.threads');
  assert.deepEqual(launchThreads({ kind: 'llama-server', args: ['-t', '2'], cores: 2 }), {});
  assert.deepEqual(launchThreads({ kind: 'llama-server', cores: 2 }), { threads: 1 });
  assert.deepEqual(launchThreads({ kind: 'llama-server', cores: 16 }), { threads: 14 });
  assert.deepEqual(launchThreads({ kind: 'vllm', cores: 16 }), {});
  const argv = engineArgv({
    kind: 'llama-server',
    model: 'm',
    alias: 'a',
    port: 1,
    parallel: 2,
    ctxPerSlot: 64,
    ...launchThreads({ kind: 'llama-server', cores: 8 }),
  });
  assert.deepEqual(argv.slice(argv.indexOf('--threads'), argv.indexOf('--threads') + 2), ['--threads', '7']);
});
