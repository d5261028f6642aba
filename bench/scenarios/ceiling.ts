/**
 * a. Engine ceiling versus sparkinfer end to end, and b. today's practice (one synchronous
 * request per row from PySpark), on one warm llama-server with the same threads, `ignore_eos`
 * and a fixed `max_tokens` in every arm. The arms send byte-identical bodies: the reference load
 * and the baseline get the bodies the worker's own request builder renders.
 */
import { join } from 'node:path';
import { mkdirSync, writeFileSync } from 'node:fs';
import { combineLoads, runLoad, type LoadResult } from '../lib/loadgen.ts';
import { measureCpu, sumCpu } from '../lib/proc.ts';
import { bodiesFor, questionRows, writeJobFiles, writeJsonl, type JobOptions } from '../lib/workload.ts';
import { runCli, runSequential, type CliRun } from '../lib/spark.ts';
import { round, type BenchContext, type Scenario, type ScenarioResult } from '../lib/context.ts';
import type { CpuSeconds } from '../lib/proc.ts';
import type { BenchEngine } from '../lib/engines.ts';

interface AShared {
  ceiling: LoadResult;
  e2e: CliRun;
  e2eInferTokS: number;
  rows: number;
  maxTokens: number;
  parallel: number;
  cpuCeiling: CpuSeconds;
  cpuE2e: CpuSeconds;
}

const MAX_TOKENS = { quick: 32, full: 64 };
/**
 * The workload is sized to this multiple of the fixed overhead. The issue asks for at least 20×.
 * At exactly 20× the overhead alone bounds the wall ratio at 20/21 = 0.952, so a perfect
 * inference phase would pass the 0.95 target by 0.2 %, less than the ceiling moves between two
 * arms on this shared machine; 30× bounds it at 0.968 and costs about 9 more minutes.
 * --quick settles for less (QUICK_CAP_S).
 */
const OVERHEAD_MULTIPLE = { quick: 3, full: 30 };
const QUICK_CAP_S = 20;

function jobOpts(ctx: BenchContext, engine: BenchEngine, name: string, inputPath: string, maxTokens: number): JobOptions {
  return {
    name,
    endpoint: engine.endpoint,
    engineKind: engine.kind,
    maxTokens,
    concurrency: 'auto',
    inputPath,
    outputPath: join(ctx.workDir, `${name}-out`),
    runDir: join(ctx.workDir, `${name}-run`),
  };
}

async function runA(ctx: BenchContext): Promise<ScenarioResult> {
  const engine = await ctx.engine();
  const mode = ctx.quick ? 'quick' : 'full';
  const maxTokens = MAX_TOKENS[mode];
  const parallel = Number(engine.settings.parallel ?? 16);
  const dir = join(ctx.workDir, 'a');
  mkdirSync(dir, { recursive: true });
  const tag: Array<[number | undefined, string]> = [[engine.pid(), 'engine']];

  // 1. Fixed overhead: the same job on a tiny input (--limit 1): JVM start, planning, prepare, write.
  ctx.log('a: fixed overhead (sparkinfer run --limit 1)');
  const tinyIn = join(dir, 'tiny.jsonl');
  writeJsonl(tinyIn, questionRows(8, 99));
  const tiny = writeJobFiles(dir, jobOpts(ctx, engine, 'a-overhead', tinyIn, maxTokens));
  const overhead = await runCli(tiny.yamlPath, ['--limit', '1']);
  const fixedOverheadS = overhead.wallS;

  // 2. A short probe of the ceiling sizes the workload.
  const probeRows = questionRows(parallel * 3, 5);
  const probe = await runLoad({
    origin: engine.origin,
    path: '/v1/chat/completions',
    bodies: bodiesFor(tiny.job, probeRows).bodies,
    concurrency: parallel * 2,
  });
  // --quick caps the ceiling arm at QUICK_CAP_S seconds, whatever the overhead, to stay within its time budget.
  const targetS = ctx.quick ? Math.min(QUICK_CAP_S, OVERHEAD_MULTIPLE.quick * fixedOverheadS) : OVERHEAD_MULTIPLE.full * fixedOverheadS;
  const rows = ctx.smoke ? parallel * 2 : Math.max(parallel * 4, Math.ceil((targetS * probe.tokS) / maxTokens));
  ctx.log(`a: overhead ${fixedOverheadS.toFixed(1)} s, probe ${probe.tokS.toFixed(0)} tok/s → ${rows} rows of ${maxTokens} tokens`);

  // 3. The ceiling: the same bodies at a fixed concurrency of 2 × slots, no scheduler. It runs in
  // two halves, one before and one after the end-to-end arm (A B A), so that a drift of this shared
  // machine over the ~20 minutes of the three arms lands on both sides of the ratio instead of on
  // one (bench/README.md "Method"). The second half adds one more drain of the engine's slots,
  // which lowers the ceiling by well under 1 % on a CPU engine that batches little.
  const input = join(dir, 'input.jsonl');
  const data = questionRows(rows, 1);
  writeJsonl(input, data);
  const files = writeJobFiles(dir, jobOpts(ctx, engine, 'a-e2e', input, maxTokens));
  const { path, bodies } = bodiesFor(files.job, data);
  const half = Math.ceil(bodies.length / 2);
  const ceilingArm = async (part: readonly string[], which: string) => {
    await engine.waitIdle();
    const arm = await measureCpu(() => runLoad({ origin: engine.origin, path, bodies: part, concurrency: parallel * 2 }), tag);
    ctx.log(`a: engine ceiling (${which}) ${arm.value.tokS.toFixed(1)} tok/s over ${arm.value.wallS.toFixed(1)} s`);
    return arm;
  };
  const before = await ceilingArm(bodies.slice(0, half), 'before, first half of the rows');

  // 4. sparkinfer end to end on all the rows: Spark read → worker → engine → Spark write.
  await engine.waitIdle();
  const e2e = await measureCpu(() => runCli(files.yamlPath), tag);
  const e2eTokS = e2e.value.completionTokens / e2e.value.wallS;
  const e2eInferTokS = e2e.value.inferS !== undefined ? e2e.value.completionTokens / e2e.value.inferS : Number.NaN;
  ctx.log(
    `a: end to end ${e2eTokS.toFixed(1)} tok/s over ${e2e.value.wallS.toFixed(1)} s (inference phase ${e2eInferTokS.toFixed(1)} tok/s)`,
  );

  const after = await ceilingArm(bodies.slice(half), 'after, second half of the rows');
  const ceil = { value: combineLoads([before.value, after.value]), cpu: sumCpu([before.cpu, after.cpu]) };
  ctx.log(`a: engine ceiling ${ceil.value.tokS.toFixed(1)} tok/s over ${ceil.value.wallS.toFixed(1)} s (before and after)`);

  const shared: AShared = {
    ceiling: ceil.value,
    e2e: e2e.value,
    e2eInferTokS,
    rows,
    maxTokens,
    parallel,
    cpuCeiling: ceil.cpu,
    cpuE2e: e2e.cpu,
  };
  ctx.shared.set('a', shared);
  const ratio = e2eTokS / ceil.value.tokS;
  // Output tokens per engine CPU second: how much useful work the engine did with the CPU it got.
  // On a shared machine this is steadier than tok/s, which follows the CPU share the engine won.
  const perCpu = (tokens: number, cpu: CpuSeconds): number => tokens / (cpu.engine ?? Number.NaN);
  const ceilPerCpu = perCpu(ceil.value.completionTokens, ceil.cpu);
  const e2ePerCpu = perCpu(e2e.value.completionTokens, e2e.cpu);
  return {
    keys: {
      engine_ceiling_tok_s: round(ceil.value.tokS, 1),
      engine_ceiling_before_tok_s: round(before.value.tokS, 1),
      engine_ceiling_after_tok_s: round(after.value.tokS, 1),
      e2e_tok_s: round(e2eTokS, 1),
      e2e_vs_engine_ratio: round(ratio),
      e2e_infer_vs_engine_ratio: round(e2eInferTokS / ceil.value.tokS),
      fixed_overhead_s: round(fixedOverheadS, 1),
      workload_vs_overhead: round(e2e.value.wallS / fixedOverheadS, 1),
      engine_tok_per_cpu_s: round(ceilPerCpu, 1),
      e2e_engine_tok_per_cpu_s: round(e2ePerCpu, 1),
      e2e_vs_engine_per_cpu_ratio: round(e2ePerCpu / ceilPerCpu),
    },
    details: {
      engine: engine.settings,
      rows,
      max_tokens: maxTokens,
      ignore_eos: true,
      ceiling_concurrency: parallel * 2,
      probe: probe,
      ceiling: ceil.value,
      ceiling_before: before.value,
      ceiling_after: after.value,
      e2e: {
        wall_s: e2e.value.wallS,
        prepare_s: e2e.value.prepareS,
        infer_s: e2e.value.inferS,
        completion_tokens: e2e.value.completionTokens,
        rows_ok: e2e.value.rowsOk,
        summary: e2e.value.summary,
      },
      overhead_run: { wall_s: overhead.wallS, prepare_s: overhead.prepareS, infer_s: overhead.inferS, rows_ok: overhead.rowsOk },
    },
    cpu: { ceiling: ceil.cpu, e2e: e2e.cpu, ceiling_before: before.cpu, ceiling_after: after.cpu },
    commands: [overhead.command.join(' '), e2e.value.command.join(' ')],
    chart: {
      title: `a. Engine ceiling vs sparkinfer end to end (${engine.kind}, SmolLM2-135M)`,
      kind: 'bar',
      yLabel: 'output tokens / s',
      note: `${rows} rows × ${maxTokens} tokens (ignore_eos), ${parallel} slots; fixed overhead ${fixedOverheadS.toFixed(1)} s`,
      series: [
        {
          name: 'output tok/s',
          points: [
            { x: 'ceiling, before', y: round(before.value.tokS, 1) },
            { x: 'engine ceiling', y: round(ceil.value.tokS, 1) },
            { x: 'ceiling, after', y: round(after.value.tokS, 1) },
            { x: 'e2e (wall)', y: round(e2eTokS, 1) },
            { x: 'e2e (inference phase)', y: round(e2eInferTokS, 1) },
          ],
        },
      ],
    },
    notes: [
      'e2e_tok_s counts the whole `sparkinfer run` wall time (JVM start, planning, prepare, inference, write); e2e_infer_vs_engine_ratio only the inference phase (TRANSFORM + write).',
      'On 2 cores the JVM, Python and the Node workers take CPU from the CPU engine: see cpu.e2e versus cpu.ceiling.',
      'The ceiling runs in two halves of the rows, before and after the end-to-end arm (A B A); engine_ceiling_tok_s is their tokens over their summed wall time, and engine_ceiling_before_tok_s / _after_tok_s show how far the machine drifted meanwhile.',
      ctx.quick
        ? `--quick sizes the engine arm to min(${OVERHEAD_MULTIPLE.quick}× the fixed overhead, ${QUICK_CAP_S} s), not 20× the overhead: the wall ratio is then bounded by about wall / (wall + overhead); read e2e_infer_vs_engine_ratio.`
        : `The workload is ${OVERHEAD_MULTIPLE.full}× the fixed overhead (the issue asks for at least 20×): the overhead alone bounds the wall ratio at about ${OVERHEAD_MULTIPLE.full}/${OVERHEAD_MULTIPLE.full + 1}.`,
    ],
  };
}

async function runB(ctx: BenchContext): Promise<ScenarioResult> {
  const a = ctx.shared.get('a') as AShared | undefined;
  if (a === undefined) throw new Error('scenario b needs scenario a (the ceiling and end-to-end arms)');
  const engine = await ctx.engine();
  const dir = join(ctx.workDir, 'b');
  mkdirSync(dir, { recursive: true });
  const tag: Array<[number | undefined, string]> = [[engine.pid(), 'engine']];
  const data = questionRows(a.rows, 1);
  const files = writeJobFiles(dir, jobOpts(ctx, engine, 'b', join(dir, 'unused.jsonl'), a.maxTokens));
  const { path, bodies } = bodiesFor(files.job, data);

  // Concurrency 1: the engine's own batching gain is ceiling / this.
  const c1Bodies = bodies.slice(0, ctx.smoke ? 4 : ctx.quick ? 6 : 40);
  await engine.waitIdle();
  const c1 = await measureCpu(() => runLoad({ origin: engine.origin, path, bodies: c1Bodies, concurrency: 1 }), tag);
  ctx.log(`b: concurrency 1: ${c1.value.tokS.toFixed(1)} tok/s`);

  // The baseline on a subset sized to ~`seconds` of inference (one request per task at a time).
  const partitions = 2;
  const seconds = ctx.smoke ? 8 : ctx.quick ? 15 : 180;
  const n = Math.max(partitions * 4, Math.min(a.rows, Math.round((seconds * c1.value.tokS * partitions) / a.maxTokens)));
  const bodiesFile = join(dir, 'bodies.jsonl');
  writeFileSync(
    bodiesFile,
    `${data
      .slice(0, n)
      .map((r, i) => JSON.stringify({ id: r.id, body: bodies[i] }))
      .join('\n')}\n`,
  );
  await engine.waitIdle();
  const seq = await measureCpu(
    () => runSequential({ bodiesFile, url: `${engine.origin}${path}`, outputDir: join(dir, 'out'), master: 'local[2]', partitions }),
    tag,
  );
  if (seq.value.failed > 0) throw new Error(`the baseline had ${seq.value.failed} failed rows`);
  const seqTokS = seq.value.completionTokens / seq.value.inferS;
  const seqWallTokS = seq.value.completionTokens / seq.value.wallS;
  const e2eWallTokS = a.e2e.completionTokens / a.e2e.wallS;
  ctx.log(`b: sequential baseline ${seqTokS.toFixed(1)} tok/s (inference phase) on ${n} rows`);
  return {
    keys: {
      speedup_vs_sequential: round(a.e2eInferTokS / seqTokS, 2),
      engine_batching_gain_per_cpu: round(
        a.ceiling.completionTokens / (a.cpuCeiling.engine ?? Number.NaN) / (c1.value.completionTokens / (c1.cpu.engine ?? Number.NaN)),
        2,
      ),
      speedup_vs_sequential_wall: round(e2eWallTokS / seqWallTokS, 2),
      sequential_tok_s: round(seqTokS, 1),
      engine_c1_tok_s: round(c1.value.tokS, 1),
      engine_batching_gain: round(a.ceiling.tokS / c1.value.tokS, 2),
    },
    details: {
      baseline_rows: n,
      baseline_partitions: partitions,
      master: 'local[2]',
      sequential: seq.value,
      concurrency_1: c1.value,
      e2e_infer_tok_s: a.e2eInferTokS,
      e2e_wall_tok_s: e2eWallTokS,
      engine_ceiling_tok_s: a.ceiling.tokS,
    },
    cpu: { concurrency_1: c1.cpu, sequential: seq.cpu },
    commands: [seq.value.command.join(' ')],
    chart: {
      title: "b. Today's practice (one synchronous request per row) vs sparkinfer",
      kind: 'bar',
      yLabel: 'output tokens / s',
      note: `inference-phase rates; baseline: ${partitions} Spark tasks × 1 request; engine: ${a.parallel} slots`,
      series: [
        {
          name: 'output tok/s',
          points: [
            { x: 'engine, 1 in flight', y: round(c1.value.tokS, 1) },
            { x: 'sequential PySpark', y: round(seqTokS, 1) },
            { x: 'sparkinfer', y: round(a.e2eInferTokS, 1) },
            { x: 'engine ceiling', y: round(a.ceiling.tokS, 1) },
          ],
        },
      ],
    },
    notes: [
      "speedup_vs_sequential compares inference phases (each job's own JVM start and planning left out, since the two jobs have different row counts); speedup_vs_sequential_wall compares whole-job rates.",
      'engine_batching_gain (ceiling / one request in flight) bounds what any client can gain on this engine; on a 2-core CPU engine it is small, on a GPU it is tens.',
    ],
  };
}

export const scenarioA: Scenario = { id: 'a', name: 'a-ceiling', title: 'Engine ceiling versus end to end', run: runA };
export const scenarioB: Scenario = {
  id: 'b',
  name: 'b-sequential',
  title: "Today's practice: one synchronous request per row",
  needs: ['a'],
  run: runB,
};
