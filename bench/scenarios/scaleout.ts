/**
 * f. Scale-out, by simulation: a real Spark standalone cluster (master + 4 workers of 1 core) and
 * one fixed-capacity SIMULATED engine per Spark worker, reached through the worker's own
 * `SPARKINFER_ENDPOINT` (executors inherit it), as each executor has its own GPU engine in
 * production. The same job runs with 1, 2 and 4 executors (`spark.cores.max`), rows growing with
 * the executors (weak scaling). `scaleout_efficiency_4x` = throughput at 4 / (4 × throughput at 1).
 *
 * The simulated engine: 8 continuous-batching slots, 25 ms per decode step whatever the batch
 * (so 320 tok/s per engine at full batch), no KV limit, no prefill cost: a stand-in for a GPU
 * engine whose capacity does not depend on this machine's 2 cores.
 */
import { join } from 'node:path';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { startSimProcess, type BenchEngine } from '../lib/engines.ts';
import { endpointsOf, startStandalone } from '../lib/standalone.ts';
import { measureCpu, type CpuSeconds } from '../lib/proc.ts';
import { questionRows, writeJobFiles, writeJsonl } from '../lib/workload.ts';
import { runCli } from '../lib/spark.ts';
import { round, type BenchContext, type Scenario, type ScenarioResult } from '../lib/context.ts';

const SIM_ARGS = ['--slots', '8', '--base-step-ms', '25', '--per-seq-step-ms', '0', '--prefill-ms-per-token', '0', '--max-waiting', '1024'];
const SIM_TOK_S = 8 * (1000 / 25);

interface Arm {
  executors: number;
  rows: number;
  tokens: number;
  inferS: number;
  wallS: number;
  tokS: number;
  workersSpanS: number;
  workersTokS: number;
  endpointsUsed: number;
  cpu: CpuSeconds;
}

/** From the first worker's start to the last worker's end (their stats files): the time engines had work. */
function workersSpanOf(runDir: string): number {
  const dir = join(runDir, 'stats');
  let first = Number.POSITIVE_INFINITY;
  let last = 0;
  for (const f of readdirSync(dir).filter((n) => n.endsWith('.json') && !n.startsWith('.'))) {
    const st = JSON.parse(readFileSync(join(dir, f), 'utf8')) as { started_at: number; updated_at: number };
    first = Math.min(first, st.started_at);
    last = Math.max(last, st.updated_at);
  }
  return (last - first) / 1000;
}

async function runF(ctx: BenchContext): Promise<ScenarioResult> {
  const dir = join(ctx.workDir, 'f');
  mkdirSync(dir, { recursive: true });
  const maxTokens = 64;
  const perExecutorS = ctx.smoke ? 5 : ctx.quick ? 6 : 60;
  const rowsPerExecutor = Math.round((perExecutorS * SIM_TOK_S) / maxTokens);
  const sims: BenchEngine[] = [];
  const arms: Arm[] = [];
  let cluster: Awaited<ReturnType<typeof startStandalone>> | undefined;
  try {
    for (let i = 0; i < 4; i++) sims.push(await startSimProcess({ mode: 'sim', args: SIM_ARGS }));
    ctx.log('f: starting a standalone cluster (master + 4 workers, one simulated engine each)');
    cluster = await startStandalone(
      join(dir, 'cluster'),
      sims.map((s) => ({ SPARKINFER_ENDPOINT: s.endpoint })),
    );
    const tags: Array<[number | undefined, string]> = sims.map((s) => [s.pid(), 'sim']);
    // --quick leaves out the 2-executor arm (its key is null there): one JVM start less.
    for (const executors of ctx.quick && !ctx.smoke ? [1, 4] : [1, 2, 4]) {
      const rows = rowsPerExecutor * executors;
      const input = join(dir, `input-${executors}.jsonl`);
      writeJsonl(input, questionRows(rows, 20 + executors));
      const files = writeJobFiles(dir, {
        name: `f-${executors}`,
        endpoint: (sims[0] as BenchEngine).endpoint,
        engineKind: 'vllm',
        maxTokens,
        concurrency: 'auto',
        inputPath: input,
        outputPath: join(dir, `out-${executors}`),
        runDir: join(dir, `run-${executors}`),
        spark: {
          master: cluster.master,
          partitions: 2 * executors,
          conf: {
            'spark.cores.max': executors,
            'spark.executor.cores': 1,
            'spark.executor.memory': '512m',
            'spark.task.maxFailures': 4,
            'spark.ui.enabled': false,
          },
        },
      });
      for (const s of sims) await s.waitIdle();
      ctx.log(`f: ${executors} executor(s), ${rows} rows`);
      const m = await measureCpu(() => runCli(files.yamlPath), tags);
      const inferS = m.value.inferS ?? m.value.wallS;
      const runDir = String(m.value.summary.run_dir);
      const used = endpointsOf(runDir).size;
      const span = workersSpanOf(runDir);
      const arm: Arm = {
        executors,
        rows,
        tokens: m.value.completionTokens,
        inferS,
        wallS: m.value.wallS,
        tokS: m.value.completionTokens / inferS,
        workersSpanS: span,
        workersTokS: m.value.completionTokens / span,
        endpointsUsed: used,
        cpu: m.cpu,
      };
      arms.push(arm);
      ctx.log(`f: ${executors} executor(s): ${arm.tokS.toFixed(0)} tok/s in the inference phase, ${used} engine(s) used`);
      if (used !== executors) ctx.log(`f: WARNING: ${executors} executors used ${used} distinct engines`);
    }
  } finally {
    await cluster?.stop();
    for (const s of sims) await s.stop();
  }
  const one = arms.find((a) => a.executors === 1) as Arm;
  const four = arms.find((a) => a.executors === 4) as Arm;
  const two = arms.find((a) => a.executors === 2);
  return {
    keys: {
      scaleout_efficiency_4x: round(four.tokS / (4 * one.tokS)),
      scaleout_efficiency_2x: two !== undefined ? round(two.tokS / (2 * one.tokS)) : null,
      scaleout_tok_s_1: round(one.tokS, 1),
      scaleout_tok_s_4: round(four.tokS, 1),
      scaleout_efficiency_4x_workers: round(four.workersTokS / (4 * one.workersTokS)),
    },
    details: {
      sim: { args: SIM_ARGS, capacity_tok_s: SIM_TOK_S, note: 'SIMULATED engines: 8 slots × 40 steps/s, no KV limit' },
      rows_per_executor: rowsPerExecutor,
      max_tokens: maxTokens,
      partitions_per_executor: 2,
      arms: arms.map(({ cpu: _cpu, ...a }) => a),
    },
    cpu: Object.fromEntries(arms.map((a) => [`executors_${a.executors}`, a.cpu])),
    commands: [],
    chart: {
      title: 'f. Scale-out on a standalone cluster (one SIMULATED engine per executor)',
      kind: 'bar',
      yLabel: 'output tokens / s (inference phase)',
      note: `weak scaling: ${rowsPerExecutor} rows per executor; ideal = executors × ${SIM_TOK_S} tok/s`,
      series: [
        { name: 'measured', points: arms.map((a) => ({ x: `${a.executors} executor${a.executors > 1 ? 's' : ''}`, y: round(a.tokS, 1) })) },
        {
          name: 'linear from 1',
          points: arms.map((a) => ({ x: `${a.executors} executor${a.executors > 1 ? 's' : ''}`, y: round(a.executors * one.tokS, 1) })),
        },
      ],
    },
    notes: [
      "Throughput is completion tokens over the driver's inference phase (TRANSFORM + write), so JVM start-up is left out of every arm alike.",
      "scaleout_efficiency_4x_workers uses the span from the first sparkinfer worker's start to the last one's end (their stats files) instead of the driver's inference phase: it leaves out Spark's stage set-up and the write, and keeps executor start skew and partition imbalance.",
      'Each Spark worker runs with its own SPARKINFER_ENDPOINT; endpointsUsed counts the distinct endpoints the worker logs name, to check each executor used its own engine.',
    ],
  };
}

// All simulation, and a five-JVM standalone cluster to start (~145 s): the full run has it, a whole
// --quick run leaves it out to stay within 10 minutes (`--quick --only f` runs it).
export const scenarioF: Scenario = { id: 'f', name: 'f-scaleout', title: 'Scale-out by simulation', fullOnly: true, run: runF };
