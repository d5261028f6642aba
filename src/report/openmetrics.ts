/**
 * A live run's counts as Prometheus metrics (docs/observability.md): the OpenMetrics text format
 * (https://prometheus.io/docs/specs/om/open_metrics_spec/), or Prometheus' classic text format
 * 0.0.4 for a scraper that does not ask for OpenMetrics. Renders only: the numbers come from the
 * run directory (rundir/progress.ts, summed over the workers' stats files) and the engine sample
 * of the run's timeline. Names follow Prometheus' conventions: a `sparkinfer_` prefix, base units
 * in the name (`_seconds`, `_ratio`), `_total` on counters. Every series carries `job_name` (the
 * job's `name`) and `run_id`.
 */
import { LATENCY_BOUNDS_S } from '../rundir/histogram.ts';
import type { Progress } from '../rundir/progress.ts';

export const OPENMETRICS_TYPE = 'application/openmetrics-text; version=1.0.0; charset=utf-8';
export const PROMETHEUS_TEXT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

export interface MetricsInput {
  job: string;
  runId: string;
  progress: Progress;
  /** The engine as the run's timeline last sampled it (engine/sampler.ts), when it could. */
  engine?: { running?: number | undefined; waiting?: number | undefined; kvUsage?: number | undefined } | undefined;
  /** True once the run has ended (its summary is written): every count is final. */
  finished: boolean;
}

type Labels = Record<string, string>;
interface Family {
  name: string;
  type: 'counter' | 'gauge' | 'histogram';
  help: string;
  unit?: string;
  /** Sample lines' name suffix, labels and value. */
  samples: Array<{ suffix?: string; labels?: Labels; value: number }>;
}

/** A label value as the text formats quote it: backslash, double quote and newline escaped. */
function quote(v: string): string {
  return `"${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`;
}

function num(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Number.POSITIVE_INFINITY) return '+Inf';
  if (v === Number.NEGATIVE_INFINITY) return '-Inf';
  return String(v);
}

const byKey = (counts: Record<string, number> | undefined, label: string) =>
  Object.entries(counts ?? {})
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, n]) => ({ labels: { [label]: k }, value: n }));

function counter(name: string, help: string, samples: Family['samples']): Family {
  return { name, type: 'counter', help, samples: samples.map((s) => ({ ...s, suffix: '_total' })) };
}

function gauge(name: string, help: string, value: number | undefined, unit?: string): Family[] {
  if (value === undefined || !Number.isFinite(value)) return [];
  return [{ name, type: 'gauge', help, ...(unit !== undefined ? { unit } : {}), samples: [{ value }] }];
}

function latencyFamily(p: Progress): Family {
  const h = p.latency;
  const counts = h?.counts ?? [];
  let cumulative = 0;
  const buckets = [...LATENCY_BOUNDS_S, Number.POSITIVE_INFINITY].map((bound, i) => {
    cumulative += counts[i] ?? 0;
    return { suffix: '_bucket', labels: { le: num(bound) }, value: cumulative };
  });
  return {
    name: 'sparkinfer_request_duration_seconds',
    type: 'histogram',
    unit: 'seconds',
    help: 'Latency of every request attempt, from send to the last byte of the answer or the failure.',
    samples: [...buckets, { suffix: '_count', value: cumulative }, { suffix: '_sum', value: h?.sum ?? 0 }],
  };
}

/** The families, in a fixed order. */
export function metricFamilies(m: MetricsInput): Family[] {
  const p = m.progress;
  const ok = Math.max(0, p.rowsDone - p.rowsFailed);
  return [
    ...gauge('sparkinfer_rows_planned', 'Rows this run will infer (known once the driver planned them).', p.rowsTotal),
    counter('sparkinfer_rows', 'Rows finished, by outcome (ok, or a per-row error).', [
      { labels: { outcome: 'ok' }, value: ok },
      { labels: { outcome: 'error' }, value: p.rowsFailed },
    ]),
    counter('sparkinfer_row_errors', 'Rows that ended in a per-row error, by error code.', byKey(p.errorsByCode, 'code')),
    counter('sparkinfer_tokens', 'Tokens the engine reported, by kind.', [
      { labels: { kind: 'prompt' }, value: p.promptTokens },
      { labels: { kind: 'completion' }, value: p.completionTokens },
    ]),
    counter('sparkinfer_prompt_tokens_cached', 'Prompt tokens the engine served from its prefix cache (where it says so).', [
      { value: p.promptTokensCached ?? 0 },
    ]),
    counter('sparkinfer_requests', 'Requests sent to the engine: every attempt, retries and hedges included.', [
      { value: p.requestsSent ?? 0 },
    ]),
    counter('sparkinfer_retries', 'Failed attempts sent again, by reason (outage requeues included).', byKey(p.retriesByReason, 'reason')),
    counter('sparkinfer_hedges', 'Second copies of requests out far longer than the others.', [{ value: p.hedges ?? 0 }]),
    counter('sparkinfer_window_cuts', "Cuts of the workers' adaptive windows, by reason.", byKey(p.windowCuts, 'reason')),
    ...gauge('sparkinfer_requests_in_flight', 'Requests out at the engine now, over the running workers.', p.inflight),
    ...gauge('sparkinfer_window_requests', "The running workers' in-flight windows, summed.", p.window),
    ...gauge('sparkinfer_workers_active', 'Workers (Spark tasks) running now.', p.active),
    ...gauge(
      'sparkinfer_engine_requests_running',
      'Requests the engine reports running (its metrics, as the run samples them).',
      m.engine?.running,
    ),
    ...gauge('sparkinfer_engine_requests_waiting', 'Requests the engine reports waiting in its queue.', m.engine?.waiting),
    ...gauge('sparkinfer_engine_kv_cache_usage_ratio', "The engine's KV-cache usage, 0 to 1.", m.engine?.kvUsage, 'ratio'),
    latencyFamily(p),
    ...gauge('sparkinfer_run_finished', '1 once the run has ended and every count is final, else 0.', m.finished ? 1 : 0),
  ];
}

/**
 * The exposition text. `openMetrics`: the OpenMetrics format (`# UNIT`, counters' family names
 * without `_total`, `# EOF`); else Prometheus' text format 0.0.4.
 */
export function renderMetrics(m: MetricsInput, openMetrics: boolean): string {
  // Not `job`: Prometheus sets that label on every target itself, and would rename ours `exported_job`.
  const base: Labels = { job_name: m.job, run_id: m.runId };
  const lines: string[] = [];
  for (const f of metricFamilies(m)) {
    // In the 0.0.4 format a counter's TYPE and HELP name the sample, `_total` included.
    const family = !openMetrics && f.type === 'counter' ? `${f.name}_total` : f.name;
    lines.push(`# TYPE ${family} ${f.type}`);
    if (openMetrics && f.unit !== undefined) lines.push(`# UNIT ${family} ${f.unit}`);
    // OpenMetrics escapes a double quote in HELP too; the 0.0.4 format only backslash and newline.
    const help = f.help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
    lines.push(`# HELP ${family} ${openMetrics ? help.replace(/"/g, '\\"') : help}`);
    for (const s of f.samples) {
      const labels = Object.entries({ ...base, ...s.labels })
        .map(([k, v]) => `${k}=${quote(v)}`)
        .join(',');
      lines.push(`${f.name}${s.suffix ?? ''}{${labels}} ${num(s.value)}`);
    }
  }
  if (openMetrics) lines.push('# EOF');
  return `${lines.join('\n')}\n`;
}

/** Whether an `Accept` header asks for OpenMetrics (Prometheus sends it first since 2.5). */
export function wantsOpenMetrics(accept: string | undefined): boolean {
  return accept !== undefined && /application\/openmetrics-text/i.test(accept);
}
