/**
 * j. What observability costs the worker's ceiling (issue 35: at most 3 % with metrics on and
 * traces sampled at 1 %; nothing with both off). Scenario d's setup: one worker pinned to core 1,
 * ledger on, the instant FAKE server and the slow consumer on core 0. Two arms, alternated
 * (off, on, off, on, …) so that a drift of this shared machine lands on both:
 *   - off: the job as a run without `observability` writes it (no `run.traces`);
 *   - on: `run.traces` at sample ratio 0.01 to a local OTLP/HTTP sink (test/helpers/otlp-sink.ts,
 *     a stand-in for a collector: it parses and counts the spans), and the run's Prometheus
 *     endpoint (src/job/metrics.ts) served from this process over the worker's run directory and
 *     scraped once a second (Prometheus' default is every 15 s).
 * The ratio is the on arms' requests per second over the off arms' (each side summed).
 */
import { join } from 'node:path';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { startSimProcess } from '../lib/engines.ts';
import { questionRows, writeJobFiles, writeProtocolFile } from '../lib/workload.ts';
import { runWorkerPiped, type PipedResult } from '../lib/worker.ts';
import { round, type BenchContext, type Scenario, type ScenarioResult } from '../lib/context.ts';
import { startOtlpSink } from '../../test/helpers/otlp-sink.ts';
import { startRunMetrics } from '../../src/job/metrics.ts';
import type { ResolvedJob } from '../../src/jobfile/resolved.ts';

const RATIO = 0.01;

interface Arm {
  arm: 'off' | 'on';
  rows: number;
  rps: number;
  wall_s: number;
  worker_cpu_s: number;
  cpu_us_per_request: number;
  spans?: number;
  scrapes?: number;
}

function armOf(arm: Arm['arm'], rows: number, r: PipedResult): Arm {
  return {
    arm,
    rows,
    rps: round(r.rps, 0),
    wall_s: round(r.wallS, 2),
    worker_cpu_s: round(r.workerCpuS, 2),
    cpu_us_per_request: round((r.workerCpuS / r.lines) * 1e6, 1),
  };
}

/** The "on" arm: the worker traced to the sink, the metrics endpoint scraped every second while it runs. */
async function onArm(run: () => Promise<PipedResult>, job: ResolvedJob, rows: number, sinkCount: () => number): Promise<Arm> {
  const metrics = await startRunMetrics({
    job: { name: job.name, observability: { prometheus: { port: 0 as number, host: '127.0.0.1', linger: 0, pod_monitor: false } } },
    runId: job.run.id,
    runDir: job.run.dir,
    timeline: () => undefined,
    log: () => {},
  });
  if (metrics === undefined) throw new Error('the metrics endpoint did not start');
  let scrapes = 0;
  const timer = setInterval(() => {
    void fetch(metrics.url, { headers: { accept: 'application/openmetrics-text;version=1.0.0' } })
      .then((r) => r.text())
      .then(
        () => {
          scrapes++;
        },
        () => {},
      );
  }, 1000);
  const before = sinkCount();
  try {
    const r = await run();
    return { ...armOf('on', rows, r), spans: sinkCount() - before, scrapes };
  } finally {
    clearInterval(timer);
    await metrics.close();
  }
}

async function runJ(ctx: BenchContext): Promise<ScenarioResult> {
  const rows = ctx.smoke ? 5_000 : ctx.quick ? 100_000 : 300_000;
  const pairs = ctx.smoke ? 1 : 3;
  const dir = join(ctx.workDir, 'j');
  mkdirSync(dir, { recursive: true });
  const sim = await startSimProcess({ mode: 'instant', cpus: '0' });
  const sink = await startOtlpSink({ keep: false });
  const arms: Arm[] = [];
  try {
    const files = writeJobFiles(dir, {
      name: 'j-observability',
      endpoint: sim.endpoint,
      engineKind: 'openai',
      maxTokens: 16,
      concurrency: 'auto',
      inputPath: join(dir, 'unused'),
      outputPath: join(dir, 'out'),
      runDir: join(dir, 'run'),
    });
    const traced = JSON.parse(readFileSync(files.jobJsonPath, 'utf8')) as ResolvedJob;
    traced.run.traces = {
      endpoint: `${sink.endpoint}/v1/traces`,
      sample_ratio: RATIO,
      traceparent: `00-${'4b'.repeat(16)}-${'0f'.repeat(8)}-01`,
    };
    const tracedPath = join(dir, 'j-observability.traced.job.json');
    writeFileSync(tracedPath, JSON.stringify(traced));
    const input = join(dir, 'input.lines');
    await writeProtocolFile(input, questionRows(1000, 2), files.job.run.columns, rows);
    const piped = (jobPath: string) => () => runWorkerPiped({ jobPath, inputFile: input, workerCpus: '1', otherCpus: '0' });
    for (let i = 0; i < pairs; i++) {
      for (const arm of ['off', 'on'] as const) {
        const a =
          arm === 'off' ? armOf('off', rows, await piped(files.jobJsonPath)()) : await onArm(piped(tracedPath), traced, rows, sink.count);
        ctx.log(
          `j: pair ${i + 1}/${pairs}, ${arm}: ${a.rps} requests/s, ${a.cpu_us_per_request} µs CPU per request${a.spans !== undefined ? `, ${a.spans} spans, ${a.scrapes} scrapes` : ''}`,
        );
        arms.push(a);
      }
    }
  } finally {
    await sink.close();
    await sim.stop();
  }
  const sum = (arm: Arm['arm'], f: (a: Arm) => number) => arms.filter((a) => a.arm === arm).reduce((s, a) => s + f(a), 0);
  const rpsOf = (arm: Arm['arm']) => sum(arm, (a) => a.rows) / sum(arm, (a) => a.wall_s);
  const cpuOf = (arm: Arm['arm']) => (sum(arm, (a) => a.worker_cpu_s) / sum(arm, (a) => a.rows)) * 1e6;
  const ratio = rpsOf('on') / rpsOf('off');
  const spans = sum('on', (a) => a.spans ?? 0);
  const expected = sum('on', (a) => a.rows) * RATIO;
  return {
    keys: {
      observability_ceiling_ratio: round(ratio, 3),
      observability_off_rps: round(rpsOf('off'), 0),
      observability_on_rps: round(rpsOf('on'), 0),
      observability_cpu_ratio: round(cpuOf('on') / cpuOf('off'), 3),
    },
    details: {
      rows_per_arm: rows,
      pairs,
      sample_ratio: RATIO,
      arms,
      spans_received: spans,
      spans_expected_about: Math.round(expected + pairs),
    },
    cpu: {},
    commands: [],
    chart: {
      title: 'j. Observability overhead on the worker ceiling (instant FAKE engine)',
      kind: 'bar',
      yLabel: 'requests / s',
      note: `${pairs} off/on pairs of ${rows} rows; on: traces at ${RATIO * 100} % + metrics scraped every 1 s`,
      series: [{ name: 'requests/s', points: arms.map((a, i) => ({ x: `${i + 1} ${a.arm}`, y: a.rps })) }],
    },
    notes: [
      'The instant server is a FAKE that answers at once; it measures the worker, not an engine.',
      'observability_ceiling_ratio is on over off in requests per second (rows over wall time, each side summed over its arms); the issue asks for at least 0.97.',
      'Metrics cost the worker nothing of its own (it writes its stats file either way): the endpoint reads those files in the CLI; here it runs in the bench process, on no pinned core.',
    ],
    ...(Math.abs(spans - expected) > Math.max(50, expected * 0.5)
      ? { problems: [`the sink got ${spans} spans, expected about ${Math.round(expected)}`] }
      : {}),
  };
}

export const scenarioJ: Scenario = { id: 'j', name: 'j-observability', title: 'Observability overhead', fullOnly: true, run: runJ };
