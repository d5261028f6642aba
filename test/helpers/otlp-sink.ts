/**
 * A tiny OTLP/HTTP traces receiver (a test instrument and the overhead bench's sink, not a trace
 * backend): `POST /v1/traces` with OTLP JSON is answered 200 and its spans kept, flattened to
 * {traceId, spanId, parentSpanId, name, service, attributes}. `keep: false` only counts them.
 * The real backend of `npm run test:traces` is Jaeger (scripts/traces/).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface SinkSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  service: string;
  attributes: Record<string, unknown>;
  status: number;
}

export interface OtlpSink {
  /** The base endpoint, as `OTEL_EXPORTER_OTLP_ENDPOINT` takes it. */
  endpoint: string;
  spans: SinkSpan[];
  /** Spans received, kept or not. */
  count(): number;
  /** POSTs received. */
  posts(): number;
  close(): Promise<void>;
}

interface AnyValue {
  stringValue?: string;
  intValue?: string | number;
  doubleValue?: number;
  boolValue?: boolean;
  arrayValue?: { values?: AnyValue[] };
}

function anyValue(v: AnyValue | undefined): unknown {
  if (v === undefined) return undefined;
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.intValue !== undefined) return Number(v.intValue);
  if (v.doubleValue !== undefined) return v.doubleValue;
  if (v.boolValue !== undefined) return v.boolValue;
  if (v.arrayValue !== undefined) return (v.arrayValue.values ?? []).map(anyValue);
  return undefined;
}

type KeyValues = Array<{ key: string; value?: AnyValue }> | undefined;
const attrs = (kv: KeyValues): Record<string, unknown> => Object.fromEntries((kv ?? []).map((a) => [a.key, anyValue(a.value)]));

/** The spans of one OTLP JSON export request. */
export function spansOf(body: unknown): SinkSpan[] {
  const out: SinkSpan[] = [];
  const rs =
    (body as { resourceSpans?: Array<{ resource?: { attributes?: KeyValues }; scopeSpans?: Array<{ spans?: unknown[] }> }> })
      .resourceSpans ?? [];
  for (const r of rs) {
    const service = String(attrs(r.resource?.attributes)['service.name'] ?? '');
    for (const ss of r.scopeSpans ?? [])
      for (const s of (ss.spans ?? []) as Array<{
        traceId: string;
        spanId: string;
        parentSpanId?: string;
        name: string;
        attributes?: KeyValues;
        status?: { code?: number };
      }>)
        out.push({
          traceId: s.traceId,
          spanId: s.spanId,
          parentSpanId: s.parentSpanId ?? '',
          name: s.name,
          service,
          attributes: attrs(s.attributes),
          status: s.status?.code ?? 0,
        });
  }
  return out;
}

export async function startOtlpSink(o: { keep?: boolean; host?: string } = {}): Promise<OtlpSink> {
  const spans: SinkSpan[] = [];
  let count = 0;
  let posts = 0;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/v1/traces') {
        res.writeHead(404).end();
        return;
      }
      posts++;
      try {
        const got = spansOf(JSON.parse(Buffer.concat(chunks).toString('utf8')));
        count += got.length;
        if (o.keep !== false) spans.push(...got);
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      } catch {
        res.writeHead(400).end();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, o.host ?? '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    spans,
    count: () => count,
    posts: () => posts,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
