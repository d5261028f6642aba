/**
 * A traced worker (docs/observability.md "Traces"; the run block's `traces`, written by the CLI):
 * its task span, child of the run's span (`run.traces.traceparent`), and a span per sampled row,
 * child of the task span, whose `traceparent` goes to the engine with each of the row's attempts
 * (so the engine's own spans join the trace). It wraps the pipeline's `prepare` (the sampling
 * decision) and `emit` (the row's outcome ends its span). An untraced worker never calls it: no
 * OpenTelemetry code is loaded (trace/tracer.ts) and nothing is wrapped.
 */
import { SPARKINFER_VERSION } from '../jobfile/version.ts';
import { formatTraceparent, parseTraceparent, requestSampler } from '../trace/context.ts';
import { loadTracing, type TraceSpan, type Tracing } from '../trace/tracer.ts';
import type { PipelineCounters, PipelineDeps } from './pipeline-contract.ts';
import type { ResultLine } from './protocol.ts';
import type { WorkerBasics } from './setup.ts';

export interface WorkerTrace {
  /** The pipeline's deps with the sampled rows traced. */
  wrap(d: PipelineDeps): PipelineDeps;
  /** Ends the rows still open and the task span, then flushes the exporter (at most `timeoutMs`). */
  end(o: { counters?: PipelineCounters | undefined; exitCode: number; error?: string | undefined }, timeoutMs?: number): Promise<void>;
}

/** The span's attributes for a row's outcome (OpenTelemetry's gen_ai names where there is one). */
export function requestAttributes(r: ResultLine, c: Pick<PipelineCounters, 'window' | 'inflight'> | undefined) {
  return {
    'gen_ai.usage.input_tokens': r.prompt_tokens ?? undefined,
    'gen_ai.usage.output_tokens': r.completion_tokens ?? undefined,
    'gen_ai.response.finish_reasons': r.finish_reason !== null ? [r.finish_reason] : undefined,
    'sparkinfer.attempts': r.attempts,
    'sparkinfer.status': r.error_code === null ? 'ok' : 'error',
    'sparkinfer.error_code': r.error_code ?? undefined,
    'sparkinfer.latency_ms': r.latency_ms ?? undefined,
    'sparkinfer.window.limit': c?.window,
    'sparkinfer.requests_in_flight': c?.inflight,
  };
}

/** Starts the task span when the run is traced (never in count mode); undefined otherwise. */
export async function startWorkerTrace(w: WorkerBasics): Promise<WorkerTrace | undefined> {
  const t = w.job.run.traces;
  if (t === undefined || w.counting) return undefined;
  let tracing: Tracing;
  try {
    tracing = await loadTracing({
      endpoint: t.endpoint,
      service: 'sparkinfer-worker',
      version: SPARKINFER_VERSION,
      resource: { 'sparkinfer.job': w.job.name, 'sparkinfer.run_id': w.job.run.id },
      log: w.log,
    });
  } catch (err) {
    w.log(`traces: cannot start the exporter (${(err as Error).message}); this task is not traced`);
    return undefined;
  }
  const task = tracing.start('sparkinfer task', {
    parent: parseTraceparent(t.traceparent),
    remoteParent: true,
    attributes: { 'sparkinfer.worker.id': w.id, 'process.pid': process.pid, 'gen_ai.request.model': w.job.model },
  });
  w.log(`traces: task span ${task.ref.spanId} of trace ${task.ref.traceId}, requests sampled at ${t.sample_ratio}`);
  const sample = requestSampler(t.sample_ratio);
  const open = new Map<string, TraceSpan>();
  let counters: PipelineCounters | undefined;
  return {
    wrap: (d) => ({
      ...d,
      prepare: (row) => {
        const p = d.prepare(row);
        if (!sample()) return p;
        const span = tracing.start('sparkinfer request', {
          parent: task.ref,
          kind: 'client',
          attributes: { 'sparkinfer.row.key': row.key, 'url.path': p.path, 'sparkinfer.window.limit': d.window.limit() },
        });
        open.set(row.key, span);
        return { ...p, traceparent: formatTraceparent(span.ref) };
      },
      emit: (r) => {
        if (open.size !== 0) {
          const span = open.get(r.k);
          if (span !== undefined) {
            open.delete(r.k);
            span.set(requestAttributes(r, counters));
            span.end(r.error_code !== null ? { error: r.error_code } : {});
          }
        }
        return d.emit(r);
      },
      onStats: (c) => {
        counters = c;
        d.onStats?.(c);
      },
    }),
    end: async (o, timeoutMs = 5000) => {
      for (const span of open.values()) span.end({ error: 'not finished: the task ended first' });
      open.clear();
      const c = o.counters;
      task.set({
        'sparkinfer.rows': c?.rowsDone,
        'sparkinfer.rows_failed': c?.rowsFailed,
        'sparkinfer.requests': c?.requestsSent,
        'sparkinfer.retries': c?.retries,
        'gen_ai.usage.input_tokens': c?.promptTokens,
        'gen_ai.usage.output_tokens': c?.completionTokens,
        'sparkinfer.exit_code': o.exitCode,
      });
      task.end(o.error !== undefined ? { error: o.error } : {});
      await tracing.shutdown(timeoutMs);
    },
  };
}
