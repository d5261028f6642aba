/**
 * Helpers of the cluster tier (npm run test:cluster): the local cluster's kubeconfig and client,
 * job files sized for this one-node cluster (CPU llama-server sidecar, sub-core requests), input
 * written to and output read from the run volume's directory on this machine, the CLI as a child
 * process, and bounded polling. scripts/cluster/test.sh brings the cluster up first.
 */
import { spawn } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { stringify } from 'yaml';
import { KubeClient } from '../../src/k8s/client.ts';
import { loadClusterAccess } from '../../src/k8s/kubeconfig.ts';
import assert from 'node:assert/strict';
import * as C from '../../scripts/cluster/config.ts';

export const ROOT = join(import.meta.dirname, '..', '..');
export const STATE = process.env.SPARKINFER_CLUSTER_DIR ?? '/var/lib/sparkinfer-cluster';
export const KUBECONFIG = join(STATE, 'kubeconfig');
/** The run volume's directory on this machine, and where pods see it. */
export const RUNS_HOST = join(STATE, 'volumes', C.RUNS_CLAIM);
export const RUNS_POD = '/var/lib/sparkinfer/runs';
export const NS = C.JOB_NAMESPACE;

export function client(): KubeClient {
  return new KubeClient(loadClusterAccess({ kubeconfig: KUBECONFIG, namespace: NS }), { requestTimeoutMs: 15_000 });
}

/**
 * A client for one test, closed after it. `cleanupWith` names what to undo after the test (remove
 * the application it submitted), which runs before the client closes, also when the test fails.
 */
export function testClient(t: { after(fn: () => Promise<void>): void }): { c: KubeClient; cleanupWith(fn: () => Promise<void>): void } {
  const c = client();
  let cleanup = async (): Promise<void> => undefined;
  t.after(async () => {
    try {
      await cleanup();
    } finally {
      await c.close();
    }
  });
  return {
    c,
    cleanupWith: (fn) => {
      cleanup = fn;
    },
  };
}

/** Polls `probe` every `everyMs` until it returns a value (not undefined); throws after `timeoutMs`. */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number, everyMs = 1000): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() - t0 > timeoutMs) throw new Error(`${what}: not reached after ${timeoutMs} ms`);
    await delay(everyMs);
  }
}

/** Writes `rows` questions (ids 1..rows) as the job's input; `slow` ids get a long answer budget. */
export function writeInput(name: string, rows: number): string {
  const dir = join(RUNS_HOST, 'inputs', name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const lines = Array.from({ length: rows }, (_, i) =>
    JSON.stringify({ id: i + 1, question: `In one sentence, what is the number ${i + 1}?` }),
  );
  writeFileSync(join(dir, 'questions.jsonl'), `${lines.join('\n')}\n`);
  return `${RUNS_POD}/inputs/${name}/questions.jsonl`;
}

export interface JobOptions {
  name: string;
  rows: number;
  /** Merged into `kubernetes:`. */
  kubernetes?: Record<string, unknown>;
  /** Merged into the job's top level (after everything else). */
  extra?: Record<string, unknown>;
}

/** A quickstart-sized job for the local cluster; returns the job file path and the output dir on this machine. */
export function writeJob(o: JobOptions): { file: string; outHost: string } {
  const input = writeInput(o.name, o.rows);
  const outHost = join(RUNS_HOST, 'outputs', o.name);
  rmSync(outHost, { recursive: true, force: true });
  mkdirSync(join(RUNS_HOST, 'outputs'), { recursive: true, mode: 0o777 });
  chownSync(join(RUNS_HOST, 'outputs'), C.SPARK_UID, C.SPARK_UID);
  const k8s = o.kubernetes ?? {};
  const job = {
    name: o.name,
    input: { format: 'json', path: input, key: 'id' },
    prompt: { api: 'chat', system: 'You are a helpful assistant. Answer in one sentence.', user: '{{ question }}' },
    model: 'smollm2-135m-instruct',
    sampling: { temperature: 0.7, top_p: 0.8, max_tokens: 24 },
    engine: { launch: { kind: 'llama-server', model: 'smollm2-135m-instruct' }, concurrency: 'auto', request_timeout: '2m' },
    output: { format: 'json', path: `${RUNS_POD}/outputs/${o.name}`, mode: 'overwrite', include: ['question'] },
    kubernetes: {
      namespace: NS,
      image: C.SPARK_IMAGE,
      image_pull_policy: 'Never',
      gpus_per_executor: 0,
      tasks_per_engine: 2,
      tolerations: [],
      driver: { cores: 1, core_request: '300m', memory: '1g' },
      executors: { max: 2, core_request: '300m', memory: '1g' },
      worker_memory: '128m',
      retries: 1,
      retry_interval: '10s',
      executor_idle_timeout: '20s',
      ...k8s,
      engine: {
        kind: 'llama-server',
        image: C.ENGINE_IMAGE,
        model: '/opt/models/model.gguf',
        cpu: '300m',
        memory: '1g',
        parallel: 4,
        // cpu 300m: the render gives llama-server `--threads 1` (src/k8s/sidecar.ts cpuThreads); two engines share 2 cores.
        startup_timeout: '3m',
        ...((k8s.engine as Record<string, unknown> | undefined) ?? {}),
      },
    },
    ...(o.extra ?? {}),
  };
  const dir = join(STATE, 'jobs');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${o.name}.yaml`);
  writeFileSync(file, stringify(job));
  return { file, outHost };
}

/** Rows the workers have finished so far: lines of the run's ledger files on the run volume. */
export function ledgerRows(job: string, app: string): number {
  const dir = join(RUNS_HOST, job, app, 'ledger');
  if (!existsSync(dir)) return 0;
  return readdirSync(dir).reduce(
    (n, f) =>
      n +
      readFileSync(join(dir, f), 'utf8')
        .split('\n')
        .filter((l) => l.trim() !== '').length,
    0,
  );
}

/** The workers that wrote the run's ledger so far (a file each, named after the worker: `<executor host>-<pid>-<id>`). */
export function ledgerWorkers(job: string, app: string): string[] {
  const dir = join(RUNS_HOST, job, app, 'ledger');
  return existsSync(dir) ? readdirSync(dir).map((f) => f.replace(/\.jsonl$/, '')) : [];
}

/** The job's output holds keys 1..rows, each exactly once: no row lost, none duplicated. */
export function assertEveryKeyOnce(outHost: string, rows: number): void {
  assert.deepEqual(
    outputKeys(outHost).sort((a, b) => a - b),
    Array.from({ length: rows }, (_, i) => i + 1),
    'every key exactly once: no row lost, none duplicated',
  );
}

/** Every output row's key, from the part files Spark wrote on the run volume. */
export function outputKeys(outHost: string): number[] {
  if (!existsSync(outHost)) return [];
  const keys: number[] = [];
  for (const f of readdirSync(outHost)
    .filter((n) => n.startsWith('part-'))
    .sort()) {
    for (const line of readFileSync(join(outHost, f), 'utf8').split('\n'))
      if (line.trim() !== '') keys.push((JSON.parse(line) as { id: number }).id);
  }
  return keys;
}

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `bin/sparkinfer ARGS` against the local cluster; killed after `timeoutMs`. */
export function sparkinfer(
  args: string[],
  timeoutMs: number,
  onStderr?: (chunk: string) => void,
): { done: Promise<CliRun>; kill: () => void; stdout: () => string } {
  const p = spawn(join(ROOT, 'bin', 'sparkinfer'), [...args, '--kubeconfig', KUBECONFIG], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  p.stdout.on('data', (b: Buffer) => {
    stdout += b.toString();
  });
  p.stderr.on('data', (b: Buffer) => {
    const s = b.toString();
    stderr += s;
    onStderr?.(s);
  });
  const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
  const done = new Promise<CliRun>((res) =>
    p.once('close', (code) => {
      clearTimeout(timer);
      res({ code, stdout, stderr });
    }),
  );
  return { done, kill: () => p.kill('SIGINT'), stdout: () => stdout };
}

export type Pod = Record<string, any>;

/** Pods of one application (Spark labels them with `spark-app-name`... via the operator's app label). */
export async function appPods(c: KubeClient, app: string, role?: 'driver' | 'executor'): Promise<Pod[]> {
  const sel = [`sparkoperator.k8s.io/app-name=${app}`, ...(role !== undefined ? [`spark-role=${role}`] : [])].join(',');
  return (await c.list<Pod>({ apiVersion: 'v1', kind: 'Pod', namespace: NS }, sel)).items;
}

/** Deletes the application and waits (bounded) until none of its pods is left. */
export async function removeApp(c: KubeClient, app: string, timeoutMs = 120_000): Promise<void> {
  await c.delete({ apiVersion: 'sparkoperator.k8s.io/v1beta2', kind: 'SparkApplication', namespace: NS, name: app }).catch(() => false);
  await waitFor(`pods of ${app} gone`, async () => ((await appPods(c, app)).length === 0 ? true : undefined), timeoutMs);
}
