/**
 * `sparkinfer batch -i IN.jsonl -o OUT.jsonl [--endpoint URL | --launch] [--model M]`: an OpenAI
 * Batch input file in, an OpenAI Batch output file out, with Spark doing the work underneath
 * (like `vllm run-batch`, plus retries, resume and any engine).
 *
 * The phases of a run (run.ts) with batch's own resolve and commit: resolve writes a job
 * (`input`/`output.format: openai-batch`) into the run root `OUT.jsonl.sparkinfer/`; `runJob` runs
 * it; commit joins Spark's part files into the single file at `-o` (written beside it, then
 * renamed, so a crash never leaves half a file). A rerun after a failure resumes from the ledger
 * there; the root stays for that reason (and its logs).
 */
import {
  createReadStream,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
  writeSync,
  closeSync,
} from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { InputError, SpecError } from '../errors.ts';
import { runJob, type RunResult } from './run.ts';
import type { JobSpecInput } from '../jobfile/schema.ts';

export interface BatchOptions {
  /** OpenAI Batch input file (JSON lines). */
  input: string;
  /** Output file (JSON lines); refused when it exists unless `overwrite`. */
  output: string;
  /** An OpenAI-compatible endpoint (`…/v1`). Exclusive with `launch`. */
  endpoint?: string;
  /** Start a local llama-server for the run. */
  launch?: boolean;
  /** Model name sent in every body (the lines' own `model` is replaced), and the model to launch. Default with `launch`: the demo model. Without it, the lines' models are kept. */
  model?: string;
  /** Adapter for `endpoint`: llama-server, vllm or openai (generic). Default openai. */
  kind?: 'llama-server' | 'vllm' | 'openai';
  /** Keep each line's `model` even when `model` is given. Default false. */
  keepModel?: boolean;
  /** Replace an existing output file. Default false. */
  overwrite?: boolean;
  /** Extra `--set path=value` overrides of the generated job. */
  set?: string[];
  fresh?: boolean;
  log: (line: string) => void;
  progress: (line: string) => void;
  tty: boolean;
  signal?: AbortSignal;
}

const DEMO_MODEL = 'smollm2-135m-instruct';

/** Whether every line asks for /v1/embeddings (a launched llama-server then starts as an embeddings instance). */
async function onlyEmbeddings(path: string): Promise<boolean> {
  const rl = createInterface({ input: createReadStream(path, 'utf8'), crlfDelay: Infinity });
  let any = false;
  for await (const line of rl) {
    if (line.trim() === '') continue;
    let url: unknown;
    try {
      url = (JSON.parse(line) as { url?: unknown }).url;
    } catch {
      return false; // the driver reports malformed lines
    }
    if (url !== '/v1/embeddings') {
      rl.close();
      return false;
    }
    any = true;
  }
  return any;
}

/** The generated job (exported for tests and `--dry-run`-like inspection). */
export function batchJob(
  o: Pick<BatchOptions, 'endpoint' | 'launch' | 'model' | 'kind' | 'keepModel'> & {
    input: string;
    partsDir: string;
    root: string;
    embeddings: boolean;
  },
): JobSpecInput {
  const launch = o.launch === true;
  const keep = o.keepModel === true || (!launch && o.model === undefined);
  return {
    name: 'batch',
    input: { format: 'openai-batch', path: o.input, ...(keep ? { keep_model: true } : {}) },
    // Without --model the lines' models are sent; this name only labels the output rows.
    model: o.model ?? (launch ? DEMO_MODEL : 'from-batch-lines'),
    engine: launch
      ? { launch: { kind: 'llama-server', model: o.model ?? DEMO_MODEL, ...(o.embeddings ? { embeddings: true } : {}) } }
      : { endpoint: o.endpoint as string, kind: o.kind ?? 'openai' },
    // The parts folder is ours: overwrite it. The guard for the user's file is --overwrite.
    output: { format: 'openai-batch', path: o.partsDir, mode: 'overwrite' },
    resume: { dir: o.root },
  };
}

/** Joins the part files of a Spark text output into one file, atomically. Returns the line count. */
export function joinParts(partsDir: string, target: string): number {
  const parts = readdirSync(partsDir)
    .filter((n) => n.startsWith('part-'))
    .sort();
  const tmp = join(dirname(target), `.${basename(target)}.tmp-${process.pid}`);
  const fd = openSync(tmp, 'w');
  let lines = 0;
  try {
    for (const p of parts) {
      const text = readFileSync(join(partsDir, p), 'utf8');
      if (text === '') continue;
      writeSync(fd, text.endsWith('\n') ? text : `${text}\n`);
      for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) lines++;
      if (!text.endsWith('\n')) lines++;
    }
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, target);
  return lines;
}

/** The resolve phase: the files checked, the job written into the run root. Spec and input problems throw (exit 2). */
export async function resolveBatch(o: BatchOptions): Promise<{ jobPath: string; partsDir: string; output: string }> {
  const input = resolve(o.input);
  const output = resolve(o.output);
  if ((o.endpoint === undefined) === (o.launch !== true)) throw new SpecError('batch: give either --endpoint URL or --launch');
  if (!existsSync(input) || !statSync(input).isFile()) throw new InputError(`batch: input file ${input} does not exist`);
  if (input === output) throw new SpecError('batch: -o is the input file; write the results somewhere else');
  if (existsSync(output) && o.overwrite !== true) throw new InputError(`batch: ${output} exists; pass --overwrite to replace it`);
  const root = `${output}.sparkinfer`;
  mkdirSync(root, { recursive: true });
  const partsDir = join(root, 'output');
  const embeddings = o.launch === true && (await onlyEmbeddings(input));
  const job = batchJob({ ...o, input, partsDir, root, embeddings });
  const jobPath = join(root, 'batch-job.json');
  writeFileSync(jobPath, JSON.stringify(job, null, 2)); // JSON is YAML: runJob reads it like any job file
  return { jobPath, partsDir, output };
}

/** Runs an OpenAI Batch file through Spark. Spec and input problems throw (exit 2) before anything starts. */
export async function runBatch(o: BatchOptions): Promise<RunResult> {
  const { jobPath, partsDir, output } = await resolveBatch(o);
  const result = await runJob({
    jobPath,
    set: o.set ?? [],
    fresh: o.fresh === true,
    log: o.log,
    progress: o.progress,
    tty: o.tty,
    ...(o.signal !== undefined ? { signal: o.signal } : {}),
  });
  // The commit phase: the parts become the one file at -o.
  if (result.exitCode === 0) {
    const n = joinParts(partsDir, output);
    rmSync(partsDir, { recursive: true, force: true });
    o.log(`sparkinfer: wrote ${n} lines to ${output}`);
    result.summary.output = output;
  }
  return result;
}
