/**
 * The OpenTelemetry SDK behind sparkinfer's spans: a tracer provider that batches spans and posts
 * them as OTLP/HTTP (JSON) to the run's endpoint. Loaded only by `loadTracing` (tracer.ts), with a
 * dynamic import, so that a run without traces loads none of it. Every span is started with an
 * explicit parent (the run block's `traceparent` in a worker): no context manager, no globals.
 */
import { ROOT_CONTEXT, type Span, SpanKind, SpanStatusCode, TraceFlags, trace } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { AlwaysOnSampler, BatchSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions';
import type { SpanRef } from './context.ts';
import type { SpanAttributes, StartSpan, TraceSpan, Tracing, TracingOptions } from './span.ts';

/** One of our spans over the SDK's. */
class SdkSpan implements TraceSpan {
  readonly ref: SpanRef;
  readonly #span: Span;
  constructor(span: Span) {
    this.#span = span;
    const c = span.spanContext();
    this.ref = { traceId: c.traceId, spanId: c.spanId, sampled: (c.traceFlags & TraceFlags.SAMPLED) === TraceFlags.SAMPLED };
  }
  set(attributes: SpanAttributes): void {
    for (const [k, v] of Object.entries(attributes)) if (v !== undefined) this.#span.setAttribute(k, v);
  }
  end(o: { error?: string | undefined; at?: number | undefined } = {}): void {
    if (o.error !== undefined) this.#span.setStatus({ code: SpanStatusCode.ERROR, message: o.error });
    this.#span.end(o.at);
  }
}

/** Starts the SDK; `shutdown` flushes what is left (a worker calls it before it exits). */
export function startTracing(o: TracingOptions): Tracing {
  const exporter = new OTLPTraceExporter({ url: o.endpoint, timeoutMillis: o.exportTimeoutMs ?? 5000 });
  const provider = new TracerProvider({
    // The sampling decisions are ours (context.ts requestSampler): whatever is started is kept.
    sampler: new AlwaysOnSampler(),
    resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: o.service, [ATTR_SERVICE_VERSION]: o.version, ...o.resource }),
    spanProcessors: [new BatchSpanProcessor({ exporter, scheduledDelayMillis: 1000, maxQueueSize: 8192, maxExportBatchSize: 512 })],
  });
  const tracer = provider.getTracer('sparkinfer', o.version);
  const start: StartSpan = (name, s) => {
    const parent =
      s.parent === undefined
        ? ROOT_CONTEXT
        : trace.setSpanContext(ROOT_CONTEXT, {
            traceId: s.parent.traceId,
            spanId: s.parent.spanId,
            traceFlags: TraceFlags.SAMPLED,
            isRemote: s.remoteParent ?? false,
          });
    const kind = s.kind === 'client' ? SpanKind.CLIENT : s.kind === 'server' ? SpanKind.SERVER : SpanKind.INTERNAL;
    const span = new SdkSpan(tracer.startSpan(name, { kind, ...(s.at !== undefined ? { startTime: s.at } : {}) }, parent));
    if (s.attributes !== undefined) span.set(s.attributes);
    return span;
  };
  let closing: Promise<void> | undefined;
  return {
    start,
    shutdown: (timeoutMs = 5000) => {
      closing ??= Promise.race([
        provider.shutdown().catch((err: unknown) => o.log?.(`traces: export failed: ${(err as Error).message}`)),
        new Promise<void>((r) => setTimeout(r, timeoutMs).unref()),
      ]);
      return closing;
    },
  };
}
