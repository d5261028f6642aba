/**
 * The engines of a staged job's stages (docs/stages.md): a stage without `engine` uses the job's
 * (its client, its window shared with this host's workers); a stage with `engine.endpoint` gets its
 * own client and window, opened when the stage first needs it and closed when the worker ends.
 * Also the one health wait the pipeline is given, for any client.
 */
import { waitForHealth } from '../engine/health.ts';
import { EngineClient } from '../engine/client.ts';
import { makeWindow } from '../scheduler/window.ts';
import type { ResolvedJob } from '../jobfile/resolved.ts';
import type { PipelineDeps, Window } from './pipeline-contract.ts';

type Log = (m: string) => void;

/** What a stage sends through. */
export interface StageEngine {
  client: EngineClient;
  window: Window;
  waitHealthy: PipelineDeps['waitHealthy'];
}

/** The pipeline's health wait over `client`: false when the engine did not answer in time. */
export function healthWaiter(client: EngineClient, log: Log): PipelineDeps['waitHealthy'] {
  return async (timeoutMs, s) => {
    try {
      await waitForHealth({ client, timeoutMs, signal: s, logger: { info: log, warn: log } });
      return true;
    } catch (err) {
      if (s.aborted) throw err;
      log(`health wait failed: ${(err as Error).message}`);
      return false;
    }
  };
}

/** The engines by endpoint: the job's for stages without one, a new one per other endpoint. */
export class StageEngines {
  readonly #job: ResolvedJob;
  readonly #log: Log;
  readonly #own: Map<string, StageEngine> = new Map();
  readonly #jobs: StageEngine;

  constructor(job: ResolvedJob, jobs: StageEngine, log: Log) {
    this.#job = job;
    this.#jobs = jobs;
    this.#log = log;
  }

  /** The engine of a stage (`endpoint` undefined: the job's). */
  for(endpoint: string | undefined): StageEngine {
    if (endpoint === undefined) return this.#jobs;
    const known = this.#own.get(endpoint);
    if (known !== undefined) return known;
    const e = this.#job.engine;
    const keyEnv = e.api_key_env;
    const client = new EngineClient({
      endpoint,
      apiKey: keyEnv !== undefined ? process.env[keyEnv] : undefined,
      connections: Math.max(1, e.concurrency === 'auto' ? e.concurrency_max : e.concurrency),
      requestTimeoutMs: e.request_timeout,
      logger: { info: this.#log, warn: this.#log, debug: () => {} },
    });
    const engine = { client, window: makeWindow(e), waitHealthy: healthWaiter(client, this.#log) };
    this.#own.set(endpoint, engine);
    this.#log(`stage engine opened: ${endpoint}`);
    return engine;
  }

  /** Closes the stages' own clients (the job's is the worker's to close). */
  async close(): Promise<void> {
    for (const e of this.#own.values()) await e.client.close();
    this.#own.clear();
  }
}
