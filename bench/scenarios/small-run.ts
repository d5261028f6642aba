/**
 * Scenario i, a small job's start-up (issue 36, "the first five minutes"): `sparkinfer run` on a
 * 6-row job against an engine that is already up, three times in a row, as a user trying a prompt
 * does. Reported: when the first request reached the engine (a counting proxy in front of it notes
 * the first POST), the wall time, both as the median of the runs, and where the time went: the
 * steps the CLI and the driver note in driver_summary.json's `timings` (python/sparkinfer/driver.py).
 * Targets (issue 36): first request <= 8 s, wall <= 20 s.
 */
import { join } from 'node:path';
import { mkdirSync, readFileSync } from 'node:fs';
import { startCountingProxy } from '../../test/helpers/counting-proxy.ts';
import { runCli } from '../lib/spark.ts';
import { questionRows, writeJobFiles, writeJsonl } from '../lib/workload.ts';
import { round, type BenchContext, type Scenario, type ScenarioResult } from '../lib/context.ts';

const ROWS = 6;
const RUNS = 3;
const MAX_TOKENS = 16;

/** The steps of one run, in seconds from the command's start: each the time of the step's end. */
interface Steps {
  /** Node started the CLI (the shell shim and Node's own start before it). */
  cli_start?: number;
  /** The CLI spawned spark-submit (job loaded and checked, run directory made). */
  submit?: number;
  /** The Python driver started (the JVM's start before it). */
  driver_start?: number;
  /** The driver's Python modules (pyspark among them) are imported. */
  imported?: number;
  /** The Spark session is up. */
  session_ready?: number;
  /** Earlier runs of the job looked at (resume). */
  earlier_runs?: number;
  /** The input read (a JSON input's schema inferred: a Spark job). */
  read?: number;
  /** The packed input written to <run dir>/prepared and read back. */
  materialized?: number;
  /** Its rows counted. */
  counted?: number;
  /** Input read, keyed and materialized; earlier runs looked at. */
  prepared?: number;
  /** The inference action starts (after the engine check). */
  infer_start?: number;
  /** The first request reached the engine (the worker started before it). */
  first_request?: number;
  /** The output is written. */
  written?: number;
  /** The driver counted what was written. */
  summarized?: number;
  /** The CLI exited (report, summary). */
  exit?: number;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};

async function runI(ctx: BenchContext): Promise<ScenarioResult> {
  const engine = await ctx.llama();
  const dir = join(ctx.workDir, 'i');
  mkdirSync(dir, { recursive: true });
  const input = join(dir, 'six.jsonl');
  writeJsonl(input, questionRows(ROWS, 61));
  const runs: Array<{ wallS: number; firstRequestS: number | undefined; steps: Steps }> = [];
  const commands: string[] = [];
  for (let n = 1; n <= RUNS; n++) {
    const proxy = await startCountingProxy(engine.origin);
    try {
      const files = writeJobFiles(dir, {
        name: `i-small-${n}`,
        endpoint: proxy.endpoint,
        engineKind: 'llama-server',
        maxTokens: MAX_TOKENS,
        concurrency: 'auto',
        inputPath: input,
        outputPath: join(dir, `out-${n}`),
        runDir: join(dir, `run-${n}`),
      });
      const t0 = Date.now();
      const r = await runCli(files.yamlPath);
      commands.push(r.command.join(' '));
      const first = proxy.firstPostAt('/v1/chat/completions');
      const ds = JSON.parse(readFileSync(join(String(r.summary.run_dir), 'driver_summary.json'), 'utf8')) as {
        timings?: Record<string, number>;
      };
      const steps: Steps = {};
      for (const [k, v] of Object.entries(ds.timings ?? {})) steps[k as keyof Steps] = round(v - t0 / 1000, 2);
      if (first !== undefined) steps.first_request = round((first - t0) / 1000, 2);
      steps.exit = round(r.wallS, 2);
      runs.push({ wallS: r.wallS, firstRequestS: steps.first_request, steps });
      ctx.log(`i: run ${n}: first request at ${steps.first_request ?? '-'} s, wall ${round(r.wallS, 2)} s; steps ${JSON.stringify(steps)}`);
    } finally {
      await proxy.close();
    }
  }
  const firsts = runs.map((r) => r.firstRequestS ?? Number.NaN);
  const walls = runs.map((r) => r.wallS);
  const names = Object.keys(runs[0]?.steps ?? {}) as Array<keyof Steps>;
  const medianSteps = Object.fromEntries(names.map((k) => [k, round(median(runs.map((r) => r.steps[k] ?? Number.NaN)), 2)]));
  // In the order they happen.
  const stepNames = [...names].sort((a, b) => (medianSteps[a] as number) - (medianSteps[b] as number));
  const problems: string[] = [];
  if (median(firsts) > 8) problems.push(`first request at ${round(median(firsts), 2)} s (median), over the 8 s target`);
  if (median(walls) > 20) problems.push(`wall ${round(median(walls), 2)} s (median), over the 20 s target`);
  return {
    keys: {
      small_run_first_request_s: round(median(firsts), 2),
      small_run_wall_s: round(median(walls), 2),
      small_run_first_request_max_s: round(Math.max(...firsts), 2),
      small_run_wall_max_s: round(Math.max(...walls), 2),
    },
    details: { rows: ROWS, runs: RUNS, max_tokens: MAX_TOKENS, median_steps_s: medianSteps, each: runs },
    cpu: {},
    commands,
    chart: {
      title: `i. ${ROWS} rows, engine up: when each step ends (median of ${RUNS})`,
      kind: 'bar',
      yLabel: 's since the command started',
      refLines: [
        { y: 8, label: 'first request target' },
        { y: 20, label: 'wall target' },
      ],
      series: [{ name: 'median', points: stepNames.map((k) => ({ x: k, y: medianSteps[k] as number })) }],
    },
    notes: [
      `Each run: bin/sparkinfer run on ${ROWS} JSON Lines rows (${MAX_TOKENS} tokens each) against the bench's warm llama-server, through a counting proxy that notes the first POST.`,
      "Steps are seconds from the command's start to the end of each step (driver_summary.json `timings`; first_request from the proxy; exit from the harness).",
    ],
    ...(problems.length > 0 ? { problems } : {}),
  };
}

export const scenarioI: Scenario = {
  id: 'i',
  name: 'i-small-run',
  title: "A small job's start-up (6 rows, engine up)",
  // Left out of a whole --quick run: its minute does not fit the 10-minute budget; --only i runs it.
  fullOnly: true,
  run: runI,
};
