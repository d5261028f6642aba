/**
 * The run's span (docs/observability.md "Traces"): when the job's `observability.traces` or the
 * OpenTelemetry environment turns traces on (trace/settings.ts), the CLI starts a `sparkinfer run`
 * span (child of a `TRACEPARENT` in its environment, if any) before Spark starts, hands its
 * `traceparent` and the settings to the workers in the run block (`run.traces`), and ends it with
 * the run's outcome once the summary is written. Off: nothing is loaded.
 */
import type { Job } from '../jobfile/schema.ts';
import type { RunInfo } from '../jobfile/resolved.ts';
import { SPARKINFER_VERSION } from '../jobfile/version.ts';
import type { Summary } from '../rundir/summary.ts';
import { formatTraceparent, parseTraceparent } from '../trace/context.ts';
import { resolveTraceSettings } from '../trace/settings.ts';
import { loadTracing } from '../trace/tracer.ts';

export interface RunTrace {
  /** The run block's `traces`: the workers' settings and parent. */
  block: NonNullable<RunInfo['traces']>;
  /** Ends the run span with the run's outcome and flushes the exporter (at most 5 s). */
  end(o: { summary?: Summary | undefined; exitCode: number; error?: string | undefined }): Promise<void>;
}

/** Starts the run span when the run is traced; undefined otherwise. */
export async function startRunTrace(
  job: Pick<Job, 'name' | 'model' | 'observability'>,
  runId: string,
  log: (line: string) => void,
  env = process.env,
): Promise<RunTrace | undefined> {
  const settings = resolveTraceSettings(job.observability?.traces, env, (m) => log(`sparkinfer: traces: ${m}`));
  if (settings === undefined) return undefined;
  const tracing = await loadTracing({
    endpoint: settings.endpoint,
    service: 'sparkinfer',
    version: SPARKINFER_VERSION,
    resource: { 'sparkinfer.job': job.name, 'sparkinfer.run_id': runId },
    log: (m) => log(`sparkinfer: ${m}`),
  });
  const span = tracing.start('sparkinfer run', {
    parent: parseTraceparent(env.TRACEPARENT),
    remoteParent: true,
    attributes: { 'sparkinfer.job': job.name, 'sparkinfer.run_id': runId, 'gen_ai.request.model': job.model },
  });
  log(`sparkinfer: traces to ${settings.endpoint} (trace ${span.ref.traceId}, requests sampled at ${settings.sample_ratio})`);
  return {
    block: { ...settings, traceparent: formatTraceparent(span.ref) },
    end: async ({ summary, exitCode, error }) => {
      span.set({
        'sparkinfer.status': summary?.status,
        'sparkinfer.exit_code': exitCode,
        'sparkinfer.rows_ok': summary?.rows_ok,
        'sparkinfer.rows_failed': summary?.rows_failed,
        'gen_ai.usage.input_tokens': summary?.prompt_tokens,
        'gen_ai.usage.output_tokens': summary?.completion_tokens,
      });
      const failed = error ?? (summary !== undefined && summary.status !== 'succeeded' ? `run ${summary.status}` : undefined);
      span.end(failed !== undefined ? { error: failed } : {});
      await tracing.shutdown();
    },
  };
}
