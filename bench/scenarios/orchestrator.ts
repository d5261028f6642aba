/**
 * d. The orchestrator's own ceiling and e. its memory: one worker pinned to one core
 * (`taskset -c 1`), ledger on, against the instant FAKE server (answers at once, no model) on the
 * other core, with the deliberately slow consumer (bench/lib/slow-consumer.ts) on its stdout.
 * Both figures come from one run when both scenarios are selected: it streams the rows of e.
 */
import { join } from 'node:path';
import { mkdirSync } from 'node:fs';
import { startSimProcess } from '../lib/engines.ts';
import { measureCpu, type CpuSeconds } from '../lib/proc.ts';
import { questionRows, writeJobFiles, writeProtocolFile } from '../lib/workload.ts';
import { runWorkerPiped, type PipedResult } from '../lib/worker.ts';
import { round, type BenchContext, type Scenario, type ScenarioResult } from '../lib/context.ts';

interface Run {
  rows: number;
  r: PipedResult;
  cpu: CpuSeconds;
  window: string;
}

async function orchestratorRun(ctx: BenchContext, rows: number): Promise<Run> {
  const memo = ctx.shared.get(`orchestrator-${rows}`) as Run | undefined;
  if (memo !== undefined) return memo;
  const dir = join(ctx.workDir, 'd');
  mkdirSync(dir, { recursive: true });
  const sim = await startSimProcess({ mode: 'instant', cpus: '0' });
  try {
    const window = 'auto';
    const files = writeJobFiles(dir, {
      name: `d-${rows}`,
      endpoint: sim.endpoint,
      engineKind: 'openai',
      maxTokens: 16,
      concurrency: window,
      inputPath: join(dir, 'unused'),
      outputPath: join(dir, 'out'),
      runDir: join(dir, `run-${rows}`),
    });
    const input = join(dir, `input-${rows}.lines`);
    await writeProtocolFile(input, questionRows(1000, 2), files.job.run.columns, rows);
    ctx.log(`d/e: ${rows} rows through the worker (core 1) → instant fake (core 0), slow consumer`);
    const m = await measureCpu(
      (meter) => runWorkerPiped({ jobPath: files.jobJsonPath, inputFile: input, workerCpus: '1', otherCpus: '0', meter }),
      [[sim.pid(), 'instant-fake']],
    );
    if (m.value.lines !== rows || m.value.errors > 0)
      throw new Error(`the worker answered ${m.value.lines} of ${rows} rows with ${m.value.errors} errors`);
    const run: Run = { rows, r: m.value, cpu: m.cpu, window };
    ctx.shared.set(`orchestrator-${rows}`, run);
    return run;
  } finally {
    await sim.stop();
  }
}

function rowsFor(ctx: BenchContext): number {
  return ctx.smoke ? 20_000 : ctx.quick ? 100_000 : 1_000_000;
}

async function runD(ctx: BenchContext): Promise<ScenarioResult> {
  const { rows, r, cpu, window } = await orchestratorRun(ctx, rowsFor(ctx));
  const usPerReq = (r.workerCpuS / r.lines) * 1e6;
  return {
    keys: {
      worker_ceiling_rps: round(r.rps, 0),
      worker_cpu_us_per_request: round(usPerReq, 1),
      worker_cpu_bound_rps: round(1e6 / usPerReq, 0),
    },
    details: {
      rows,
      window,
      worker: r,
      consumer: 'parses every line, stalls 50 ms after each MiB read',
      pinning: 'worker on CPU 1; fake server and consumer on CPU 0',
    },
    cpu: { orchestrator: cpu },
    commands: [],
    chart: {
      title: 'd. Orchestrator ceiling (one worker, one core, instant FAKE engine)',
      kind: 'bar',
      yLabel: 'requests / s',
      note: `${rows} rows, ledger on, slow consumer (${r.stalls} stalls); ${round(usPerReq, 1)} µs CPU per request`,
      series: [
        {
          name: 'requests/s',
          points: [
            { x: 'measured (wall)', y: round(r.rps, 0) },
            { x: 'CPU-bound (1 core / cpu per request)', y: round(1e6 / usPerReq, 0) },
          ],
        },
      ],
      refLines: [{ y: 10_000, label: 'target' }],
    },
    notes: [
      'The instant server is a FAKE: it answers every request at once with a fixed reply and parses nothing; it measures the worker, not an engine.',
      "worker_cpu_us_per_request is the worker process's user+system CPU divided by its requests; worker_cpu_bound_rps is what one whole core would give.",
      'Other processes on this shared machine compete for CPU 1, so the wall rate can sit below the CPU-bound rate: compare cpu.orchestrator.outside.',
    ],
  };
}

async function runE(ctx: BenchContext): Promise<ScenarioResult> {
  const { rows, r } = await orchestratorRun(ctx, rowsFor(ctx));
  return {
    keys: { worker_peak_rss_mb: r.peakRssMb, worker_rss_rows: rows },
    details: { rows, peak_rss_mb: r.peakRssMb, wall_s: r.wallS, how: 'max of VmHWM/VmRSS from /proc/<pid>/status, sampled every 100 ms' },
    cpu: {},
    commands: [],
    chart: {
      title: 'e. Worker peak RSS while streaming rows',
      kind: 'bar',
      yLabel: 'MiB',
      note: `${rows} rows through the instant FAKE server, ledger on`,
      series: [{ name: 'peak RSS (MiB)', points: [{ x: `${rows} rows`, y: r.peakRssMb }] }],
      refLines: [{ y: 200, label: 'target' }],
    },
    notes: [ctx.quick ? `--quick streams ${rows} rows, not 1,000,000.` : 'Streams 1,000,000 rows.'],
  };
}

export const scenarioD: Scenario = { id: 'd', name: 'd-orchestrator', title: 'Orchestrator ceiling', run: runD };
export const scenarioE: Scenario = { id: 'e', name: 'e-memory', title: 'Worker memory', run: runE };
