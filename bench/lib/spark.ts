/**
 * The Spark arms: sparkinfer end to end through the real CLI (`bin/sparkinfer run JOB --json`),
 * and today's practice, a PySpark job with one synchronous request per row
 * (bench/baseline/sequential.py), both through real spark-submit.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './engines.ts';
import { tracked } from './children.ts';

export interface Exec {
  code: number;
  stdout: string;
  stderr: string;
  wallS: number;
}

/** Runs a command in its own process group (killed whole on timeout) and collects its output. */
export function exec(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number; cwd?: string } = {}): Promise<Exec> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const child = tracked(
      spawn(cmd, args, { cwd: opts.cwd ?? ROOT, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true }),
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (stderr.length > 1 << 20) stderr = stderr.slice(-(1 << 19));
    });
    const timer = setTimeout(() => {
      try {
        process.kill(-(child.pid ?? 0), 'SIGKILL');
      } catch {
        /* gone */
      }
    }, opts.timeoutMs ?? 1_800_000);
    child.on('error', reject);
    child.on('close', (code, sig) => {
      clearTimeout(timer);
      resolve({ code: code ?? (sig !== null ? 137 : 1), stdout, stderr, wallS: (performance.now() - t0) / 1000 });
    });
  });
}

export interface CliRun {
  summary: Record<string, unknown>;
  /** From the driver: prepare (read, keys, materialize) and infer (TRANSFORM + write) seconds. */
  prepareS: number | undefined;
  inferS: number | undefined;
  wallS: number;
  completionTokens: number;
  rowsOk: number;
  command: string[];
}

/** `bin/sparkinfer run JOB --json [...extra]`; throws with the CLI's stderr tail when it fails. */
export async function runCli(yamlPath: string, extra: string[] = [], env?: NodeJS.ProcessEnv): Promise<CliRun> {
  const args = ['run', yamlPath, '--json', ...extra];
  const r = await exec(join(ROOT, 'bin', 'sparkinfer'), args, { env: { ...process.env, ...env } });
  const last = r.stdout.trim().split('\n').at(-1) ?? '';
  let summary: Record<string, unknown>;
  try {
    summary = JSON.parse(last) as Record<string, unknown>;
  } catch {
    throw new Error(`sparkinfer run printed no summary (exit ${r.code}): ${r.stderr.slice(-2000)}`);
  }
  if (r.code !== 0 || summary.status !== 'succeeded')
    throw new Error(`sparkinfer run failed (exit ${r.code}): ${String(summary.message ?? '')} ${r.stderr.slice(-1500)}`);
  const runDir = String(summary.run_dir ?? '');
  const dsPath = join(runDir, 'driver_summary.json');
  const ds = existsSync(dsPath) ? (JSON.parse(readFileSync(dsPath, 'utf8')) as { prepare_s?: number; infer_s?: number }) : {};
  return {
    summary,
    prepareS: ds.prepare_s,
    inferS: ds.infer_s,
    wallS: r.wallS,
    completionTokens: Number(summary.completion_tokens ?? 0),
    rowsOk: Number(summary.rows_ok ?? 0),
    command: ['bin/sparkinfer', ...args],
  };
}

export interface SequentialRun {
  rows: number;
  completionTokens: number;
  failed: number;
  /** The inference action (mapPartitions + write), seconds. */
  inferS: number;
  wallS: number;
  command: string[];
}

/** The baseline: spark-submit bench/baseline/sequential.py over a JSON Lines file of `{id, body}`. */
export async function runSequential(o: {
  bodiesFile: string;
  url: string;
  outputDir: string;
  master: string;
  partitions: number;
}): Promise<SequentialRun> {
  const submit = join(ROOT, '.venv', 'bin', 'spark-submit');
  const py = join(ROOT, '.venv', 'bin', 'python');
  const args = [
    '--master',
    o.master,
    '--conf',
    'spark.ui.enabled=false',
    '--conf',
    'spark.ui.showConsoleProgress=false',
    join(ROOT, 'bench', 'baseline', 'sequential.py'),
    '--input',
    o.bodiesFile,
    '--url',
    o.url,
    '--output',
    o.outputDir,
    '--partitions',
    String(o.partitions),
  ];
  const r = await exec(submit, args, { env: { ...process.env, PYSPARK_PYTHON: py, PYSPARK_DRIVER_PYTHON: py } });
  const line = r.stdout
    .trim()
    .split('\n')
    .reverse()
    .find((l) => l.startsWith('{'));
  if (r.code !== 0 || line === undefined) throw new Error(`sequential baseline failed (exit ${r.code}): ${r.stderr.slice(-2000)}`);
  const j = JSON.parse(line) as { rows: number; completion_tokens: number; failed: number; infer_s: number };
  return {
    rows: j.rows,
    completionTokens: j.completion_tokens,
    failed: j.failed,
    inferS: j.infer_s,
    wallS: r.wallS,
    command: ['spark-submit', ...args.map((a) => a.replace(`${ROOT}/`, ''))],
  };
}
