/**
 * A real Spark standalone cluster on loopback: one master and N workers started with spark-class
 * from the pip-installed pyspark (the pip package has no sbin scripts). Each JVM runs in its own
 * process group and is killed with it. The tests and the bench (bench/lib/standalone.ts) both
 * start theirs here.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from '../../src/launch/port.ts';
import { ROOT } from './cli.ts';
import { waitFor } from './wait.ts';
import { tempDir } from './tmp.ts';

export interface Cluster {
  master: string;
  /** The master's and workers' process ids (each leads its own process group). */
  pids(): number[];
  /** Where the JVMs' logs are. */
  logDir: string;
  stop(): Promise<void>;
}

export interface StandaloneOptions {
  /** Cores each worker offers. Default 1. */
  coresPerWorker?: number;
  /**
   * Extra environment per worker, one entry per worker (its length wins over `workers`).
   * Executors inherit their worker's environment (ExecutorRunner builds them from the worker
   * process), so a per-worker `SPARKINFER_ENDPOINT` gives each executor its own engine, as a
   * sidecar does on Kubernetes.
   */
  workerEnv?: Array<Record<string, string>>;
  /** The folder for logs and the workers' work dirs. Default: a fresh one under the temp dir. */
  dir?: string;
  /** Called with each JVM as it starts (the bench hands them to its exit cleanup). */
  onSpawn?: (child: ChildProcess) => void;
}

function start(args: string[], log: string, env: NodeJS.ProcessEnv): ChildProcess {
  const fd = openSync(log, 'a');
  return spawn(join(ROOT, '.venv', 'bin', 'spark-class'), args, { stdio: ['ignore', fd, fd], detached: true, env });
}

export async function startStandalone(workers: number, opts: StandaloneOptions = {}): Promise<Cluster> {
  const dir = opts.dir ?? tempDir('standalone');
  mkdirSync(dir, { recursive: true });
  const workerEnv = opts.workerEnv ?? Array.from({ length: workers }, () => ({}));
  const port = await freePort();
  const ui = await freePort();
  const sparkHome = execFileSync(
    join(ROOT, '.venv', 'bin', 'python'),
    ['-c', 'import pyspark, os; print(os.path.dirname(pyspark.__file__))'],
    { encoding: 'utf8' },
  ).trim();
  const env = {
    ...process.env,
    SPARK_HOME: sparkHome,
    SPARK_LOCAL_IP: '127.0.0.1',
    SPARK_WORKER_DIR: join(dir, 'work'),
    SPARK_LOG_DIR: dir,
  };
  const procs: ChildProcess[] = [];
  const launch = (args: string[], log: string, childEnv: NodeJS.ProcessEnv): void => {
    const child = start(args, join(dir, log), childEnv);
    procs.push(child);
    opts.onSpawn?.(child);
  };
  launch(
    ['org.apache.spark.deploy.master.Master', '--host', '127.0.0.1', '--port', String(port), '--webui-port', String(ui)],
    'master.log',
    env,
  );
  const master = `spark://127.0.0.1:${port}`;
  for (const [i, extra] of workerEnv.entries()) {
    const wui = await freePort();
    launch(
      [
        'org.apache.spark.deploy.worker.Worker',
        master,
        '--host',
        '127.0.0.1',
        '--cores',
        String(opts.coresPerWorker ?? 1),
        '--memory',
        '1g',
        '--webui-port',
        String(wui),
      ],
      `worker-${i}.log`,
      { ...env, ...extra },
    );
  }
  const stop = async (): Promise<void> => {
    for (const p of procs) {
      try {
        process.kill(-(p.pid ?? 0), 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    await waitFor('the standalone JVMs to exit', () => procs.every((p) => p.exitCode !== null || p.signalCode !== null), 10_000, 20);
  };
  // Ready when the master's JSON status lists every worker ALIVE.
  try {
    await waitFor(
      `${workerEnv.length} ALIVE workers on the standalone master (logs in ${dir})`,
      async () => {
        const dead = procs.find((p) => p.exitCode !== null);
        if (dead !== undefined) throw new Error(`a standalone JVM exited with ${String(dead.exitCode)}; logs in ${dir}`);
        try {
          const j = (await (await fetch(`http://127.0.0.1:${ui}/json/`)).json()) as { aliveworkers?: number };
          return (j.aliveworkers ?? 0) >= workerEnv.length;
        } catch {
          return false; /* not up yet */
        }
      },
      120_000,
      500,
    );
  } catch (err) {
    await stop();
    throw err;
  }
  return { master, pids: () => procs.map((p) => p.pid ?? 0), logDir: dir, stop };
}
