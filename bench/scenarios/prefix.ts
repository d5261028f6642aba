/**
 * g. Prefix-aware dispatch order versus arrival order, on the real llama-server (its prompt cache
 * is on: `cache_prompt` per slot plus the host-memory cache). Rows carry one of a few long
 * instruction blocks (a few-shot block as the system message) and a short question, shuffled so
 * the blocks interleave; outputs are short, so prefill dominates.
 *
 * The arms alternate (off, on, off, on …) and each arm gets its own blocks (a salt in the text), so
 * no arm finds the previous arm's prefixes in the engine's cache.
 */
import { join } from 'node:path';
import { mkdirSync } from 'node:fs';
import { measureCpu, type CpuSeconds } from '../lib/proc.ts';
import { fewShotRows, writeJobFiles, writeProtocolFile, type Row } from '../lib/workload.ts';
import { runWorkerFile, type WorkerStats } from '../lib/worker.ts';
import { round, type BenchContext, type Scenario, type ScenarioResult } from '../lib/context.ts';

interface Arm { order: 'off' | 'auto'; rep: number; r: WorkerStats; cpu: CpuSeconds }

async function runG(ctx: BenchContext): Promise<ScenarioResult> {
  const engine = await ctx.llama();
  const dir = join(ctx.workDir, 'g');
  mkdirSync(dir, { recursive: true });
  const groups = ctx.quick ? 3 : 4;
  const blockChars = ctx.quick ? 800 : 1600;
  // --quick: 144 rows took 383 s, 48 rows 209 s. The full run had 960, which would have taken
  // hours for its four arms; 64 rows of twice the block length took 351 s per arm (2a11eeb).
  const rows = ctx.smoke ? 48 : ctx.quick ? 32 : 64;
  const reps = ctx.quick ? 1 : 2;
  const maxTokens = 8;
  const arms: Arm[] = [];
  for (let rep = 0; rep < reps; rep++) {
    for (const order of ['off', 'auto'] as const) {
      const salt = `${rep}-${order}`;
      const data: Row[] = fewShotRows(rows, groups, blockChars, 7).map((r) => ({ ...r, context: `[${salt}] ${String(r['context'])}` }));
      const files = writeJobFiles(dir, {
        name: `g-${salt}`, endpoint: engine.endpoint, engineKind: 'llama-server', maxTokens, concurrency: 'auto', prefixOrder: order, fewShot: true,
        inputPath: join(dir, 'unused'), outputPath: join(dir, 'out'), runDir: join(dir, `run-${salt}`),
      });
      const input = join(dir, `input-${salt}.lines`);
      await writeProtocolFile(input, data, files.job.run.columns, rows);
      await engine.waitIdle();
      const m = await measureCpu((meter) => runWorkerFile({ jobPath: files.jobJsonPath, inputFile: input, meter }), [[engine.pid(), 'engine']]);
      if (m.value.errors > 0) throw new Error(`prefix arm ${salt}: ${m.value.errors} errors ${JSON.stringify(m.value.errorsByCode)}`);
      arms.push({ order, rep, r: m.value, cpu: m.cpu });
      ctx.log(`g: prefix_order ${order} (rep ${rep + 1}): ${m.value.wallS.toFixed(1)} s for ${rows} rows, ${m.value.promptTokens} prompt tokens`);
    }
  }
  const mean = (order: 'off' | 'auto'): number => {
    const xs = arms.filter((a) => a.order === order).map((a) => a.r.wallS);
    return xs.reduce((a, b) => a + b, 0) / xs.length;
  };
  const off = mean('off');
  const on = mean('auto');
  return {
    keys: { prefix_order_speedup: round(off / on), prefix_order_rows_per_s_off: round(rows / off, 2), prefix_order_rows_per_s_on: round(rows / on, 2) },
    details: {
      engine: engine.settings, rows, groups, block_chars: blockChars, max_tokens: maxTokens, reps,
      prefix_queue: { prefixChars: 384, lookahead: 256 },
      arms: arms.map((a) => ({ order: a.order, rep: a.rep, wall_s: a.r.wallS, rows_per_s: a.r.rps, prompt_tokens: a.r.promptTokens, completion_tokens: a.r.completionTokens })),
    },
    cpu: Object.fromEntries(arms.map((a) => [`${a.order}_${a.rep}`, a.cpu])),
    commands: [],
    chart: {
      title: 'g. Prefix-aware order vs arrival order (llama-server prompt cache)', kind: 'bar', yLabel: 'rows / s',
      note: `${rows} rows, ${groups} few-shot blocks of ~${blockChars} chars interleaved, ${maxTokens} output tokens; speedup ${round(off / on, 2)}×`,
      series: [{ name: 'rows/s', points: [{ x: 'arrival order (off)', y: round(rows / off, 2) }, { x: 'prefix-aware (auto)', y: round(rows / on, 2) }] }],
    },
    notes: [
      'Wall time of the worker driven from a file, from spawn to exit, with the adaptive window; same rows and parameters in both arms.',
      'The prefix queue groups rows by the first 384 characters of the request body, within a 256-row look-ahead.',
    ],
  };
}

export const scenarioG: Scenario = { id: 'g', name: 'g-prefix-order', title: 'Prefix-aware versus arrival order', run: runG };
