/**
 * Whether a run is traced and where its spans go (docs/observability.md "Traces"), from the job's
 * `observability.traces` and the standard OpenTelemetry environment variables: the endpoint from
 * `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (as is) or `OTEL_EXPORTER_OTLP_ENDPOINT` (+ `/v1/traces`),
 * the request sampling ratio from `OTEL_TRACES_SAMPLER` / `OTEL_TRACES_SAMPLER_ARG`; the job's
 * settings win over the environment. Off when neither names an endpoint, or when
 * `OTEL_SDK_DISABLED=true`, `OTEL_TRACES_EXPORTER=none` or the sampler is `always_off`.
 */

/** `observability.traces` as the job file gives it (src/jobfile/schema.ts). */
export interface TracesSpec {
  /** The OTLP/HTTP endpoint's base (`http://host:4318`) or its traces URL (`…/v1/traces`). */
  endpoint?: string | undefined;
  /** Fraction of requests traced, 0 to 1. */
  sample_ratio?: number | undefined;
}

/** A traced run's settings, as the run block carries them to the workers (`run.traces`). */
export interface TraceSettings {
  /** The OTLP/HTTP traces URL the spans are posted to. */
  endpoint: string;
  /** Fraction of requests that get a span and a `traceparent` header (the run and task spans always do). */
  sample_ratio: number;
}

/** Where an OTLP/HTTP exporter listens when nothing else is said (the specification's default). */
export const DEFAULT_OTLP_HTTP = 'http://localhost:4318';

/** A base endpoint's traces URL: `<base>/v1/traces`, unless it already ends so. */
export function tracesUrl(base: string): string {
  const b = base.replace(/\/+$/, '');
  return b.endsWith('/v1/traces') ? b : `${b}/v1/traces`;
}

/** The ratio `OTEL_TRACES_SAMPLER` and its argument give; undefined for `always_off` (tracing off). */
export function samplerRatio(env: NodeJS.ProcessEnv, warn: (m: string) => void): number | undefined {
  const sampler = (env.OTEL_TRACES_SAMPLER ?? 'parentbased_always_on').trim().toLowerCase();
  switch (sampler) {
    case 'always_off':
    case 'parentbased_always_off':
      return undefined;
    case 'always_on':
    case 'parentbased_always_on':
      return 1;
    case 'traceidratio':
    case 'parentbased_traceidratio': {
      const raw = env.OTEL_TRACES_SAMPLER_ARG;
      const arg = raw === undefined || raw.trim() === '' ? Number.NaN : Number(raw);
      if (arg >= 0 && arg <= 1) return arg;
      if (raw !== undefined) warn(`OTEL_TRACES_SAMPLER_ARG=${raw} is not a ratio within 0 and 1: tracing every request`);
      return 1;
    }
    default:
      warn(
        `OTEL_TRACES_SAMPLER=${sampler} is not one sparkinfer knows (always_on, always_off, traceidratio, parentbased_*): tracing every request`,
      );
      return 1;
  }
}

/** The run's trace settings, or undefined when the run is not traced. */
export function resolveTraceSettings(
  spec: TracesSpec | undefined,
  env: NodeJS.ProcessEnv,
  warn: (m: string) => void = () => {},
): TraceSettings | undefined {
  if ((env.OTEL_SDK_DISABLED ?? '').trim().toLowerCase() === 'true') return undefined;
  if ((env.OTEL_TRACES_EXPORTER ?? '').trim().toLowerCase() === 'none') return undefined;
  const fromEnv = nonEmpty(env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) ?? mapDefined(nonEmpty(env.OTEL_EXPORTER_OTLP_ENDPOINT), tracesUrl);
  let endpoint: string | undefined;
  if (spec?.endpoint !== undefined) endpoint = tracesUrl(spec.endpoint);
  else if (fromEnv !== undefined) endpoint = fromEnv;
  else if (spec !== undefined) endpoint = tracesUrl(DEFAULT_OTLP_HTTP);
  if (endpoint === undefined) return undefined;
  const ratio = spec?.sample_ratio ?? samplerRatio(env, warn);
  if (ratio === undefined) return undefined;
  return { endpoint, sample_ratio: ratio };
}

function nonEmpty(v: string | undefined): string | undefined {
  return v === undefined || v.trim() === '' ? undefined : v.trim();
}

function mapDefined<T, U>(v: T | undefined, f: (t: T) => U): U | undefined {
  return v === undefined ? undefined : f(v);
}
