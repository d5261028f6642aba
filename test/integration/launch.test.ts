/**
 * The local engine launcher against the real llama-server and the real demo model (run
 * `bash scripts/setup.sh` first). A fake engine, named as such, only injects faults that the real
 * one can't be made to show on demand: never becoming healthy, ignoring SIGTERM, leaving children.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, closeSync, openSync, readFileSync, readSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { SpecError, RuntimeFailure } from '../../src/errors.ts';
import { engineArgv } from '../../src/launch/command.ts';
import { startEngine, type LaunchLogger, type LocalEngine, type StartEngineOptions } from '../../src/launch/engine.ts';
import { LLAMA_SERVER_VERSION, llamaServerPath, resolveModel } from '../../src/launch/paths.ts';
import { freePort } from '../../src/launch/port.ts';
import { waitFor } from '../helpers/wait.ts';
import { tempDir } from '../helpers/tmp.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const tmp = tempDir('launch');

/** Whether `pid` is a live process; a zombie waiting for a reaper (an orphan's parent is PID 1) is not. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    assert.equal((e as NodeJS.ErrnoException).code, 'ESRCH');
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false; // gone between the two checks
  }
}

function memoryLogger(): LaunchLogger & { lines: string[] } {
  const lines: string[] = [];
  return { lines, info: (m) => void lines.push(m), warn: (m) => void lines.push(`WARN ${m}`) };
}

const started: LocalEngine[] = [];
after(async () => {
  await Promise.all(started.map((e) => e.stop()));
});

function baseOptions(name: string, extra: Partial<StartEngineOptions> = {}): StartEngineOptions {
  return {
    kind: 'llama-server',
    model: 'smollm2-135m-instruct',
    alias: 'smol-test',
    args: [],
    parallel: 2,
    // One compute thread: with other work on 2 cores, llama.cpp's thread barriers slow 2 threads 4× or more.
    ctxPerSlot: 512,
    threads: 1,
    maxRestarts: 1,
    logFile: join(tmp, `${name}.log`),
    logger: memoryLogger(),
    ...extra,
  };
}

async function start(name: string, extra: Partial<StartEngineOptions> = {}): Promise<LocalEngine> {
  const engine = await startEngine(baseOptions(name, extra));
  started.push(engine);
  return engine;
}

async function chat(engine: LocalEngine, model: string): Promise<{ status: number; body: any }> {
  const res = await fetch(`${engine.endpoint}/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model, messages: [{ role: 'user', content: 'Say hello.' }], max_tokens: 8, temperature: 0 }),
  });
  return { status: res.status, body: await res.json() };
}

describe('setup outputs', () => {
  test('llama-server and the demo model are in the cache (run bash scripts/setup.sh)', () => {
    const version = spawnSync(llamaServerPath(), ['--version'], { encoding: 'utf8' });
    assert.equal(version.status, 0, version.stderr);
    assert.match(version.stdout + version.stderr, /version/);
    const model = resolveModel('smollm2-135m-instruct');
    const fd = openSync(model, 'r');
    const magic = Buffer.alloc(4);
    readSync(fd, magic, 0, 4, 0);
    closeSync(fd);
    assert.equal(magic.toString('latin1'), 'GGUF');
  });

  test('setup.sh builds the llama-server version that paths.ts looks up', () => {
    const setup = readFileSync(join(ROOT, 'scripts', 'setup.sh'), 'utf8');
    assert.equal(/^LLAMA_BIN_VERSION=(\S+)/m.exec(setup)?.[1], LLAMA_SERVER_VERSION);
    assert.equal(/^SMOL_NAME=(\S+)/m.exec(setup)?.[1], 'smollm2-135m-instruct');
  });

  test('setup.sh --check finds the cached engine and model, and reports an empty cache as missing', () => {
    const run = (cache?: string) =>
      spawnSync('bash', [join(ROOT, 'scripts', 'setup.sh'), '--check'], {
        encoding: 'utf8',
        env: { ...process.env, ...(cache ? { SPARKINFER_CACHE: cache } : {}) },
      });
    const here = run();
    assert.match(here.stderr, /^setup: llama-server: ok \(cached: .*\/llama-server\) \(\d+\.\ds\)$/m, here.stderr);
    assert.match(here.stderr, /^setup: model: ok \(cached: .*smollm2-135m-instruct\.gguf\)/m);
    const empty = join(tmp, 'empty-cache');
    const none = run(empty);
    assert.equal(none.status, 1, none.stderr);
    assert.ok(
      none.stderr.includes(`setup: llama-server: MISSING: ${empty}/llama-server/${LLAMA_SERVER_VERSION}/llama-server`),
      none.stderr,
    );
    assert.ok(none.stderr.includes(`setup: model: MISSING: ${empty}/models/smollm2-135m-instruct.gguf`), none.stderr);
  });

  test('every flag the launcher passes is one this llama-server accepts', () => {
    const help = execFileSync(llamaServerPath(), ['--help'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 1 << 24 });
    const argv = engineArgv({
      kind: 'llama-server',
      model: 'm.gguf',
      alias: 'a',
      port: 1,
      parallel: 4,
      ctxPerSlot: 256,
      threads: 2,
      embeddings: true,
    });
    const flags = argv.filter((a) => a.startsWith('-'));
    assert.ok(flags.length >= 10);
    for (const flag of flags)
      assert.match(help, new RegExp(`(^|[\\s,])${flag}([\\s,=]|$)`, 'm'), `llama-server --help does not list ${flag}`);
  });
});

describe('command lines and options', () => {
  test('llama-server argv: slots, context, metrics, threads, alias; extra args last', () => {
    const argv = engineArgv({
      kind: 'llama-server',
      model: '/m.gguf',
      alias: 'smol',
      port: 8123,
      parallel: 8,
      ctxPerSlot: 1024,
      args: ['--seed', '1'],
    });
    const flag = (f: string): string | undefined => argv[argv.indexOf(f) + 1];
    assert.equal(flag('--port'), '8123');
    assert.equal(flag('--host'), '127.0.0.1');
    assert.equal(flag('-m'), '/m.gguf');
    assert.equal(flag('--alias'), 'smol');
    assert.equal(flag('--parallel'), '8');
    assert.equal(flag('--ctx-size'), '8192');
    assert.equal(flag('--threads-http'), '512'); // the largest auto window
    assert.ok(argv.includes('--metrics') && argv.includes('--slots'));
    // One shared KV pool, each slot capped at its share (bench/GPU.md).
    assert.ok(argv.includes('--kv-unified'));
    assert.equal(flag('--kv-unified-per-slot'), '1024');
    assert.equal(flag('--cache-ram'), '0');
    assert.ok(!argv.includes('--embeddings') && !argv.includes('--threads'));
    assert.deepEqual(argv.slice(-2), ['--seed', '1']);
    const big = engineArgv({
      kind: 'llama-server',
      model: 'm',
      alias: 'a',
      port: 1,
      parallel: 32,
      ctxPerSlot: 1,
      threads: 3,
      embeddings: true,
    });
    assert.equal(big[big.indexOf('--threads-http') + 1], '512');
    const huge = engineArgv({ kind: 'llama-server', model: 'm', alias: 'a', port: 1, parallel: 256, ctxPerSlot: 1 });
    assert.equal(huge[huge.indexOf('--threads-http') + 1], '1024'); // 4 per slot beyond that
    assert.equal(big[big.indexOf('--threads') + 1], '3');
    assert.equal(big[big.indexOf('--pooling') + 1], 'mean');
  });

  test('vllm argv serves the model under the alias', () => {
    assert.deepEqual(
      engineArgv({ kind: 'vllm', model: 'org/m', alias: 'm', port: 9, parallel: 1, ctxPerSlot: 1, args: ['--dtype', 'half'] }),
      ['serve', 'org/m', '--host', '127.0.0.1', '--port', '9', '--served-model-name', 'm', '--dtype', 'half'],
    );
  });

  test('bad options are rejected up front, quoting the value', async () => {
    await assert.rejects(startEngine(baseOptions('bad', { parallel: 0 })), {
      name: 'BadArgumentError',
      message: /`parallel`.*got `0` \(number\)/,
    });
    await assert.rejects(startEngine(baseOptions('bad', { maxRestarts: -1 })), {
      name: 'BadArgumentError',
      message: /`maxRestarts`.*`-1`/,
    });
    await assert.rejects(startEngine(baseOptions('bad', { kind: 'tgi' as 'vllm' })), {
      name: 'BadArgumentError',
      message: /`kind`.*`tgi`/,
    });
    await assert.rejects(startEngine(baseOptions('bad', { pooling: 'max' })), { name: 'BadArgumentError', message: /`pooling`.*`max`/ });
    await assert.rejects(startEngine(baseOptions('bad', { stopGraceMs: -1 })), {
      name: 'BadArgumentError',
      message: /`stopGraceMs`.*`-1`/,
    });
  });

  test('a missing model path is a SpecError naming the path and the known names', async () => {
    const missing = join(tmp, 'nope', 'model.gguf');
    assert.throws(
      () => resolveModel(missing),
      (e: unknown) =>
        e instanceof SpecError && e.code === 'E_SPEC' && e.message.includes(missing) && e.message.includes('smollm2-135m-instruct'),
    );
    assert.throws(() => resolveModel('models/x.gguf', { baseDir: tmp }), { message: new RegExp(join(tmp, 'models', 'x.gguf')) });
    assert.throws(() => resolveModel('smollm2-135m-instruct', { env: { SPARKINFER_CACHE: join(tmp, 'empty') } }), {
      name: 'SpecError',
      message:
        /not in the cache: looked for .*empty\/models\/smollm2-135m-instruct\.gguf; run `sparkinfer setup` \(in a checkout: `npm run setup`\)/,
    });
    await assert.rejects(startEngine(baseOptions('missing', { model: missing })), { name: 'SpecError', message: /not found/ });
  });

  test('a missing llama-server binary is a RuntimeFailure that says how to get one', () => {
    assert.throws(
      () => llamaServerPath({ SPARKINFER_LLAMA_SERVER: join(tmp, 'no-bin') }),
      (e: unknown) => e instanceof RuntimeFailure && /no-bin/.test(e.message),
    );
    assert.throws(() => llamaServerPath({ SPARKINFER_CACHE: join(tmp, 'empty'), PATH: '' }), {
      message: /run `sparkinfer setup` \(in a checkout: `npm run setup`\)/,
    });
  });

  test('freePort gives a port that can be bound on 127.0.0.1', async () => {
    const port = await freePort();
    const server = createServer();
    server.listen(port, '127.0.0.1');
    await once(server, 'listening');
    server.close();
    await once(server, 'close');
  });
});

describe('real llama-server', { timeout: 120_000 }, () => {
  test('serves the alias, answers /metrics, is restarted after SIGKILL, and stop() leaves no process', async () => {
    const logger = memoryLogger();
    const engine = await start('main', { logger });
    assert.match(engine.endpoint, /^http:\/\/127\.0\.0\.1:\d+\/v1$/);
    await engine.waitHealthy(60_000);

    const first = await chat(engine, 'smol-test');
    assert.equal(first.status, 200, JSON.stringify(first.body));
    assert.equal(typeof first.body.choices[0].message.content, 'string');
    assert.ok(first.body.usage.completion_tokens > 0 && first.body.usage.completion_tokens <= 8);
    const metrics = await fetch(`http://127.0.0.1:${engine.port}/metrics`);
    assert.equal(metrics.status, 200);
    assert.match(await metrics.text(), /llamacpp:/);

    const pid1 = engine.pid();
    assert.ok(pid1 !== undefined && alive(pid1));
    const restarted = once(engine, 'restart');
    process.kill(pid1, 'SIGKILL');
    const [info] = (await restarted) as [{ restarts: number; pid: number }];
    assert.equal(info.restarts, 1);
    assert.notEqual(info.pid, pid1);
    assert.equal(alive(pid1), false);
    assert.ok(logger.lines.some((l) => /exited unexpectedly \(killed by SIGKILL\); restarting it on the same port \(1 of 1\)/.test(l)));
    await engine.waitHealthy(60_000);
    assert.equal((await chat(engine, 'smol-test')).status, 200);

    const pid2 = engine.pid();
    assert.ok(pid2 !== undefined);
    await engine.stop();
    assert.equal(engine.pid(), undefined);
    assert.equal(alive(pid2), false);
    assert.equal(engine.restarts, 1);
    assert.match(readFileSync(engine.logFile, 'utf8'), /=== sparkinfer: .* start 2 of llama-server/);
  });

  test('an embeddings instance answers /v1/embeddings under the alias', async () => {
    const engine = await start('embed', { embeddings: true, alias: 'smol-embed' });
    await engine.waitHealthy(60_000);
    const res = await fetch(`${engine.endpoint}/embeddings`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'smol-embed', input: ['a cat', 'a dog'] }),
    });
    const body = (await res.json()) as { data: { embedding: number[] }[] };
    assert.equal(res.status, 200, JSON.stringify(body));
    assert.equal(body.data.length, 2);
    assert.ok(body.data[0]!.embedding.length > 100 && body.data[0]!.embedding.every(Number.isFinite));
    await engine.stop();
  });

  test('a crash past the restart budget gives up, and waitHealthy says so', async () => {
    const engine = await start('budget', { maxRestarts: 0 });
    await engine.waitHealthy(60_000);
    const gaveUp = once(engine, 'giveup');
    process.kill(engine.pid()!, 'SIGKILL');
    const [{ reason }] = (await gaveUp) as [{ reason: string }];
    assert.match(reason, /exited \(killed by SIGKILL\) and its restart budget \(0\) is spent/);
    await assert.rejects(engine.waitHealthy(10_000), { name: 'RuntimeFailure', message: new RegExp(`127\\.0\\.0\\.1:${engine.port}`) });
  });

  test('an engine that dies at startup is not restarted; the error names the endpoint and quotes its log', async () => {
    const engine = await start('badflag', { args: ['--no-such-flag-for-sparkinfer'], maxRestarts: 3 });
    let restarts = 0;
    engine.on('restart', () => restarts++);
    await assert.rejects(
      engine.waitHealthy(60_000),
      (e: unknown) =>
        e instanceof RuntimeFailure &&
        e.message.includes(`http://127.0.0.1:${engine.port}/health`) &&
        /exited before it was healthy/.test(e.message) &&
        e.message.includes('--no-such-flag-for-sparkinfer'),
    );
    assert.equal(restarts, 0);
  });

  test('aborting the signal stops the engine', async () => {
    const ac = new AbortController();
    const engine = await start('abort', { signal: ac.signal });
    const pid = engine.pid()!;
    const exited = once(engine, 'exit');
    ac.abort();
    const [exit] = (await exited) as [{ expected: boolean }];
    assert.equal(exit.expected, true);
    assert.equal(alive(pid), false);
  });
});

/**
 * A fake engine (fault injection): answers /health with 503 forever, ignores SIGTERM, leaves a
 * child in its process group, and with `--crash-after-ms N` exits with code 3 after N ms.
 */
function fakeEngine(): string {
  const file = join(tmp, 'fake-engine.mjs');
  writeFileSync(
    file,
    `#!${process.execPath}
import { createServer } from 'node:http';
import { spawn } from 'node:child_process';
const port = Number(process.argv[process.argv.indexOf('--port') + 1]);
process.on('SIGTERM', () => console.log('fake: ignoring SIGTERM'));
const child = spawn('sleep', ['600'], { stdio: 'ignore' });
console.log('fake child pid', child.pid);
const crash = process.argv.indexOf('--crash-after-ms');
if (crash > 0) setTimeout(() => process.exit(3), Number(process.argv[crash + 1]));
createServer((req, res) => { res.statusCode = 503; res.end(JSON.stringify({ error: { code: 503, message: 'Loading model' } })); })
  .listen(port, '127.0.0.1');
`,
  );
  chmodSync(file, 0o755);
  return file;
}

describe('faults (fake engine)', { timeout: 60_000 }, () => {
  let bin = '';
  before(() => {
    bin = fakeEngine();
  });

  test('waitHealthy logs progress and times out with the endpoint and the last answer', async () => {
    const logger = memoryLogger();
    let t = 0;
    const engine = await start('slow', { bin, logger, stopGraceMs: 300, now: () => (t += 1500), model: join(ROOT, 'package.json') });
    await assert.rejects(engine.waitHealthy(20_000), {
      name: 'RuntimeFailure',
      message: new RegExp(
        `llama-server at http://127.0.0.1:${engine.port}/health was not healthy after 20.0s \\(last: (HTTP 503 \\(loading\\): [Ll]oading model|connection refused)\\)`,
      ),
    });
    const waits = logger.lines.filter((l) => l.startsWith(`waiting for llama-server at http://127.0.0.1:${engine.port}/health (`));
    assert.ok(waits.length >= 2, logger.lines.join('\n'));
    assert.match(waits.at(-1)!, /\(\d+s\/20s\): (HTTP 503 \(loading\): loading model|connection refused)$/i);
  });

  test('stop() kills the whole process group, with SIGKILL when SIGTERM is ignored', async () => {
    const logger = memoryLogger();
    const engine = await start('stubborn', { bin, logger, stopGraceMs: 300, model: join(ROOT, 'package.json') });
    await waitFor('the fake engine to report its child', () => /fake child pid \d+/.test(readFileSync(engine.logFile, 'utf8')), 10_000, 20);
    const childPid = Number(/fake child pid (\d+)/.exec(readFileSync(engine.logFile, 'utf8'))![1]);
    const pid = engine.pid()!;
    assert.ok(alive(childPid));
    await engine.stop();
    assert.equal(alive(pid), false);
    await waitFor('the grandchild to be gone', () => !alive(childPid), 10_000, 20);
    assert.ok(
      logger.lines.some((l) => /ignored SIGTERM .*; killing it/.test(l)),
      logger.lines.join('\n'),
    );
  });

  test('an engine that crashes takes the rest of its process group with it', async () => {
    const engine = await start('crashy', { bin, args: ['--crash-after-ms', '300'], model: join(ROOT, 'package.json') });
    const gaveUp = once(engine, 'giveup');
    await waitFor('the fake engine to report its child', () => /fake child pid \d+/.test(readFileSync(engine.logFile, 'utf8')), 10_000, 20);
    const childPid = Number(/fake child pid (\d+)/.exec(readFileSync(engine.logFile, 'utf8'))![1]);
    const [{ reason }] = (await gaveUp) as [{ reason: string }];
    assert.match(reason, /exited before it was healthy .*\(exit code 3\)/);
    await waitFor('the orphaned grandchild to be gone', () => !alive(childPid), 10_000, 20);
  });
});

describe('no engine outlives the CLI', { timeout: 120_000 }, () => {
  for (const how of ['exit', 'SIGTERM'] as const) {
    test(`engine is killed when the process ends by ${how}`, async () => {
      const script = `
import { startEngine } from ${JSON.stringify(join(ROOT, 'src', 'launch', 'engine.ts'))};
const e = await startEngine({ kind: 'llama-server', model: 'smollm2-135m-instruct', alias: 'x', args: [], parallel: 1,
  ctxPerSlot: 256, maxRestarts: 0, logFile: ${JSON.stringify(join(tmp, `orphan-${how}.log`))}, logger: { info() {}, warn() {} } });
console.log(e.pid());
if (${JSON.stringify(how)} === 'exit') process.exit(0);
setInterval(() => {}, 1000);
`;
      const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      await waitFor('the engine pid', () => /\d+\n/.test(out) || child.exitCode !== null, 60_000, 20);
      const pid = Number(out.trim());
      assert.ok(pid > 0, `no pid printed: ${out}`);
      if (how === 'SIGTERM') child.kill('SIGTERM');
      const [code, signal] = await (child.exitCode !== null ? [child.exitCode, child.signalCode] : once(child, 'exit'));
      assert.deepEqual([code, signal], how === 'exit' ? [0, null] : [null, 'SIGTERM']);
      await waitFor(`engine pid ${pid} to be gone`, () => !alive(pid), 10_000, 20);
    });
  }
});
