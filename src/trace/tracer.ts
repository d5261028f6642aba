/**
 * What the run and the workers see of tracing (docs/observability.md "Traces"): start a span with
 * an explicit parent, set its attributes, end it, and shut the exporter down (flushing). The SDK
 * behind it (otel.ts) is loaded by `loadTracing` with a dynamic import, only for a traced run: an
 * untraced run loads no OpenTelemetry code and does no per-request work.
 */
import { loadOtel } from './otel-module.ts';
import type { TracingOptions, Tracing } from './span.ts';

export type { AttributeValue, SpanAttributes, SpanStart, StartSpan, TraceSpan, Tracing, TracingOptions } from './span.ts';

/** The SDK, loaded now (otel-module.ts: a dynamic import, of an embedded module in the bundles). */
export async function loadTracing(o: TracingOptions): Promise<Tracing> {
  const { startTracing } = await loadOtel();
  return startTracing(o);
}
