/**
 * The shapes of sparkinfer's spans, independent of the SDK: what the run (job/traces.ts) and the
 * workers (worker/tracing.ts) call, implemented over OpenTelemetry in otel.ts and loaded by
 * tracer.ts.
 */
import type { SpanRef } from './context.ts';

/** Attribute values as OpenTelemetry takes them. */
export type AttributeValue = string | number | boolean | string[] | number[] | boolean[];
export type SpanAttributes = Record<string, AttributeValue | undefined>;

export interface TraceSpan {
  /** Its ids, for children and the `traceparent` header. */
  readonly ref: SpanRef;
  set(attributes: SpanAttributes): void;
  /** Ends the span (at `at`, epoch ms, default now); `error` sets its status to ERROR with that message. */
  end(o?: { error?: string | undefined; at?: number | undefined }): void;
}

export interface SpanStart {
  /** The parent; none: a new trace. */
  parent?: SpanRef | undefined;
  /** The parent came from another process (the run block's `traceparent`). */
  remoteParent?: boolean;
  kind?: 'internal' | 'client' | 'server';
  attributes?: SpanAttributes;
  /** Start time, epoch ms; default now. */
  at?: number;
}

export type StartSpan = (name: string, s: SpanStart) => TraceSpan;

export interface Tracing {
  start: StartSpan;
  /** Exports what is left and stops; resolves within `timeoutMs` (default 5 s) whatever the collector does. */
  shutdown(timeoutMs?: number): Promise<void>;
}

export interface TracingOptions {
  /** The OTLP/HTTP traces URL. */
  endpoint: string;
  /** `service.name` of the resource: `sparkinfer` for the run, `sparkinfer-worker` for a task. */
  service: string;
  version: string;
  /** More resource attributes (the job's name, the run id). */
  resource?: Record<string, string>;
  exportTimeoutMs?: number;
  /** Where an export failure is told. */
  log?: (m: string) => void;
}
