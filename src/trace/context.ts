/**
 * W3C Trace Context (https://www.w3.org/TR/trace-context/) as sparkinfer uses it: the `traceparent`
 * header that ties the engine's spans to ours, parsed and formatted here without the OpenTelemetry
 * SDK (the worker formats one per sampled request), and the per-request sampling decision.
 * docs/observability.md "Traces".
 */

import { randomBytes } from 'node:crypto';

/** A span's identity as `traceparent` carries it. */
export interface SpanRef {
  /** 32 lowercase hex digits, not all zero. */
  traceId: string;
  /** 16 lowercase hex digits, not all zero. */
  spanId: string;
  /** The `sampled` flag (bit 0 of trace-flags). */
  sampled: boolean;
}

/** The header's name, as the engine's OpenTelemetry propagator reads it. */
export const TRACEPARENT_HEADER = 'traceparent';

const TRACE_ID = /^[0-9a-f]{32}$/;
const SPAN_ID = /^[0-9a-f]{16}$/;
const ZERO_TRACE = '0'.repeat(32);
const ZERO_SPAN = '0'.repeat(16);

/** Whether both ids are well formed (lowercase hex of the right length, not all zero). */
export function validRef(r: Pick<SpanRef, 'traceId' | 'spanId'>): boolean {
  return TRACE_ID.test(r.traceId) && r.traceId !== ZERO_TRACE && SPAN_ID.test(r.spanId) && r.spanId !== ZERO_SPAN;
}

/** `00-<trace id>-<span id>-<01|00>` (version 00, the only one defined). Throws on malformed ids. */
export function formatTraceparent(r: SpanRef): string {
  if (!validRef(r))
    throw new Error(`not a valid trace context: trace id ${JSON.stringify(r.traceId)}, span id ${JSON.stringify(r.spanId)}`);
  return `00-${r.traceId}-${r.spanId}-${r.sampled ? '01' : '00'}`;
}

/**
 * Parses a `traceparent` value; undefined for anything the specification says to ignore: a
 * version `ff`, ids that are not lowercase hex or all zero, a version 00 header of the wrong
 * length. A later version may carry more fields after the fourth (kept out).
 */
export function parseTraceparent(value: string | undefined): SpanRef | undefined {
  if (value === undefined) return undefined;
  const v = value.trim();
  const parts = v.split('-');
  if (parts.length < 4) return undefined;
  const [version, traceId, spanId, flags] = parts as [string, string, string, string];
  if (!/^[0-9a-f]{2}$/.test(version) || version === 'ff') return undefined;
  if (version === '00' && (parts.length !== 4 || v.length !== 55)) return undefined;
  if (!/^[0-9a-f]{2}$/.test(flags)) return undefined;
  const ref = { traceId, spanId, sampled: (Number.parseInt(flags, 16) & 1) === 1 };
  return validRef(ref) ? ref : undefined;
}

/**
 * The per-request sampling decision at `ratio` (0 to 1): a request is traced with that
 * probability, independently of the others (the run and task spans are always kept; see
 * settings.ts). 1 and 0 decide without drawing a number.
 */
export function requestSampler(ratio: number, random: () => number = Math.random): () => boolean {
  if (!(ratio >= 0 && ratio <= 1)) throw new Error(`sample ratio must be within 0 and 1, got ${String(ratio)}`);
  if (ratio >= 1) return () => true;
  if (ratio <= 0) return () => false;
  return () => random() < ratio;
}

/**
 * A fresh sampled context for a parent no process exports (a Kubernetes run's task spans: the CLI
 * that renders it runs no span). Random ids, never all zero.
 */
export function newParentRef(random: (n: number) => Buffer = randomBytes): SpanRef {
  const hex = (n: number): string => {
    const h = random(n).toString('hex');
    return /^0+$/.test(h) ? `${h.slice(0, -1)}1` : h;
  };
  return { traceId: hex(16), spanId: hex(8), sampled: true };
}
