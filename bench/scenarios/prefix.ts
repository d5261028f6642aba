/**
 * g. The prefix plan (issue 21, docs/prefix-plan.md) against arrival order, end to end: real
 * llama-servers (the demo model, 1 thread each) beside the executors of a real Spark standalone
 * cluster on loopback, one engine per Spark worker through its `SPARKINFER_ENDPOINT`, as with
 * sidecars. Every arm is a whole `sparkinfer run` with `engine.prefix_order: auto` (the Spark-side
 * plan plus the slot-affinity dispatch) or `off` (Spark's round-robin rows, FIFO dispatch).
 *
 * Tables (rows shuffled, 16 output tokens with ignore_eos, so prefill is most of the work):
 *   - document QA: `docs` documents × `questions` questions, prompt `{{ doc }}` then `{{ question }}`;
 *   - few-shot: `variants` long instruction blocks as the system message, one question per row;
 *   - a prefix-free control: a unique context per row, where the plan must be skipped.
 * Document QA runs on 2 engines (2 executors of 1 core) and on 1; the others on 2. Each arm gets its
 * own salt at the start of its prefix column, so no arm finds another arm's prefixes cached.
 *
 * Measured: wall time per arm, and the prompt tokens the engines evaluated (the summary's
 * `prompt_tokens_evaluated`, from llama-server's `timings.cache_n`) against the minimum, where
 * each group's shared prefix is evaluated once (tokenized with the engine's own `/apply-template`
 * and `/tokenize`).
 */
import { join } from 'node:path';
import { mkdirSync, readFileSync } from 'node:fs';
import { startLlama, type BenchEngine } from '../lib/engines.ts';
import { endpointsOf, startStandalone } from '../lib/standalone.ts';
import { measureCpu, type CpuSeconds } from '../lib/proc.ts';
import { docQaRows, fewShotRows, proseOf, randomWordDocQaRows, writeJobFiles, writeJsonl, type Row } from '../lib/workload.ts';
import { runCli } from '../lib/spark.ts';
import { seededRandom } from '../../src/sim/clock.ts';
import { round, type BenchContext, type Scenario, type ScenarioResult } from '../lib/context.ts';

interface Sizes {
  /** Run the standalone-cluster arms (one engine per Spark worker: document QA, few-shot, control). */
  cluster: boolean;
  docs: number;
  questions: number;
  docChars: number;
  variants: number;
  blockChars: number;
  fewShotRows: number;
  controlRows: number;
  controlChars: number;
  slots: number;
  ctxPerSlot: number;
  /** The random-word document table (issue 37's user case), run on the shared-engine layouts. */
  rwDocs: number;
  rwWords: number;
  rwQuestions: number;
  /** Spark tasks sharing ONE llama-server (`local[n]`, n partitions), one layout each. */
  sharedTasks: number[];
}

/**
 * The full run: the standalone arms are sized to about 20 minutes on this 2-core machine
 * (llama-server with 1 thread prefills the demo model at ~165 tokens/s, measured 2026-12-05:
 * 166–170 tok/s for 320–620-token prompts, and decodes ~35 tok/s per sequence). Documents of ~600
 * characters are ~150 tokens; the issue's 600–1,000-token documents would take well over an hour
 * here (bench/README.md, g). The shared-engine layouts run the issue's user case whole: 16
 * random-word documents of 700 words (~750 tokens), 6 questions each, on one engine of 4 slots.
 * `--quick` runs only the shared-engine layouts, on 4 documents of 120 words × 4 questions: the
 * cluster start, its second engine and its eight arms (~12 minutes) do not fit its budget.
 */
const SIZES: Record<'smoke' | 'quick' | 'full', Sizes> = {
  smoke: {
    cluster: true,
    docs: 4,
    questions: 2,
    docChars: 300,
    variants: 2,
    blockChars: 300,
    fewShotRows: 4,
    controlRows: 8,
    controlChars: 200,
    slots: 2,
    ctxPerSlot: 1024,
    rwDocs: 3,
    rwWords: 60,
    rwQuestions: 2,
    sharedTasks: [2, 4],
  },
  quick: {
    cluster: false,
    docs: 16,
    questions: 8,
    docChars: 700,
    variants: 8,
    blockChars: 1200,
    fewShotRows: 32,
    controlRows: 32,
    controlChars: 500,
    slots: 4,
    ctxPerSlot: 2048,
    rwDocs: 4,
    rwWords: 120,
    rwQuestions: 4,
    sharedTasks: [2, 4],
  },
  full: {
    cluster: true,
    docs: 32,
    questions: 8,
    docChars: 600,
    variants: 8,
    blockChars: 1200,
    fewShotRows: 48,
    controlRows: 48,
    controlChars: 500,
    slots: 4,
    ctxPerSlot: 2048,
    rwDocs: 16,
    rwWords: 700,
    rwQuestions: 6,
    sharedTasks: [2, 4],
  },
};
const MAX_TOKENS = 16;

type TableName = 'docqa' | 'fewshot' | 'control' | 'randomword';
interface Table {
  name: TableName;
  rows: Row[];
  prompt: { api: 'chat'; system: string; user: string };
  prefixColumn: string;
}

interface Arm {
  table: TableName;
  /** `cluster`: one engine per Spark worker (standalone); `shared`: `tasks` local tasks, one engine. */
  layout: 'cluster' | 'shared';
  /** Engines (cluster) or Spark tasks sharing one engine (shared). */
  engines: number;
  order: 'off' | 'auto';
  rows: number;
  wallS: number;
  inferS: number | null;
  prepareS: number | null;
  promptTokens: number;
  evaluated: number | null;
  cacheShare: number | null;
  minimum: number | null;
  plan: unknown;
  enginesUsed: number;
  cpu: CpuSeconds;
}

function tables(z: Sizes): Table[] {
  const r = seededRandom(33);
  const control: Row[] = Array.from({ length: z.controlRows }, (_, i) => ({
    id: i,
    context: proseOf(z.controlChars, r, `Context ${i + 1}.`),
    question: `What is sentence ${1 + (i % 5)} about? (#${i})`,
  }));
  return [
    {
      name: 'docqa',
      rows: docQaRows(z.docs, z.questions, z.docChars),
      prefixColumn: 'doc',
      prompt: {
        api: 'chat',
        system: 'Answer the question about the document in one sentence.',
        user: '{{ doc }}\n\nQuestion: {{ question }}',
      },
    },
    {
      name: 'fewshot',
      rows: fewShotRows(z.fewShotRows, z.variants, z.blockChars, 7),
      prefixColumn: 'context',
      prompt: { api: 'chat', system: '{{ context }}', user: '{{ question }}' },
    },
    {
      name: 'randomword',
      rows: randomWordDocQaRows(z.rwDocs, z.rwQuestions, z.rwWords),
      prefixColumn: 'doc',
      prompt: {
        api: 'chat',
        system: 'Answer the question about the document in one sentence.',
        user: '{{ doc }}\n\nQuestion: {{ question }}',
      },
    },
    {
      name: 'control',
      rows: control,
      prefixColumn: 'context',
      prompt: {
        api: 'chat',
        system: 'Answer the question about the context in one sentence.',
        user: '{{ context }}\n\nQuestion: {{ question }}',
      },
    },
  ];
}

/** The messages a row renders to (the same templates as the job, which are plain substitutions). */
function messagesOf(t: Table, row: Row): Array<{ role: string; content: string }> {
  const fill = (s: string): string => s.replace(/\{\{ (\w+) \}\}/g, (_, c: string) => String(row[c] ?? ''));
  const out: Array<{ role: string; content: string }> = [];
  out.push({ role: 'system', content: fill(t.prompt.system) });
  out.push({ role: 'user', content: fill(t.prompt.user) });
  return out;
}

async function tokensOf(engine: BenchEngine, messages: Array<{ role: string; content: string }>): Promise<number[]> {
  const post = async (path: string, body: unknown): Promise<Record<string, unknown>> => {
    const res = await fetch(`${engine.origin}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    if (!res.ok) throw new Error(`${path}: HTTP ${res.status}`);
    return (await res.json()) as Record<string, unknown>;
  };
  const { prompt } = await post('/apply-template', { messages });
  const { tokens } = await post('/tokenize', { content: prompt, add_special: true });
  return tokens as number[];
}

/** Prompt tokens to evaluate when each group's shared prefix is evaluated once: the first row whole, the others past their common prefix with it. */
async function minimumEvaluated(engine: BenchEngine, t: Table, rows: readonly Row[]): Promise<number> {
  const firstOf = new Map<string, number[]>();
  let total = 0;
  for (const row of rows) {
    const toks = await tokensOf(engine, messagesOf(t, row));
    const key = String(row[t.prefixColumn]);
    const first = firstOf.get(key);
    if (first === undefined) {
      firstOf.set(key, toks);
      total += toks.length;
      continue;
    }
    let lcp = 0;
    while (lcp < toks.length && lcp < first.length && toks[lcp] === first[lcp]) lcp++;
    total += toks.length - Math.min(lcp, toks.length - 1); // an engine evaluates at least one token
  }
  return total;
}

/** Where one arm runs: the engines it may reach, the Spark master and settings, and the layout. */
interface Layout {
  layout: 'cluster' | 'shared';
  /** Engines (cluster) or tasks (shared): the arm's `engines` field and key suffix. */
  n: number;
  engines: BenchEngine[];
  spark: NonNullable<Parameters<typeof writeJobFiles>[1]['spark']>;
}

/** One whole `sparkinfer run` of table `t` with `prefix_order` `order` in layout `l`. */
async function runArm(ctx: BenchContext, dir: string, t: Table, l: Layout, order: 'off' | 'auto'): Promise<Arm> {
  const salt = `${t.name}-${l.layout}-${l.n}-${order}`;
  const rows = t.rows.map((r) => ({ ...r, [t.prefixColumn]: `[${salt}] ${String(r[t.prefixColumn])}` }));
  const input = join(dir, `input-${salt}.jsonl`);
  writeJsonl(input, rows);
  const files = writeJobFiles(dir, {
    name: `g-${salt}`,
    endpoint: (l.engines[0] as BenchEngine).endpoint,
    engineKind: 'llama-server',
    maxTokens: MAX_TOKENS,
    concurrency: 'auto',
    prefixOrder: order,
    prompt: t.prompt,
    inputPath: input,
    outputPath: join(dir, `out-${salt}`),
    runDir: join(dir, `run-${salt}`),
    spark: l.spark,
  });
  for (const e of l.engines) await e.waitIdle();
  const minimum = t.name === 'control' ? null : await minimumEvaluated(l.engines[0] as BenchEngine, t, rows);
  const tags: Array<[number | undefined, string]> = l.engines.map((e) => [e.pid(), 'engine']);
  const m = await measureCpu(() => runCli(files.yamlPath), tags);
  const s = m.value.summary;
  const runDir = String(s.run_dir);
  const planFile = JSON.parse(readFileSync(join(runDir, 'plan.json'), 'utf8')) as { prefix_plan?: unknown };
  const arm: Arm = {
    table: t.name,
    layout: l.layout,
    engines: l.n,
    order,
    rows: rows.length,
    wallS: m.value.wallS,
    inferS: m.value.inferS ?? null,
    prepareS: m.value.prepareS ?? null,
    promptTokens: Number(s.prompt_tokens ?? 0),
    evaluated: typeof s.prompt_tokens_evaluated === 'number' ? s.prompt_tokens_evaluated : null,
    cacheShare: typeof s.prompt_cache_share === 'number' ? s.prompt_cache_share : null,
    minimum,
    plan: planFile.prefix_plan ?? null,
    enginesUsed: endpointsOf(runDir).size,
    cpu: m.cpu,
  };
  const where = l.layout === 'cluster' ? `${l.n} engine(s)` : `${l.n} tasks on one engine`;
  ctx.log(
    `g: ${t.name}, ${where}, prefix_order ${order}: ${arm.wallS.toFixed(1)} s, ${arm.evaluated ?? '?'} of ${arm.promptTokens} prompt tokens evaluated (minimum ${minimum ?? '-'}), ${arm.enginesUsed} engine(s) used`,
  );
  return arm;
}

/** The standalone arms: 2 engines + a cluster of 2 one-core workers; document QA on 2 and 1, the others on 2. */
async function clusterArms(ctx: BenchContext, dir: string, z: Sizes, engines: BenchEngine[], arms: Arm[]): Promise<void> {
  ctx.log('g: starting a standalone cluster (master + 2 workers of 1 core, one engine each)');
  const cluster = await startStandalone(
    join(dir, 'cluster'),
    engines.map((e) => ({ SPARKINFER_ENDPOINT: e.endpoint })),
  );
  try {
    for (const t of tables(z).filter((x) => x.name !== 'randomword')) {
      for (const n of t.name === 'docqa' ? [2, 1] : [2]) {
        const spark = {
          master: cluster.master,
          partitions: 2 * n,
          conf: {
            'spark.cores.max': n,
            'spark.executor.cores': 1,
            'spark.executor.memory': '512m',
            'spark.task.maxFailures': 4,
            'spark.ui.enabled': false,
          },
        };
        for (const order of ['off', 'auto'] as const) arms.push(await runArm(ctx, dir, t, { layout: 'cluster', n, engines, spark }, order));
      }
    }
  } finally {
    await cluster.stop();
  }
}

/**
 * The shared-engine layouts, what a user gets by default in local mode: `local[n]` (n Spark tasks
 * at once, n partitions) and ONE llama-server of `slots` slots that every task's worker talks to.
 * The random-word document table, `off` then `auto`, for each n.
 */
async function sharedArms(ctx: BenchContext, dir: string, z: Sizes, engine: BenchEngine, arms: Arm[]): Promise<void> {
  const t = tables(z).find((x) => x.name === 'randomword') as Table;
  for (const n of z.sharedTasks) {
    const spark = { master: `local[${n},4]`, partitions: n, conf: { 'spark.ui.enabled': false } };
    for (const order of ['off', 'auto'] as const)
      arms.push(await runArm(ctx, dir, t, { layout: 'shared', n, engines: [engine], spark }, order));
  }
}

async function runG(ctx: BenchContext): Promise<ScenarioResult> {
  const sized = ctx.smoke ? SIZES.smoke : ctx.quick ? SIZES.quick : SIZES.full;
  // --g-shared-only: the issue's user case alone (the shared-engine layouts), at the run's sizes.
  const z = ctx.gSharedOnly === true ? { ...sized, cluster: false } : sized;
  const dir = join(ctx.workDir, 'g');
  mkdirSync(dir, { recursive: true });
  const engines: BenchEngine[] = [];
  const arms: Arm[] = [];
  try {
    for (let i = 0; i < (z.cluster ? 2 : 1); i++) {
      ctx.log(`g: starting llama-server ${i + 1} (${z.slots} slots of ${z.ctxPerSlot} tokens, 1 thread)`);
      engines.push(
        await startLlama({ parallel: z.slots, ctxPerSlot: z.ctxPerSlot, threads: 1, logFile: join(dir, `llama-server-${i}.log`) }),
      );
    }
    if (z.cluster) await clusterArms(ctx, dir, z, engines, arms);
    // The second engine is idle from here on: stop it so that it takes no CPU from the shared arms.
    for (const e of engines.slice(1)) await e.stop();
    await sharedArms(ctx, dir, z, engines[0] as BenchEngine, arms);
  } finally {
    for (const e of engines) await e.stop();
  }
  return resultOf(z, engines[0], arms);
}

function resultOf(z: Sizes, engine: BenchEngine | undefined, arms: Arm[]): ScenarioResult {
  const arm = (t: TableName, n: number, o: 'off' | 'auto'): Arm | undefined =>
    arms.find((a) => a.table === t && a.engines === n && a.order === o && a.layout === (t === 'randomword' ? 'shared' : 'cluster'));
  const speedup = (t: TableName, n: number): number | null => {
    const off = arm(t, n, 'off');
    const on = arm(t, n, 'auto');
    return off !== undefined && on !== undefined ? round(off.wallS / on.wallS) : null;
  };
  const vsMin = (a: Arm | undefined): number | null =>
    a !== undefined && a.evaluated !== null && a.minimum !== null && a.minimum > 0 ? round(a.evaluated / a.minimum) : null;
  const inferRatio = (t: TableName, n: number): number | null => {
    const off = arm(t, n, 'off')?.inferS;
    const on = arm(t, n, 'auto')?.inferS;
    return off != null && on != null ? round(off / on) : null;
  };
  const short: Record<TableName, string> = { docqa: 'qa', fewshot: 'fs', control: 'ctl', randomword: 'rw' };
  const label = (a: Arm): string =>
    `${short[a.table]}${a.engines}${a.layout === 'shared' ? 'T' : 'E'} ${a.order === 'auto' ? 'plan' : 'off'}`;
  const sharedKeys = Object.fromEntries(
    z.sharedTasks.flatMap((n) => [
      [`g_docqa_${n}tasks_speedup`, speedup('randomword', n)],
      [`g_docqa_${n}tasks_speedup_infer`, inferRatio('randomword', n)],
      [`g_docqa_${n}tasks_prefill_vs_minimum`, vsMin(arm('randomword', n, 'auto'))],
      [`g_docqa_${n}tasks_prefill_vs_minimum_arrival`, vsMin(arm('randomword', n, 'off'))],
    ]),
  );
  return {
    keys: {
      prefix_plan_speedup: speedup('docqa', 2),
      prefix_plan_speedup_1_engine: speedup('docqa', 1),
      prefix_plan_speedup_few_shot: speedup('fewshot', 2),
      prefill_tokens_vs_minimum: vsMin(arm('docqa', 2, 'auto')),
      prefill_tokens_vs_minimum_arrival: vsMin(arm('docqa', 2, 'off')),
      prefill_tokens_vs_minimum_1_engine: vsMin(arm('docqa', 1, 'auto')),
      prefill_tokens_vs_minimum_few_shot: vsMin(arm('fewshot', 2, 'auto')),
      prefix_free_ratio: speedup('control', 2),
      prefix_plan_speedup_infer: inferRatio('docqa', 2),
      prefix_free_ratio_infer: inferRatio('control', 2),
      ...sharedKeys,
    },
    details: {
      engine: engine?.settings ?? null,
      sizes: z,
      max_tokens: MAX_TOKENS,
      arms: arms.map(({ cpu: _cpu, ...a }) => a),
    },
    cpu: Object.fromEntries(arms.map((a) => [`${a.table}_${a.layout}_${a.engines}_${a.order}`, a.cpu])),
    commands: [],
    chart: {
      title: 'g. Prefix plan vs arrival order (llama-server)',
      kind: 'bar',
      yLabel: 'wall s (lower is better)',
      note: `${z.cluster ? `E: engines (cluster), qa ${z.docs}×${z.questions}; ` : ''}T: tasks on 1 engine, rw ${z.rwDocs} docs × ${z.rwWords} words × ${z.rwQuestions} q; ${MAX_TOKENS} tokens out, ${z.slots} slots`,
      series: [{ name: 'wall s', points: arms.map((a) => ({ x: label(a), y: round(a.wallS, 1) })) }],
    },
    notes: [
      'Every arm is a whole `sparkinfer run` (JVM start, plan, inference, write); speedups are wall(arrival order) / wall(plan).',
      'Layouts: `cluster` is the standalone cluster with one engine per Spark worker (sidecars); `shared` is local[n] with n partitions and ONE llama-server that every task uses (the default local layout).',
      "…_infer ratios use the driver's inference phase only (the plan's counting pass is in the prepare phase).",
      "prompt tokens evaluated: the summary's prompt_tokens_evaluated (llama-server timings.cache_n); minimum: each group's shared prefix evaluated once, tokenized by the engine (/apply-template, /tokenize).",
      'prefix_free_ratio: the control table (a unique context per row), wall(off) / wall(auto): the plan is skipped there and the worker keeps the FIFO.',
      z.cluster ? '' : '--quick and --g-shared-only run only the shared-engine layouts: the cluster keys are null.',
    ].filter((n) => n !== ''),
  };
}

export const scenarioG: Scenario = { id: 'g', name: 'g-prefix-plan', title: 'Prefix plan versus arrival order', run: runG };
