/**
 * `npm run bench -- [--quick] [--json] [--only a,b]`: runs the benchmark scenarios (bench/README.md)
 * in one process, on one warm engine, and
 * - prints ONE JSON object on stdout: every scenario's keys, plus `_meta` (with --json it is the
 *   only stdout output; without it a short table goes to stderr as well);
 * - writes `bench/results/<YYYY-MM-DD>-<scenario>.json` (the command, the machine, CPU seconds per
 *   process class, the details) and `bench/results/<YYYY-MM-DD>-<scenario>.png`.
 * Progress goes to stderr. A scenario that fails reports its keys as null with the error, and the
 * others still run; the exit code is then 1.
 */
import { parseArgs } from 'node:util';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { execFileSync } from 'node:child_process';
import { writeChart } from '../src/report/chart.ts';
import { llamaServerPath } from '../src/launch/paths.ts';
import { ROOT, startLlama, startVllm, type BenchEngine } from './lib/engines.ts';
import { machineInfo } from './lib/proc.ts';
import type { BenchContext, KeyValue, Scenario, ScenarioResult } from './lib/context.ts';
import { scenarioA, scenarioB } from './scenarios/ceiling.ts';
import { scenarioC } from './scenarios/sweep.ts';
import { scenarioD, scenarioE } from './scenarios/orchestrator.ts';
import { scenarioF } from './scenarios/scaleout.ts';
import { scenarioG } from './scenarios/prefix.ts';
import { scenarioH } from './scenarios/faults.ts';
import { scenarioI } from './scenarios/small-run.ts';
import { scenarioJ } from './scenarios/observability.ts';

const SCENARIOS: Scenario[] = [
  scenarioA,
  scenarioB,
  scenarioC,
  scenarioD,
  scenarioE,
  scenarioF,
  scenarioG,
  scenarioH,
  scenarioI,
  scenarioJ,
];

/** Every key each scenario reports, so a failed scenario still lists its keys (as null). */
const KEYS: Record<string, string[]> = {
  a: [
    'engine_ceiling_tok_s',
    'e2e_tok_s',
    'e2e_vs_engine_ratio',
    'e2e_infer_vs_engine_ratio',
    'fixed_overhead_s',
    'workload_vs_overhead',
    'engine_tok_per_cpu_s',
    'e2e_engine_tok_per_cpu_s',
    'e2e_vs_engine_per_cpu_ratio',
  ],
  b: [
    'speedup_vs_sequential',
    'speedup_vs_sequential_wall',
    'sequential_tok_s',
    'engine_c1_tok_s',
    'engine_batching_gain',
    'engine_batching_gain_per_cpu',
  ],
  c: [
    'auto_vs_best_fixed',
    'auto_vs_max_fixed',
    'auto_vs_best_fixed_engine',
    'auto_vs_best_fixed_engine_naive',
    'auto_vs_best_fixed_sim',
    'auto_vs_max_fixed_engine',
    'auto_vs_max_fixed_sim',
    'auto_vs_best_fixed_sim_http',
    'auto_vs_max_fixed_sim_http',
    'auto_engine_saturated_share',
    'best_fixed_engine_saturated_share',
    'engine_round_cv',
  ],
  d: ['worker_ceiling_rps', 'worker_cpu_us_per_request', 'worker_cpu_bound_rps'],
  e: ['worker_peak_rss_mb', 'worker_rss_rows'],
  f: ['scaleout_efficiency_4x', 'scaleout_efficiency_2x', 'scaleout_tok_s_1', 'scaleout_tok_s_4', 'scaleout_efficiency_4x_workers'],
  g: [
    'prefix_plan_speedup',
    'prefix_plan_speedup_1_engine',
    'prefix_plan_speedup_few_shot',
    'prefill_tokens_vs_minimum',
    'prefill_tokens_vs_minimum_arrival',
    'prefill_tokens_vs_minimum_1_engine',
    'prefill_tokens_vs_minimum_few_shot',
    'prefix_free_ratio',
    'prefix_plan_speedup_infer',
    'prefix_free_ratio_infer',
  ],
  h: [
    'faults_tok_s_0',
    'faults_ratio_2pct',
    'faults_ratio_5pct',
    'ratelimit_limit_rps',
    'ratelimit_achieved_rps',
    'ratelimit_vs_limit',
    'ratelimit_refused_frac',
    'faults_all_rows_ok',
  ],
  i: ['small_run_first_request_s', 'small_run_wall_s', 'small_run_first_request_max_s', 'small_run_wall_max_s'],
  j: ['observability_ceiling_ratio', 'observability_off_rps', 'observability_on_rps', 'observability_cpu_ratio'],
};

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    smoke: { type: 'boolean', default: false },
    'g-shared-only': { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
    only: { type: 'string' },
    'engine-parallel': { type: 'string', default: '16' },
    'engine-threads': { type: 'string', default: '1' },
    engine: { type: 'string', default: 'llama-server' },
    'keep-work': { type: 'boolean', default: false },
    /** Results folder. Default bench/results (bench/results/smoke with --smoke). */
    out: { type: 'string' },
  },
  strict: true,
});

function selected(): Scenario[] {
  if (values.only === undefined) return SCENARIOS.filter((s) => !(values.quick === true && values.smoke !== true && s.fullOnly === true));
  const want = values.only
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  for (const w of want) {
    if (!SCENARIOS.some((s) => s.id === w || s.name === w)) {
      throw new Error(`Expected --only to list scenarios among ${SCENARIOS.map((s) => s.id).join(',')}, got \`${w}\``);
    }
  }
  const ids = new Set(SCENARIOS.filter((s) => want.includes(s.id) || want.includes(s.name)).map((s) => s.id));
  for (const s of SCENARIOS) if (ids.has(s.id)) for (const n of s.needs ?? []) ids.add(n);
  return SCENARIOS.filter((s) => ids.has(s.id));
}

function positive(name: string, text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new Error(`Expected --${name} to be an integer from 1 and up, got \`${text}\``);
  return n;
}

const log = (m: string): void => {
  process.stderr.write(`bench: ${m}\n`);
};

async function main(): Promise<number> {
  const scenarios = selected();
  const parallel = positive('engine-parallel', values['engine-parallel'] ?? '16');
  const threads = positive('engine-threads', values['engine-threads'] ?? '1');
  const date = new Date().toISOString().slice(0, 10);
  // Smoke runs check the plumbing only: their files stay out of the real results.
  const resultsDir =
    values.out !== undefined ? resolve(values.out) : join(ROOT, 'bench', 'results', ...(values.smoke === true ? ['smoke'] : []));
  mkdirSync(resultsDir, { recursive: true });
  const workDir = mkdtempSync(join(tmpdir(), 'sparkinfer-bench-'));
  const command = ['npm', 'run', 'bench', '--', ...process.argv.slice(2)].join(' ');
  if (!existsSync(join(ROOT, 'dist', 'sparkinfer-worker.mjs')))
    throw new Error('dist/sparkinfer-worker.mjs is missing: run `npm run build` first');
  // The bench measures the worker it ships: rebuild the bundle from the sources first.
  execFileSync(process.execPath, [join(ROOT, 'scripts', 'build.ts')], { stdio: ['ignore', 'ignore', 'inherit'] });
  let llamaBin: string | undefined;
  try {
    llamaBin = llamaServerPath();
  } catch {
    llamaBin = undefined;
  }
  const machine = machineInfo(ROOT, llamaBin);
  let llama: Promise<BenchEngine> | undefined;
  let vllm: Promise<BenchEngine> | undefined;
  const engineKind = values.engine;
  if (engineKind !== 'llama-server' && engineKind !== 'vllm')
    throw new Error(`Expected --engine to be llama-server or vllm, got \`${String(engineKind)}\``);
  const ctx: BenchContext = {
    quick: values.quick === true || values.smoke === true,
    smoke: values.smoke === true,
    gSharedOnly: values['g-shared-only'] === true,
    date,
    resultsDir,
    workDir,
    command,
    log,
    shared: new Map(),
    llama: () => {
      llama ??= (async () => {
        log(`starting llama-server (${parallel} slots, ${threads} threads)`);
        return startLlama({ parallel, ctxPerSlot: 1024, threads, logFile: join(workDir, 'llama-server.log') });
      })();
      return llama;
    },
    engine: () => {
      if (engineKind === 'llama-server') return ctx.llama();
      vllm ??= (async () => {
        log(`starting vLLM on CPU (${threads} threads); its kernel compilation takes minutes`);
        return startVllm({ threads, logFile: join(workDir, 'vllm.log') });
      })();
      return vllm;
    },
  };
  const keys: Record<string, KeyValue> = {};
  const files: string[] = [];
  const errors: Record<string, string> = {};
  const t0 = performance.now();
  try {
    for (const s of scenarios) {
      const started = performance.now();
      log(`scenario ${s.id} (${s.title})`);
      let result: ScenarioResult | undefined;
      try {
        result = await s.run(ctx);
      } catch (err) {
        errors[s.id] = String((err as Error)?.stack ?? err).slice(0, 2000);
        log(`scenario ${s.id} FAILED: ${String((err as Error)?.message ?? err)}`);
      }
      for (const k of KEYS[s.id] ?? []) keys[k] = null;
      if (result !== undefined) Object.assign(keys, result.keys);
      if (result?.problems !== undefined && result.problems.length > 0) {
        errors[s.id] = result.problems.join('; ');
        log(`scenario ${s.id} FAILED its checks: ${errors[s.id]}`);
      }
      const base = join(resultsDir, `${date}-${s.name}${engineKind === 'vllm' && ['a', 'b', 'c'].includes(s.id) ? '-vllm' : ''}`);
      const engine =
        (s.id === 'a' || s.id === 'b' || s.id === 'c') && engineKind === 'vllm' && vllm !== undefined
          ? (await vllm.catch(() => undefined))?.settings
          : llama !== undefined
            ? (await llama.catch(() => undefined))?.settings
            : undefined;
      const record = {
        scenario: s.name,
        title: s.title,
        date: new Date().toISOString(),
        command,
        quick: ctx.quick,
        seconds: Math.round((performance.now() - started) / 100) / 10,
        machine,
        engine,
        keys: result?.keys ?? Object.fromEntries((KEYS[s.id] ?? []).map((k) => [k, null])),
        error: errors[s.id],
        arm_commands: result?.commands,
        cpu_seconds: result?.cpu,
        notes: result?.notes,
        details: result?.details,
      };
      writeFileSync(`${base}.json`, `${JSON.stringify(record, null, 2)}\n`);
      files.push(relative(ROOT, `${base}.json`));
      if (result !== undefined) {
        try {
          await writeChart(base, {
            ...result.chart,
            note: `${result.chart.note ?? ''}${result.chart.note !== undefined ? ' · ' : ''}${date}${ctx.quick ? ' --quick' : ''}`,
          });
          files.push(relative(ROOT, `${base}.png`));
        } catch (err) {
          log(`chart for ${s.id} failed: ${String(err)}`);
        }
      }
      log(`scenario ${s.id} done in ${((performance.now() - started) / 1000).toFixed(0)} s`);
    }
  } finally {
    if (llama !== undefined) await (await llama.catch(() => undefined))?.stop();
    if (vllm !== undefined) await (await vllm.catch(() => undefined))?.stop();
    if (values['keep-work'] !== true) rmSync(workDir, { recursive: true, force: true });
    else log(`work directory kept: ${workDir}`);
  }
  const out = {
    ...keys,
    _meta: {
      command,
      date,
      quick: ctx.quick,
      scenarios: scenarios.map((s) => s.id),
      seconds: Math.round((performance.now() - t0) / 1000),
      engine: { kind: engineKind, parallel, threads },
      machine: { cpus: machine.cpus, cpu_model: machine.cpu_model, loadavg_at_start: machine.loadavg_at_start },
      files,
      ...(Object.keys(errors).length > 0
        ? { errors: Object.fromEntries(Object.entries(errors).map(([k, v]) => [k, v.split('\n')[0]])) }
        : {}),
    },
  };
  process.stdout.write(`${JSON.stringify(out)}\n`);
  if (values.json !== true) for (const [k, v] of Object.entries(keys)) process.stderr.write(`${k.padEnd(34)} ${String(v)}\n`);
  return Object.keys(errors).length > 0 ? 1 : 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`bench: ${String((err as Error)?.stack ?? err)}\n`);
    process.exitCode = 2;
  },
);
