/**
 * The run's Prometheus endpoint (`observability.prometheus`, docs/observability.md): an HTTP
 * server, started before Spark and stopped after the run's summary, that answers `GET /metrics`
 * with the run's counts summed over its workers' stats files at that moment
 * (report/openmetrics.ts renders them). Off unless the job asks for it. After the run (its summary
 * printed) it stays up for `linger`, so that a scrape can see the final counts.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { RuntimeFailure } from '../errors.ts';
import type { Job } from '../jobfile/schema.ts';
import { readProgress } from '../rundir/progress.ts';
import { OPENMETRICS_TYPE, PROMETHEUS_TEXT_TYPE, renderMetrics, wantsOpenMetrics } from '../report/openmetrics.ts';
import type { Timeline } from './timeline.ts';

export interface RunMetrics {
  /** `http://host:port/metrics`. */
  url: string;
  /** The run has ended: the counts are final (`sparkinfer_run_finished 1`). */
  markFinished(): void;
  /** Stays up for `linger` (after the summary is printed), then closes. */
  lingerThenClose(): Promise<void>;
  /** Closes at once (idempotent). */
  close(): Promise<void>;
}

export interface RunMetricsOptions {
  job: Pick<Job, 'name' | 'observability'>;
  runId: string;
  runDir: string;
  /** The run's timeline, once Spark runs: its last sample is the engine's load. */
  timeline: () => Timeline | undefined;
  log: (line: string) => void;
}

/** Starts the endpoint when the job asks for one; a port that cannot be bound fails the run before Spark starts. */
export async function startRunMetrics(o: RunMetricsOptions): Promise<RunMetrics | undefined> {
  const prom = o.job.observability?.prometheus;
  if (prom === undefined) return undefined;
  let finished = false;
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (req.method !== 'GET' || path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: the metrics are at GET /metrics\n');
      return;
    }
    const last = o.timeline()?.samples.at(-1);
    const openMetrics = wantsOpenMetrics(req.headers.accept);
    const body = renderMetrics({ job: o.job.name, runId: o.runId, progress: readProgress(o.runDir), engine: last, finished }, openMetrics);
    res.writeHead(200, { 'content-type': openMetrics ? OPENMETRICS_TYPE : PROMETHEUS_TEXT_TYPE }).end(body);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        new RuntimeFailure(
          `observability.prometheus: cannot listen on ${prom.host}:${prom.port} (${err.code ?? err.message}); pick a free port or leave observability.prometheus out`,
        ),
      ),
    );
    server.listen(prom.port, prom.host, () => resolve());
  });
  server.unref();
  const addr = server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  const url = `http://${host}:${addr.port}/metrics`;
  o.log(`sparkinfer: metrics at ${url}`);
  let closed: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closed ??= new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
    return closed;
  };
  return {
    url,
    close,
    markFinished: () => {
      finished = true;
    },
    lingerThenClose: async () => {
      if (prom.linger > 0) await delay(prom.linger);
      await close();
    },
  };
}
