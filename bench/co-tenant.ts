/**
 * Does other work on the second vCPU slow a 1-thread CPU engine? (bench/README.md, "Why a
 * misses"). In bench a the JVM, Python and the worker run beside the engine during the
 * end-to-end arm and not during the ceiling arm, so a slowdown of the engine from sharing the
 * machine (an SMT sibling, memory bandwidth, the last-level cache) would show up as a lower
 * e2e ratio even when the engine keeps a whole core.
 *
 * The reference load (32 in flight, `--rows` requests × 32 tokens, ignore_eos) runs on the demo
 * engine (16 slots, 1 thread) under each condition, the order rotated between `--rounds`:
 *   idle    nothing else of ours runs;
 *   spin    a Python busy loop: a full core of pure ALU work;
 *   memory  a Python loop copying a 256 MiB buffer: a full core streaming memory, which also
 *           sweeps the shared last-level cache;
 *   jvm     a JVM whose threads allocate and drop arrays (young-generation GC churn) at about
 *           the JVM's share of bench a's end-to-end arm, ~8 % of a core.
 * For each it reports the engine's tokens per wall second and per engine CPU second, and the
 * background's CPU seconds. Nothing is pinned, as in bench a.
 *
 *   node bench/co-tenant.ts [--rounds 2] [--rows 96] > result.json
 *
 * Needs `npm run setup` (the cached llama-server and model) and Java 17 for `jvm`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ROOT, startLlama } from './lib/engines.ts';
import { runLoad } from './lib/loadgen.ts';
import { cpuSecondsOf, machineInfo } from './lib/proc.ts';
import { questionRows } from './lib/workload.ts';
import { round } from './lib/context.ts';
import { tracked } from './lib/children.ts';
import { tempDir } from '../test/helpers/tmp.ts';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '2' }, rows: { type: 'string', default: '96' } } });
const rounds = Number(values.rounds);
const rows = Number(values.rows);
const dir = tempDir('co-tenant');

// A JVM that allocates 1 MiB arrays for 8 ms out of every 100 ms and keeps the last 64 of them.
const churn = join(dir, 'Churn.java');
writeFileSync(
  churn,
  `public class Churn {
  public static void main(String[] a) throws Exception {
    byte[][] keep = new byte[64][];
    int i = 0;
    while (true) {
      long end = System.nanoTime() + 8_000_000L;
      while (System.nanoTime() < end) { keep[i++ & 63] = new byte[1 << 20]; }
      Thread.sleep(92);
    }
  }
}
`,
);
const BACKGROUND: Record<string, [string, string[]] | undefined> = {
  idle: undefined,
  spin: ['python3', ['-c', 'while True: pass']],
  memory: ['python3', ['-c', 'b = bytearray(256 << 20)\nwhile True: c = bytes(b)']],
  jvm: ['java', ['-Xmx512m', churn]],
};
const conditions = Object.keys(BACKGROUND);

const engine = await startLlama({ parallel: 16, ctxPerSlot: 1024, threads: 1, logFile: join(dir, 'llama-server.log') });
const arms: Array<Record<string, number | string>> = [];
try {
  const bodies = questionRows(rows, 3).map((r) =>
    JSON.stringify({
      model: 'smollm2-135m-instruct',
      messages: [
        { role: 'system', content: 'You are a helpful assistant. Answer in one or two sentences.' },
        { role: 'user', content: r.question },
      ],
      max_tokens: 32,
      temperature: 0,
      ignore_eos: true,
    }),
  );
  for (let r = 0; r < rounds; r++) {
    const order = [...conditions.slice(r % conditions.length), ...conditions.slice(0, r % conditions.length)];
    for (const cond of order) {
      await engine.waitIdle();
      const bg = BACKGROUND[cond];
      const child: ChildProcess | undefined =
        bg === undefined ? undefined : tracked(spawn(bg[0], bg[1], { stdio: 'ignore', detached: true }));
      if (cond === 'jvm') await new Promise((res) => setTimeout(res, 3000)); // past the JVM's start
      const bg0 = child?.pid !== undefined ? cpuSecondsOf(child.pid) : 0;
      const e0 = cpuSecondsOf(engine.pid() ?? 0);
      const load = await runLoad({ origin: engine.origin, path: '/v1/chat/completions', bodies, concurrency: 32 });
      const e1 = cpuSecondsOf(engine.pid() ?? 0);
      const bgCpu = child?.pid !== undefined ? cpuSecondsOf(child.pid) - bg0 : 0;
      if (child?.pid !== undefined) {
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
      const arm = {
        round: r + 1,
        condition: cond,
        tok_s: round(load.tokS, 2),
        wall_s: round(load.wallS, 1),
        engine_cpu_s: round(e1 - e0, 2),
        tok_per_engine_cpu_s: round(load.completionTokens / (e1 - e0), 2),
        background_cpu_s: round(bgCpu, 2),
        failed: load.failed,
      };
      process.stderr.write(`co-tenant: ${JSON.stringify(arm)}\n`);
      arms.push(arm);
    }
  }
} finally {
  await engine.stop();
}
const mean = (cond: string, k: string): number => {
  const xs = arms.filter((a) => a.condition === cond).map((a) => Number(a[k]));
  return xs.reduce((s, x) => s + x, 0) / xs.length;
};
const summary = Object.fromEntries(
  conditions.map((c) => [
    c,
    {
      tok_s: round(mean(c, 'tok_s'), 2),
      tok_per_engine_cpu_s: round(mean(c, 'tok_per_engine_cpu_s'), 2),
      background_cpu_s: round(mean(c, 'background_cpu_s'), 2),
      tok_s_vs_idle: round(mean(c, 'tok_s') / mean('idle', 'tok_s')),
      per_cpu_vs_idle: round(mean(c, 'tok_per_engine_cpu_s') / mean('idle', 'tok_per_engine_cpu_s')),
    },
  ]),
);
process.stdout.write(
  `${JSON.stringify(
    {
      probe: 'co-tenant',
      date: new Date().toISOString(),
      command: `node bench/co-tenant.ts --rounds ${rounds} --rows ${rows}`,
      machine: machineInfo(ROOT, undefined),
      engine: engine.settings,
      rows,
      max_tokens: 32,
      concurrency: 32,
      summary,
      arms,
    },
    null,
    2,
  )}\n`,
);
