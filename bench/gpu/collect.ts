/**
 * Files what the device calls returned (gpu-bench.mjs result JSONs) as bench/results/gpu-*.json,
 * each with the exact commands that produced it, and draws bench/results/gpu-<date>.png.
 *
 *   node bench/gpu/collect.ts --date 2026-11-28 [--chart FILE_STEM] [--no-chart NAME,…] [--note TEXT] NAME=DIR/gpu-….json:COMMANDS_KEY …
 *
 * NAME=A.json+B.json:KEY files several results of one configuration (separate engine starts, each
 * with --repeats) as one row: their pairs together, means and ratio over all of them (pairs.ts).
 *
 * The chart is bench/results/<FILE_STEM>.png, default gpu-<date>.
 *
 * Run here, after the device calls; bench/GPU.md lists the calls. The traces (windows and engine
 * queue once a second) are kept: they are what explains each ratio.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { writeChart } from '../../src/report/chart.ts';
import { addScaleOut, combine, type Pair } from './pairs.ts';

const { values, positionals } = parseArgs({
  options: {
    date: { type: 'string' },
    commands: { type: 'string' },
    chart: { type: 'string' },
    'no-chart': { type: 'string' },
    note: { type: 'string' },
  },
  allowPositionals: true,
});
/** Names filed but left out of the chart (comma-separated). */
const chartSkip = new Set((values['no-chart'] ?? '').split(',').filter((x) => x !== ''));
const date = values.date ?? new Date().toISOString().slice(0, 10);
const commands = JSON.parse(readFileSync(values.commands ?? 'bench/gpu/commands.json', 'utf8')) as Record<
  string,
  { machine: string; commit: string; commands: string[]; engine_flags: string; note: string }
>;
const out = join(import.meta.dirname, '..', 'results');

interface Arm {
  tok_s: number;
  rps: number;
  gpu_util: { mean: number | null };
}
/** A diagnostic run may have one arm only (gpu-bench --arms). */
interface Run {
  gpus: number;
  ceiling?: Arm;
  worker?: Arm;
  worker_vs_engine_ratio: number | null;
  scaleout_efficiency: number | null;
  ratio_min?: number | null;
  ratio_max?: number | null;
}

type Result = { runs: Run[] } & Record<string, unknown>;

/** One result file, or several joined by '+': the pairs of each GPU count together. */
function readResult(spec: string): Result {
  const parts = spec.split('+').map((f) => JSON.parse(readFileSync(f, 'utf8')) as Result);
  if (parts.length === 1) return parts[0] as Result;
  const counts = [...new Set(parts.flatMap((p) => p.runs.map((r) => r.gpus)))];
  const runs = counts.map((gpus) => {
    const same = parts.flatMap((p) => p.runs.filter((r) => r.gpus === gpus)) as Array<Run & { repeats?: Pair[] }>;
    const pairs: Pair[] = same.flatMap(
      (r): Pair[] =>
        r.repeats ?? [
          {
            ...(r.ceiling !== undefined ? { ceiling: { ...r.ceiling } } : {}),
            ...(r.worker !== undefined ? { worker: { ...r.worker } } : {}),
          },
        ],
    );
    return { gpus, engine_starts: same.length, ...combine(pairs), scaleout_efficiency: null } as unknown as Run;
  });
  // Scale-out of the pooled means, as gpu-bench computes it for one file.
  addScaleOut(runs as unknown as Array<Record<string, unknown>>);
  return {
    ...parts[0],
    repeats: runs.reduce((a, r) => a + ((r as unknown as { repeats?: unknown[] }).repeats?.length ?? 1), 0),
    joined_files: parts.length,
    runs,
  };
}

const bars: Array<{ x: string; ceiling: number; worker: number }> = [];
for (const spec of positionals) {
  const [name, rest] = spec.split('=');
  const [file, key] = (rest ?? '').split(':');
  if (name === undefined || file === undefined || key === undefined) throw new Error(`expected NAME=FILE:KEY, got ${spec}`);
  const meta = commands[key];
  if (meta === undefined) throw new Error(`no commands for ${key}`);
  const result = readResult(file);
  const summary = result.runs.map((r) => ({
    gpus: r.gpus,
    engine_tok_s: r.ceiling?.tok_s ?? null,
    worker_tok_s: r.worker?.tok_s ?? null,
    worker_vs_engine_ratio: r.worker_vs_engine_ratio,
    engine_rps: r.ceiling?.rps ?? null,
    worker_rps: r.worker?.rps ?? null,
    gpu_util_engine: r.ceiling?.gpu_util.mean ?? null,
    gpu_util_worker: r.worker?.gpu_util.mean ?? null,
    scaleout_efficiency: r.worker !== undefined ? r.scaleout_efficiency : null,
    // gpu-bench --repeats: the arms are means, and the ratios of single pairs span this range.
    ...(r.ratio_min !== undefined ? { ratio_min: r.ratio_min, ratio_max: r.ratio_max ?? null } : {}),
  }));
  const path = join(out, `gpu-${date}-${name}.json`);
  writeFileSync(path, `${JSON.stringify({ name, date, ...meta, summary, result }, null, 1)}\n`);
  process.stderr.write(`wrote ${path}\n`);
  if (chartSkip.has(name)) continue;
  const short = name
    .replace(/^(x4|x2|h200)-/, '')
    .replace('random-1.5b', '1.5B')
    .replace('smollm2', '135M')
    .replace('-hostcache', ' hc')
    .replace('-bs', ' bs')
    .replace('-pool-per-slot', ' pps')
    .replace('-before', ' old')
    .replace(/^r3-/, '')
    .replace('-varied-bs', ' varied bs');
  for (const r of result.runs)
    if (r.ceiling !== undefined && r.worker !== undefined)
      bars.push({ x: `${short} ×${r.gpus}`, ceiling: r.ceiling.tok_s, worker: r.worker.tok_s });
}
const chartStem = values.chart ?? `gpu-${date}`;
await writeChart(join(out, chartStem), {
  title: 'GPU: engine ceiling vs sparkinfer worker (output tok/s)',
  kind: 'bar',
  yLabel: 'output tokens / s',
  note:
    values.note ??
    'llama-server (CUDA, sm_90), NVIDIA H200, 256 slots/engine, 64-token answers. hc: host prompt cache on, CPU sampling; bs: host cache on, GPU sampling; plain: launcher flags now',
  width: 1100,
  height: 520,
  series: [
    { name: 'engine ceiling (reference load, 2 × slots)', points: bars.map((b) => ({ x: b.x, y: b.ceiling })) },
    { name: 'sparkinfer worker (auto window)', points: bars.map((b) => ({ x: b.x, y: b.worker })) },
  ],
});
process.stderr.write(`wrote ${join(out, `${chartStem}.png`)}\n`);
