/**
 * What idle keep-alive connections cost llama-server (docs/architecture.md, "The engine
 * client and its HTTP/1.1 transport"). Its HTTP library keeps a thread per connection that wakes every 10 ms
 * while the connection is idle. Two measurements on the demo model (16 slots, 1 thread,
 * `--threads-http 1024` so no connection waits for a thread):
 * 1. the engine's own CPU share over 4 s while it serves nothing and holds 0, 100 and 400 idle
 *    connections (each sent one GET /health and stays open);
 * 2. the reference load (32 in flight, 64 requests × 8 tokens) without and with `--idle` idle
 *    connections, alternating, `--pairs` times.
 *
 *   node bench/idle-connections.ts [--idle 400] [--pairs 4] > result.json
 *
 * Needs `npm run setup` (the cached llama-server and model).
 */
import { connect, type Socket } from 'node:net';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { setTimeout as delay } from 'node:timers/promises';
import { startEngine } from '../src/launch/engine.ts';
import { runLoad } from './lib/loadgen.ts';
import { round } from './lib/context.ts';

const { values } = parseArgs({ options: { idle: { type: 'string', default: '400' }, pairs: { type: 'string', default: '4' } } });
const idleN = Number(values.idle);
const pairs = Number(values.pairs);

const engine = await startEngine({
  kind: 'llama-server',
  model: 'smollm2-135m-instruct',
  alias: 'smollm2-135m-instruct',
  args: ['--threads-http', '1024'],
  parallel: 16,
  ctxPerSlot: 1024,
  threads: 1,
  maxRestarts: 0,
  logFile: '/tmp/sparkinfer-idle-connections-engine.log',
  logger: { info: () => {}, warn: (m) => process.stderr.write(`engine: ${m}\n`) },
});
try {
  await engine.waitHealthy(180_000);
  const origin = engine.endpoint.replace(/\/v1$/, '');
  const port = Number(new URL(origin).port);
  const cpuS = (): number => {
    const f = (readFileSync(`/proc/${String(engine.pid())}/stat`, 'utf8').split(') ')[1] ?? '').split(' ');
    return (Number(f[11]) + Number(f[12])) / 100; // utime + stime, in clock ticks of 1/100 s
  };
  let open: Socket[] = [];
  const openIdle = async (n: number): Promise<void> => {
    open = await Promise.all(
      Array.from(
        { length: n },
        () =>
          new Promise<Socket>((resolve) => {
            const s = connect(port, '127.0.0.1', () => {
              s.write('GET /health HTTP/1.1\r\nHost: bench\r\n\r\n');
              resolve(s);
            });
            s.on('data', () => {});
            s.on('error', () => {});
          }),
      ),
    );
  };
  const closeIdle = (): void => {
    for (const s of open) s.destroy();
    open = [];
  };
  // Keeps them open past the server's 5 s keep-alive timeout: one more request every 4 s.
  const keep = setInterval(() => {
    for (const s of open) s.write('GET /health HTTP/1.1\r\nHost: bench\r\n\r\n');
  }, 4000);

  const cpuShare: Record<string, number> = {};
  for (const n of [0, 100, idleN]) {
    await openIdle(n);
    await delay(500);
    const c0 = cpuS();
    await delay(4000);
    cpuShare[String(n)] = round((cpuS() - c0) / 4, 3);
    closeIdle();
    await delay(500);
  }

  const bodies = Array.from({ length: 64 }, (_, i) =>
    JSON.stringify({
      model: 'smollm2-135m-instruct',
      messages: [{ role: 'user', content: `Question ${i}: what is the capital of country number ${i}?` }],
      max_tokens: 8,
      temperature: 0,
      ignore_eos: true,
    }),
  );
  const load = async (): Promise<number> => (await runLoad({ origin, path: '/v1/chat/completions', bodies, concurrency: 32 })).tokS;
  await load(); // warm
  const without: number[] = [];
  const withIdle: number[] = [];
  for (let k = 0; k < pairs; k++) {
    without.push(round(await load(), 1));
    await openIdle(idleN);
    withIdle.push(round(await load(), 1));
    closeIdle();
  }
  clearInterval(keep);
  const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
  process.stdout.write(
    `${JSON.stringify(
      {
        command: `node bench/idle-connections.ts --idle ${idleN} --pairs ${pairs}`,
        engine: { kind: 'llama-server', parallel: 16, threads: 1, threads_http: 1024, argv: engine.command },
        engine_cpu_share_idle_by_connections: cpuShare,
        load_tok_s_without_idle: without,
        load_tok_s_with_idle: withIdle,
        idle_connections: idleN,
        with_vs_without: round(mean(withIdle) / mean(without), 3),
      },
      null,
      1,
    )}\n`,
  );
} finally {
  await engine.stop();
}
