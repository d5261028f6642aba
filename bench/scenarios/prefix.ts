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
import { docQaRows, fewShotRows, proseOf, writeJobFiles, writeJsonl, type Row } from '../lib/workload.ts';
import { runCli } from '../lib/spark.ts';
import { seededRandom } from '../../src/sim/clock.ts';
import { round, type BenchContext, type Scenario, type ScenarioResult } from '../lib/context.ts';

interface Sizes {
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
}

/**
 * The full run is sized to about 20 minutes on this 2-core machine: llama-server with 1 thread
 * prefills the demo model at ~165 tokens/s (measured 2026-12-05: 166–170 tok/s for 320–620-token
 * prompts) and decodes ~35 tok/s per sequence; the quick run took 786 s. Documents of ~600
 * characters are ~150 tokens; the 600–1,000-token documents would take well over an hour
 * here (bench/README.md, g).
 */
const SIZES: Record<'smoke' | 'quick' | 'full', Sizes> = {
  smoke: {
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
  },
  quick: {
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
  },
  full: {
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
  },
};
const MAX_TOKENS = 16;

type TableName = 'docqa' | 'fewshot' | 'control';
interface Table {
  name: TableName;
  rows: Row[];
  prompt: { api: 'chat'; system: string; user: string };
  prefixColumn: string;
}

interface Arm {
  table: TableName;
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

async function runG(ctx: BenchContext): Promise<ScenarioResult> {
  const z = ctx.smoke ? SIZES.smoke : ctx.quick ? SIZES.quick : SIZES.full;
  const dir = join(ctx.workDir, 'g');
  mkdirSync(dir, { recursive: true });
  const engines: BenchEngine[] = [];
  const arms: Arm[] = [];
  let cluster: Awaited<ReturnType<typeof startStandalone>> | undefined;
  try {
    for (let i = 0; i < 2; i++) {
      ctx.log(`g: starting llama-server ${i + 1} of 2 (${z.slots} slots of ${z.ctxPerSlot} tokens, 1 thread)`);
      engines.push(
        await startLlama({ parallel: z.slots, ctxPerSlot: z.ctxPerSlot, threads: 1, logFile: join(dir, `llama-server-${i}.log`) }),
      );
    }
    ctx.log('g: starting a standalone cluster (master + 2 workers of 1 core, one engine each)');
    cluster = await startStandalone(
      join(dir, 'cluster'),
      engines.map((e) => ({ SPARKINFER_ENDPOINT: e.endpoint })),
    );
    const tags: Array<[number | undefined, string]> = engines.map((e) => [e.pid(), 'engine']);
    for (const t of tables(z)) {
      for (const n of t.name === 'docqa' ? [2, 1] : [2]) {
        for (const order of ['off', 'auto'] as const) {
          const salt = `${t.name}-${n}-${order}`;
          const rows = t.rows.map((r) => ({ ...r, [t.prefixColumn]: `[${salt}] ${String(r[t.prefixColumn])}` }));
          const input = join(dir, `input-${salt}.jsonl`);
          writeJsonl(input, rows);
          const files = writeJobFiles(dir, {
            name: `g-${salt}`,
            endpoint: (engines[0] as BenchEngine).endpoint,
            engineKind: 'llama-server',
            maxTokens: MAX_TOKENS,
            concurrency: 'auto',
            prefixOrder: order,
            prompt: t.prompt,
            inputPath: input,
            outputPath: join(dir, `out-${salt}`),
            runDir: join(dir, `run-${salt}`),
            spark: {
              master: cluster.master,
              partitions: 2 * n,
              conf: {
                'spark.cores.max': n,
                'spark.executor.cores': 1,
                'spark.executor.memory': '512m',
                'spark.task.maxFailures': 4,
                'spark.ui.enabled': false,
              },
            },
          });
          for (const e of engines) await e.waitIdle();
          const minimum = t.name === 'control' ? null : await minimumEvaluated(engines[0] as BenchEngine, t, rows);
          const m = await measureCpu(() => runCli(files.yamlPath), tags);
          const s = m.value.summary;
          const runDir = String(s.run_dir);
          const planFile = JSON.parse(readFileSync(join(runDir, 'plan.json'), 'utf8')) as { prefix_plan?: unknown };
          const arm: Arm = {
            table: t.name,
            engines: n,
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
          arms.push(arm);
          ctx.log(
            `g: ${t.name}, ${n} engine(s), prefix_order ${order}: ${arm.wallS.toFixed(1)} s, ${arm.evaluated ?? '?'} of ${arm.promptTokens} prompt tokens evaluated (minimum ${minimum ?? '-'}), ${arm.enginesUsed} engine(s) used`,
          );
        }
      }
    }
  } finally {
    await cluster?.stop();
    for (const e of engines) await e.stop();
  }
  const arm = (t: TableName, n: number, o: 'off' | 'auto'): Arm =>
    arms.find((a) => a.table === t && a.engines === n && a.order === o) as Arm;
  const speedup = (t: TableName, n: number): number => round(arm(t, n, 'off').wallS / arm(t, n, 'auto').wallS);
  const vsMin = (a: Arm): number | null =>
    a.evaluated !== null && a.minimum !== null && a.minimum > 0 ? round(a.evaluated / a.minimum) : null;
  const inferRatio = (t: TableName, n: number): number | null => {
    const off = arm(t, n, 'off').inferS;
    const on = arm(t, n, 'auto').inferS;
    return off !== null && on !== null ? round(off / on) : null;
  };
  const label = (a: Arm): string => `${a.table} ${a.engines}E ${a.order === 'auto' ? 'plan' : 'arrival'}`;
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
    },
    details: {
      engine: (engines[0] as BenchEngine | undefined)?.settings ?? null,
      engines: 2,
      sizes: z,
      max_tokens: MAX_TOKENS,
      arms: arms.map(({ cpu: _cpu, ...a }) => a),
    },
    cpu: Object.fromEntries(arms.map((a) => [`${a.table}_${a.engines}_${a.order}`, a.cpu])),
    commands: [],
    chart: {
      title: 'g. Prefix plan vs arrival order (llama-server, standalone cluster)',
      kind: 'bar',
      yLabel: 'wall s (lower is better)',
      note: `${z.docs} docs × ${z.questions} questions, ${z.variants} few-shot blocks, ${z.controlRows} prefix-free rows; ${MAX_TOKENS} output tokens; 1-thread engines, ${z.slots} slots`,
      series: [{ name: 'wall s', points: arms.map((a) => ({ x: label(a), y: round(a.wallS, 1) })) }],
    },
    notes: [
      'Every arm is a whole `sparkinfer run` (JVM start, plan, inference, write) on the standalone cluster; speedups are wall(arrival order) / wall(plan).',
      "prefix_plan_speedup_infer uses the driver's inference phase only (the plan's counting pass is in the prepare phase).",
      "prompt tokens evaluated: the summary's prompt_tokens_evaluated (llama-server timings.cache_n); minimum: each group's shared prefix evaluated once, tokenized by the engine (/apply-template, /tokenize).",
      "prefix_free_ratio: the control table (a unique context per row), wall(off) / wall(auto): the plan is skipped there and the worker's slot queue sends rows in arrival order.",
    ],
  };
}

export const scenarioG: Scenario = { id: 'g', name: 'g-prefix-plan', title: 'Prefix plan versus arrival order', run: runG };
