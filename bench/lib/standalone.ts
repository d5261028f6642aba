/**
 * The bench's Spark standalone cluster on loopback (scenarios f and g): test/helpers/standalone.ts
 * with one engine endpoint per worker (`workerEnv`), its JVMs handed to the bench's exit cleanup.
 * And which engines a run's executors used, from their worker logs.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Cluster, startStandalone as startCluster } from '../../test/helpers/standalone.ts';
import { tracked } from './children.ts';

export type Standalone = Cluster;

/** A master and one 1-core worker per entry of `workerEnv`, each worker with that extra environment. */
export function startStandalone(dir: string, workerEnv: Array<Record<string, string>>): Promise<Standalone> {
  return startCluster(workerEnv.length, { dir, workerEnv, onSpawn: (c) => void tracked(c) });
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
