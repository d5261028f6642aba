/**
 * A Spark standalone cluster on loopback for scenario f: one master and one worker per entry of
 * `workerEnv`, each worker started with its own extra environment. Executors inherit their
 * worker's environment (ExecutorRunner builds them from the worker process), so a per-worker
 * `SPARKINFER_ENDPOINT` gives every executor its own engine, as a sidecar does on Kubernetes.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { freePort } from '../../src/launch/port.ts';
import { ROOT } from './engines.ts';
import { tracked } from './children.ts';

export interface Standalone {
  master: string;
  pids(): number[];
  logDir: string;
  stop(): Promise<void>;
}

export async function startStandalone(dir: string, workerEnv: Array<Record<string, string>>): Promise<Standalone> {
  mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const ui = await freePort();
  const venv = join(ROOT, '.venv');
  // spark-class finds SPARK_HOME through the venv's python; say it outright.
  const base: NodeJS.ProcessEnv = {
    ...process.env,
    SPARK_HOME: join(
      venv,
      'lib',
      readdirSync(join(venv, 'lib')).find((n) => n.startsWith('python')) ?? 'python3',
      'site-packages',
      'pyspark',
    ),
    PATH: `${join(venv, 'bin')}:${process.env.PATH ?? ''}`,
    SPARK_LOCAL_IP: '127.0.0.1',
    SPARK_WORKER_DIR: join(dir, 'work'),
    SPARK_LOG_DIR: dir,
  };
  const procs: ChildProcess[] = [];
  const start = (args: string[], log: string, env: NodeJS.ProcessEnv): void => {
    const fd = openSync(join(dir, log), 'a');
    procs.push(tracked(spawn(join(ROOT, '.venv', 'bin', 'spark-class'), args, { stdio: ['ignore', fd, fd], detached: true, env })));
  };
  start(
    ['org.apache.spark.deploy.master.Master', '--host', '127.0.0.1', '--port', String(port), '--webui-port', String(ui)],
    'master.log',
    base,
  );
  const master = `spark://127.0.0.1:${port}`;
  for (const [i, extra] of workerEnv.entries()) {
    const wui = await freePort();
    start(
      [
        'org.apache.spark.deploy.worker.Worker',
        master,
        '--host',
        '127.0.0.1',
        '--cores',
        '1',
        '--memory',
        '1g',
        '--webui-port',
        String(wui),
      ],
      `worker-${i}.log`,
      { ...base, ...extra },
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
    await delay(300);
  };
  const deadline = Date.now() + 180_000;
  for (;;) {
    try {
      const j = (await (await fetch(`http://127.0.0.1:${ui}/json/`)).json()) as { aliveworkers?: number };
      if ((j.aliveworkers ?? 0) >= workerEnv.length) break;
    } catch {
      /* not up yet */
    }
    const dead = procs.find((p) => p.exitCode !== null);
    if (dead !== undefined || Date.now() > deadline) {
      await stop();
      throw new Error(
        `standalone cluster not ready (${dead !== undefined ? `a process exited with ${String(dead.exitCode)}` : 'timeout'}); logs in ${dir}`,
      );
    }
    await delay(500);
  }
  return { master, pids: () => procs.map((p) => p.pid ?? 0), logDir: dir, stop };
}

/** Endpoints named in the sparkinfer worker logs of a run ("worker … started: endpoint X, …"): which engines the executors used. */
export function endpointsOf(runDir: string): Set<string> {
  const seen = new Set<string>();
  const logs = join(runDir, 'logs');
  for (const f of readdirSync(logs).filter((n) => n.startsWith('worker-'))) {
    const m = /started: endpoint (\S+?),/.exec(readFileSync(join(logs, f), 'utf8'));
    if (m?.[1] !== undefined) seen.add(m[1]);
  }
  return seen;
}
