/**
 * A real Spark standalone cluster on loopback: one master and N workers started with spark-class
 * from the pip-installed pyspark (the pip package has no sbin scripts). Each JVM runs in its own
 * process group and is killed with it.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, openSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../src/launch/port.ts';
import { ROOT } from './cli.ts';
import { waitFor } from './wait.ts';

export interface Cluster {
  master: string;
  stop(): Promise<void>;
}

function start(args: string[], log: string, env: NodeJS.ProcessEnv): ChildProcess {
  const fd = openSync(log, 'a');
  return spawn(join(ROOT, '.venv', 'bin', 'spark-class'), args, { stdio: ['ignore', fd, fd], detached: true, env });
}

export async function startStandalone(workers: number, opts: { coresPerWorker?: number } = {}): Promise<Cluster> {
  const dir = mkdtempSync(join(tmpdir(), 'sparkinfer-standalone-'));
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
  procs.push(
    start(
      ['org.apache.spark.deploy.master.Master', '--host', '127.0.0.1', '--port', String(port), '--webui-port', String(ui)],
      join(dir, 'master.log'),
      env,
    ),
  );
  const master = `spark://127.0.0.1:${port}`;
  for (let i = 0; i < workers; i++) {
    const wui = await freePort();
    procs.push(
      start(
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
        join(dir, `worker-${i}.log`),
        env,
      ),
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
      `${workers} ALIVE workers on the standalone master (logs in ${dir})`,
      async () => {
        try {
          const j = (await (await fetch(`http://127.0.0.1:${ui}/json/`)).json()) as { aliveworkers?: number };
          return (j.aliveworkers ?? 0) >= workers;
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
  return { master, stop };
}
