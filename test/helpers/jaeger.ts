/**
 * A real trace backend for `npm run test:traces`: Jaeger v2 (`cmd/jaeger`, built from the Go module
 * by scripts/traces/build.sh) with in-memory storage, an OTLP/HTTP receiver and its query HTTP API,
 * each on a free loopback port, from a config written here. `traceOf` reads one trace back through
 * the API the Jaeger UI uses (`GET /api/traces/<id>`).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { openSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from '../../src/launch/port.ts';
import { waitFor } from './wait.ts';

export interface Jaeger {
  /** The OTLP/HTTP base endpoint (`OTEL_EXPORTER_OTLP_ENDPOINT`). */
  otlp: string;
  /** The query API's base URL. */
  query: string;
  stop(): Promise<void>;
}

/** A span as the query API answers it, with its parent resolved. */
export interface JaegerSpan {
  spanId: string;
  traceId: string;
  name: string;
  service: string;
  parentSpanId: string | undefined;
  tags: Record<string, unknown>;
}

function config(otlpPort: number, queryPort: number, grpcPort: number): string {
  return `service:
  extensions: [jaeger_storage, jaeger_query]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [jaeger_storage_exporter]
  telemetry:
    metrics:
      level: none
    logs:
      level: info
extensions:
  jaeger_query:
    storage:
      traces: mem
    http:
      endpoint: 127.0.0.1:${queryPort}
    grpc:
      endpoint: 127.0.0.1:${grpcPort}
  jaeger_storage:
    backends:
      mem:
        memory:
          max_traces: 10000
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:${otlpPort}
processors:
  batch:
    timeout: 200ms
exporters:
  jaeger_storage_exporter:
    trace_storage: mem
`;
}

/** Starts Jaeger from `binary`, its config and log in `dir`; resolves once the query API answers. */
export async function startJaeger(binary: string, dir: string): Promise<Jaeger> {
  const [otlpPort, queryPort, grpcPort] = [await freePort(), await freePort(), await freePort()];
  const cfg = join(dir, 'jaeger.yaml');
  writeFileSync(cfg, config(otlpPort, queryPort, grpcPort));
  const log = openSync(join(dir, 'jaeger.log'), 'a');
  const child: ChildProcess = spawn(binary, ['--config', `file:${cfg}`], { stdio: ['ignore', log, log] });
  let exited = false;
  child.on('exit', () => {
    exited = true;
  });
  const query = `http://127.0.0.1:${queryPort}`;
  await waitFor(
    `Jaeger's query API at ${query} (log: ${join(dir, 'jaeger.log')})`,
    async () => {
      if (exited) throw new Error(`Jaeger exited at start; see ${join(dir, 'jaeger.log')}`);
      return (await fetch(`${query}/api/services`).catch(() => undefined))?.ok === true;
    },
    60_000,
    200,
  );
  return {
    otlp: `http://127.0.0.1:${otlpPort}`,
    query,
    stop: async () => {
      if (exited) return;
      const gone = new Promise<void>((r) => child.once('exit', () => r()));
      child.kill('SIGTERM');
      await Promise.race([gone, new Promise((r) => setTimeout(r, 5000))]);
      if (!exited) child.kill('SIGKILL');
    },
  };
}

interface RawTrace {
  spans: Array<{
    traceID: string;
    spanID: string;
    operationName: string;
    processID: string;
    references?: Array<{ refType: string; spanID: string }>;
    tags?: Array<{ key: string; value: unknown }>;
  }>;
  processes: Record<string, { serviceName: string }>;
}

/** One trace's spans from the query API; [] while Jaeger does not know it. */
export async function traceOf(j: Jaeger, traceId: string): Promise<JaegerSpan[]> {
  const res = await fetch(`${j.query}/api/traces/${traceId}`);
  if (!res.ok) return [];
  const body = (await res.json()) as { data?: RawTrace[] };
  const t = body.data?.[0];
  if (t === undefined) return [];
  return t.spans.map((s) => ({
    spanId: s.spanID,
    traceId: s.traceID,
    name: s.operationName,
    service: t.processes[s.processID]?.serviceName ?? '',
    parentSpanId: s.references?.find((r) => r.refType === 'CHILD_OF')?.spanID,
    tags: Object.fromEntries((s.tags ?? []).map((x) => [x.key, x.value])),
  }));
}
