/**
 * `sparkinfer jvm-archive`: builds the driver JVM's class-data archive (src/spark/jvm-archive.ts)
 * by running one small real job (Spark local mode, the real driver, the bundled worker) with
 * `-XX:ArchiveClassesAtExit`. The classes that job loads are the ones every job loads: the JSON
 * reader and schema inference, the derived key's window and hash, the Parquet writer and reader,
 * the script transform that feeds the worker, the result parser, the UI's REST API.
 *
 * The job's engine is the instant fake (src/sim/server.ts, `mode: instant`), in this process: the
 * run exists to load classes, and its answers are thrown away with its temporary folder.
 */
import { mkdirSync, mkdtempSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { startSimServer } from '../sim/server.ts';
import { runJob } from './run.ts';
import { packageRoot } from '../install/layout.ts';
import { jvmArchivePath, safeInOptions } from '../spark/jvm-archive.ts';
import { sparkSubmitBin } from '../spark/submit.ts';
import { RuntimeFailure } from '../errors.ts';

export interface BuildArchiveOptions {
  /** Rebuild even when the archive exists. */
  force?: boolean;
  log: (line: string) => void;
}

export interface BuildArchiveResult {
  path: string;
  built: boolean;
  bytes: number;
  seconds: number;
}

const TRAINING_ROWS = 24;

function trainingJob(endpoint: string): string {
  // No `input.key`: the derived key's classes (window, sha2) are loaded too.
  return [
    'name: jvm-archive-training',
    'input: { format: json, path: input.jsonl }',
    'prompt:',
    '  system: "Answer in one word."',
    '  user: "{{ question }} ({{ n }})"',
    'model: training',
    'sampling: { max_tokens: 4 }',
    `engine: { endpoint: "${endpoint}", kind: openai, concurrency: auto, startup_timeout: 60s }`,
    'output: { format: parquet, path: out, mode: overwrite, include: [n] }',
    'spark: { master: "local[2]" }',
    '',
  ].join('\n');
}

export async function buildJvmArchive(o: BuildArchiveOptions): Promise<BuildArchiveResult> {
  const t0 = Date.now();
  const path = jvmArchivePath(sparkSubmitBin(packageRoot()));
  const sizeOf = (file: string): number => {
    try {
      return statSync(file).size;
    } catch {
      return -1;
    }
  };
  if (!safeInOptions(path)) {
    throw new RuntimeFailure(
      `the cache path ${path} has whitespace or quotes, which Spark's java options cannot carry; set SPARKINFER_CACHE to a plain path`,
    );
  }
  const existing = sizeOf(path);
  if (o.force !== true && existing > 0) return { path, built: false, bytes: existing, seconds: 0 };
  mkdirSync(dirname(path), { recursive: true });
  const work = mkdtempSync(join(dirname(path), 'training-'));
  const partial = join(work, 'archive.jsa');
  const fake = await startSimServer({ mode: 'instant', model: 'training' });
  try {
    const rows = Array.from({ length: TRAINING_ROWS }, (_, i) => JSON.stringify({ n: i, question: `What is ${i} + ${i}?` }));
    writeFileSync(join(work, 'input.jsonl'), `${rows.join('\n')}\n`);
    writeFileSync(join(work, 'job.yaml'), trainingJob(`${fake.url}/v1`));
    o.log(`sparkinfer: building the JVM class-data archive (a ${TRAINING_ROWS}-row job against the instant fake engine; about a minute)`);
    const { summary, exitCode } = await runJob({
      jobPath: join(work, 'job.yaml'),
      log: o.log,
      progress: () => {},
      tty: false,
      jvmArchive: { create: partial },
    });
    if (exitCode !== 0) throw new RuntimeFailure(`the training job failed (${summary.message ?? summary.status}); see ${summary.run_dir}`);
    const bytes = sizeOf(partial);
    if (bytes <= 0) throw new RuntimeFailure(`the JVM wrote no archive at ${partial}; its log is under ${work}`);
    renameSync(partial, path);
    rmSync(work, { recursive: true, force: true });
    return { path, built: true, bytes, seconds: (Date.now() - t0) / 1000 };
  } finally {
    await fake.close();
  }
}
