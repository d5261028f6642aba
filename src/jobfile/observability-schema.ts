/**
 * The job file's `observability:` section (docs/observability.md): the Prometheus endpoint and the
 * OpenTelemetry traces a run exposes while it runs. Kept beside schema.ts, which includes it.
 */
import { z } from 'zod';
import { Duration } from './durations.ts';

/**
 * `observability:` (docs/observability.md): what a run exposes to the platform's own tools while it
 * runs. Off by default; read by the CLI only and not part of the job's identity (like `limits`).
 */
export const ObservabilitySpec = z.strictObject({
  /** A Prometheus endpoint (`GET /metrics`, OpenMetrics text) with the run's counts, summed over its workers. */
  prometheus: z
    .strictObject({
      /** The port it listens on. */
      port: z.number().int().min(1).max(65535),
      /** The address it binds. Default `127.0.0.1` (this machine only); `0.0.0.0` for a Prometheus elsewhere. */
      host: z.string().min(1).default('127.0.0.1'),
      /** How long it stays up after the run ends, so that a scrape sees the final counts, e.g. `30s`. Default `0s`. */
      linger: Duration.default(0),
      /** On Kubernetes, also render a PodMonitor (monitoring.coreos.com/v1, the Prometheus Operator's) for the driver. Default false. */
      pod_monitor: z.boolean().default(false),
    })
    .optional(),
  /**
   * OpenTelemetry traces (OTLP over HTTP): a span for the run, one per Spark task, and one per sampled
   * request, with `traceparent` sent to the engine. On too when `OTEL_EXPORTER_OTLP_ENDPOINT` (or
   * `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set; these settings win over the environment's.
   */
  traces: z
    .strictObject({
      /** The OTLP/HTTP endpoint (`http://host:4318`, or its `…/v1/traces` URL). Default: the environment's, else `http://localhost:4318`. */
      endpoint: z.url().optional(),
      /** Fraction of requests traced, 0 to 1. Default: `OTEL_TRACES_SAMPLER`/`OTEL_TRACES_SAMPLER_ARG`, else 1. */
      sample_ratio: z.number().min(0).max(1).optional(),
    })
    .optional(),
});
