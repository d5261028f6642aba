/**
 * Benchmark workloads: deterministic rows, the job that renders them, the exact request bodies
 * the worker would send (for the reference load), and the files each arm reads (Spark input,
 * worker protocol lines, a YAML job for the CLI).
 */
import { mkdirSync, writeFileSync, createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { once } from 'node:events';
import { stringify } from 'yaml';
import { JobSpec, type JobSpecInput } from '../../src/jobfile/schema.ts';
import type { ResolvedJob } from '../../src/jobfile/resolved.ts';
import { referencedColumns } from '../../src/prompt/analyze.ts';
import { makeRequestBuilder } from '../../src/worker/request.ts';
import { seededRandom } from '../../src/sim/clock.ts';
import { LINE_COLUMN } from '../../src/worker/openai-batch.ts';

export type Row = Record<string, string | number>;

const TOPICS = [
  'rivers',
  'volcanoes',
  'bridges',
  'tea',
  'comets',
  'owls',
  'glass',
  'maps',
  'bees',
  'salt',
  'clocks',
  'wind',
  'copper',
  'moss',
  'tides',
  'paper',
  'deserts',
  'violins',
  'lighthouses',
  'coral',
];
const ASKS = [
  'What is one surprising fact about',
  'Explain in simple words how people use',
  'Why do children find',
  'Describe the history of',
  'Give a short tip about',
  'What would a scientist say about',
];

/** `n` short questions with a unique `id` (the demo model answers anything). */
export function questionRows(n: number, seed = 1): Row[] {
  const r = seededRandom(seed);
  return Array.from({ length: n }, (_, i) => ({
    id: i,
    question: `${ASKS[Math.floor(r() * ASKS.length)] ?? ''} ${TOPICS[Math.floor(r() * TOPICS.length)] ?? ''}? (#${i})`,
  }));
}

/**
 * A few-shot workload: `groups` distinct long instruction blocks (about `blockChars` characters
 * each, distinct from their first line), rows shuffled so the blocks interleave in arrival order.
 */
export function fewShotRows(n: number, groups: number, blockChars: number, seed = 7): Row[] {
  const r = seededRandom(seed);
  const blocks = Array.from({ length: groups }, (_, g) => {
    const lines = [`Task ${g + 1} of ${groups}: classify the topic of the question, following the examples below.`];
    let k = 0;
    while (lines.join('\n').length < blockChars) {
      const t = TOPICS[(g * 7 + k * 3) % TOPICS.length] ?? '';
      lines.push(`Example ${k + 1} for task ${g + 1}: Q: ${ASKS[(g + k) % ASKS.length] ?? ''} ${t}? A: ${t} (group ${g + 1}).`);
      k++;
    }
    return lines.join('\n');
  });
  return Array.from({ length: n }, (_, i) => {
    const g = Math.floor(r() * groups);
    return {
      id: i,
      context: blocks[g] ?? '',
      question: `${ASKS[Math.floor(r() * ASKS.length)] ?? ''} ${TOPICS[Math.floor(r() * TOPICS.length)] ?? ''}? (#${i})`,
    };
  });
}

const WORDS = [
  'the',
  'river',
  'stone',
  'market',
  'engine',
  'history',
  'winter',
  'garden',
  'signal',
  'paper',
  'copper',
  'valley',
  'orbit',
  'lantern',
  'harbor',
  'field',
  'north',
  'bridge',
  'salt',
  'clock',
  'glass',
  'coral',
  'tide',
  'forest',
  'a',
  'of',
  'and',
  'near',
];

/** About `chars` characters of seeded filler prose with numbered sentences (a document or a context). */
export function proseOf(chars: number, r: () => number, title: string): string {
  const out: string[] = [title];
  let n = title.length;
  for (let k = 1; n < chars; k++) {
    const len = 8 + Math.floor(r() * 8);
    const s = `${k}. ${Array.from({ length: len }, () => WORDS[Math.floor(r() * WORDS.length)] ?? '').join(' ')}.`;
    out.push(s);
    n += s.length + 1;
  }
  return out.join(' ');
}

/**
 * A document-QA table: `docs` documents of about `docChars` characters, `questions` questions
 * each, rows shuffled (seeded) so the questions about one document are spread over the table.
 * Columns `id`, `doc`, `question`.
 */
export function docQaRows(docs: number, questions: number, docChars: number, seed = 21): Row[] {
  const r = seededRandom(seed);
  const texts = Array.from({ length: docs }, (_, d) =>
    proseOf(docChars, r, `Document ${d + 1}: notes on ${TOPICS[d % TOPICS.length] ?? ''}.`),
  );
  const rows: Row[] = [];
  for (let d = 0; d < docs; d++) {
    for (let q = 0; q < questions; q++)
      rows.push({
        id: rows.length,
        doc: texts[d] ?? '',
        question: `${ASKS[q % ASKS.length] ?? ''} sentence ${q + 1} of document ${d + 1}?`,
      });
  }
  for (let i = rows.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [rows[i], rows[j]] = [rows[j] as Row, rows[i] as Row];
  }
  return rows;
}

/** Common English words for the random-word documents (about one token each for the demo model's tokenizer). */
const VOCABULARY = (
  'time year people way day man thing woman life child world school state family student group country problem ' +
  'hand part place case week company system program question work government number night point home water room ' +
  'mother area money story fact month lot right study book eye job word business issue side kind head house service ' +
  'friend father power hour game line end member law car city community name president team minute idea kid body ' +
  'information back parent face others level office door health person art war history party result change morning ' +
  'reason research girl guy moment air teacher force education foot boy age policy music market sense nation plan ' +
  'college interest death experience effect use class control care field development role effort rate heart drug ' +
  'show leader light voice wife police mind price report decision son view relationship town road arm difference'
).split(' ');

/**
 * The issue's user case (issue 37): `docs` documents of `words` words drawn at random (seeded) from
 * a common vocabulary, `questions` questions each, rows shuffled. Columns `id`, `doc`, `question`.
 * Random words share no phrases between documents, so only a document's own cached prefix helps.
 */
export function randomWordDocQaRows(docs: number, questions: number, words: number, seed = 37): Row[] {
  const r = seededRandom(seed);
  const pick = (): string => VOCABULARY[Math.floor(r() * VOCABULARY.length)] ?? 'word';
  const texts = Array.from({ length: docs }, (_, d) => `Document ${d + 1}: ${Array.from({ length: words }, pick).join(' ')}.`);
  const rows: Row[] = [];
  for (let d = 0; d < docs; d++)
    for (let q = 0; q < questions; q++)
      rows.push({
        id: rows.length,
        doc: texts[d] ?? '',
        question: `How often does the word "${pick()}" appear in document ${d + 1}? (question ${q + 1})`,
      });
  for (let i = rows.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [rows[i], rows[j]] = [rows[j] as Row, rows[i] as Row];
  }
  return rows;
}

/**
 * The question rows as OpenAI Batch lines (column `_line`) whose answers differ in length: each
 * body asks for `max_tokens` drawn uniformly from [lo, hi] (seeded), with `ignore_eos`, so every
 * arm that sends these bodies generates exactly the same tokens. Requests admitted together then
 * finish at different steps, as real answers do, instead of in lockstep waves.
 */
export function batchLineRows(rows: readonly Row[], model: string, lo: number, hi: number, seed = 11): Row[] {
  const r = seededRandom(seed);
  return rows.map((row, i) => {
    const body = {
      model,
      messages: [
        { role: 'system', content: 'You are a helpful assistant. Answer in one or two sentences.' },
        { role: 'user', content: String(row.question ?? '') },
      ],
      temperature: 0,
      max_tokens: lo + Math.floor(r() * (hi - lo + 1)),
      ignore_eos: true,
    };
    return { id: row.id ?? i, [LINE_COLUMN]: JSON.stringify({ custom_id: `r${i}`, method: 'POST', url: '/v1/chat/completions', body }) };
  });
}

export interface JobOptions {
  name: string;
  endpoint: string;
  engineKind: 'llama-server' | 'vllm' | 'openai';
  maxTokens: number;
  concurrency: number | 'auto';
  /** Input JSON Lines path (Spark arms). */
  inputPath: string;
  outputPath: string;
  runDir: string;
  prefixOrder?: 'auto' | 'off';
  /** The few-shot workload puts `context` in the system message. */
  fewShot?: boolean;
  /** Replaces the prompt section (scenario g's document-QA and control tables). */
  prompt?: JobSpecInput['prompt'];
  spark?: JobSpecInput['spark'];
  /** The job's `model` (the engine's alias). Default `smollm2-135m-instruct`. */
  model?: string;
  /**
   * Rows are OpenAI Batch lines in a `_line` column (`batchLineRows`), each body with its own
   * sampling: the job reads `input.format: openai-batch` and has no prompt or sampling section.
   */
  openaiBatch?: boolean;
  /** `engine.request_timeout` (default 10m; bench h sets seconds so a held request costs seconds). */
  requestTimeout?: string;
  /** `engine.retries` (default: the schema's). */
  retries?: number;
}

/** The job as the user would write it (the CLI arm gets this as YAML). */
export function jobInput(o: JobOptions): JobSpecInput {
  if (o.openaiBatch === true) {
    return {
      name: o.name,
      input: { format: 'openai-batch', path: o.inputPath },
      model: o.model ?? 'smollm2-135m-instruct',
      engine: { endpoint: o.endpoint, kind: o.engineKind, concurrency: o.concurrency, request_timeout: '10m', startup_timeout: '2m' },
      output: { format: 'openai-batch', path: o.outputPath, mode: 'overwrite' },
      resume: { dir: join(o.runDir, 'runs') },
    };
  }
  return {
    name: o.name,
    input: { format: 'json', path: o.inputPath, key: 'id' },
    prompt:
      o.prompt ??
      (o.fewShot === true
        ? { api: 'chat', system: '{{ context }}', user: '{{ question }}' }
        : { api: 'chat', system: 'You are a helpful assistant. Answer in one or two sentences.', user: '{{ question }}' }),
    model: o.model ?? 'smollm2-135m-instruct',
    // ignore_eos with a fixed max_tokens: every arm generates exactly the same number of tokens.
    sampling: { temperature: 0, max_tokens: o.maxTokens, ignore_eos: true },
    engine: {
      endpoint: o.endpoint,
      kind: o.engineKind,
      concurrency: o.concurrency,
      request_timeout: o.requestTimeout ?? '10m',
      startup_timeout: '2m',
      ...(o.retries !== undefined ? { retries: o.retries } : {}),
      ...(o.prefixOrder !== undefined ? { prefix_order: o.prefixOrder } : {}),
    },
    output: { format: 'json', path: o.outputPath, mode: 'overwrite' },
    ...(o.spark !== undefined ? { spark: o.spark } : {}),
    resume: { dir: join(o.runDir, 'runs') },
  };
}

/** The resolved job a worker reads (what the CLI would write as job.json). */
export function resolvedJob(o: JobOptions): ResolvedJob {
  const job = JobSpec.parse(jobInput(o));
  return {
    ...job,
    run: {
      id: `${o.name}-bench`,
      dir: o.runDir,
      root: o.runDir,
      columns: o.openaiBatch === true ? [LINE_COLUMN] : referencedColumns(job.prompt),
      endpoint: o.endpoint,
      engine_kind: o.engineKind,
      fresh: true,
      retry_errors: false,
      fingerprint: 'bench',
    },
  };
}

/** The exact bodies the worker sends for these rows (same builder, same job). */
export function bodiesFor(job: ResolvedJob, rows: readonly Row[]): { path: string; bodies: string[] } {
  const b = makeRequestBuilder(job, () => {});
  const columns = job.run.columns;
  let path = '/chat/completions';
  const bodies = rows.map((row, i) => {
    const pick: Record<string, unknown> = {};
    for (const c of columns) pick[c] = row[c];
    const p = b.prepare({ key: String(row.id ?? i), carry: null, row: pick });
    path = p.path;
    return p.body;
  });
  return { path: `/v1${path}`, bodies };
}

/** One worker protocol line for a row: `{_k, <referenced columns>, _c}`. */
export function protocolLine(row: Row, columns: readonly string[], key: string): string {
  const o: Record<string, unknown> = { _k: key };
  for (const c of columns) o[c] = row[c] ?? null;
  o._c = null;
  return JSON.stringify(o);
}

export function writeJsonl(path: string, rows: readonly Row[]): void {
  writeFileSync(path, `${rows.map((r) => JSON.stringify(r)).join('\n')}\n`);
}

/** Writes `count` protocol lines cycling over `rows` (keys stay unique), streaming. */
export async function writeProtocolFile(path: string, rows: readonly Row[], columns: readonly string[], count: number): Promise<void> {
  const out = createWriteStream(path);
  let buf = '';
  for (let i = 0; i < count; i++) {
    buf += `${protocolLine(rows[i % rows.length] as Row, columns, `k${i}`)}\n`;
    if (buf.length > 1 << 20) {
      if (!out.write(buf)) await once(out, 'drain');
      buf = '';
    }
  }
  out.end(buf);
  await once(out, 'finish');
}

export function writeJobFiles(dir: string, o: JobOptions): { yamlPath: string; jobJsonPath: string; job: ResolvedJob } {
  mkdirSync(dir, { recursive: true });
  const yamlPath = join(dir, `${o.name}.yaml`);
  writeFileSync(yamlPath, stringify(jobInput(o)));
  const job = resolvedJob(o);
  const jobJsonPath = join(dir, `${o.name}.job.json`);
  writeFileSync(jobJsonPath, JSON.stringify(job));
  return { yamlPath, jobJsonPath, job };
}
