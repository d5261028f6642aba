/**
 * A parser for the Prometheus text exposition format (version 0.0.4), enough to read engine load
 * from vLLM's and llama-server's `/metrics`. Malformed lines are skipped, not fatal: a metrics
 * hiccup must never fail inference.
 */

export interface PrometheusSample {
  labels: Record<string, string>;
  /** May be NaN, Infinity or -Infinity. */
  value: number;
  /** Milliseconds since the epoch, when the line carries one. */
  timestamp?: number;
}

export type PrometheusMetrics = Map<string, PrometheusSample[]>;

const NAME = /^[A-Za-z_:][A-Za-z0-9_:]*/;
const LABEL_NAME = /^[A-Za-z_][A-Za-z0-9_]*/;

/** Parses a value token: floats plus `NaN`, `+Inf`, `-Inf` (case-insensitive, as Go's parser does). */
function parseValue(tok: string): number | undefined {
  const t = tok.toLowerCase();
  if (t === 'nan') return Number.NaN;
  if (t === '+inf' || t === 'inf') return Number.POSITIVE_INFINITY;
  if (t === '-inf') return Number.NEGATIVE_INFINITY;
  if (!/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/.test(t)) return undefined;
  return Number(t);
}

/**
 * Parses `{a="x",b="y \"q\""}` starting at `text[0] === '{'`.
 * @returns the labels and the index just past `}`, or undefined when malformed
 */
function parseLabels(text: string): { labels: Record<string, string>; end: number } | undefined {
  const labels: Record<string, string> = {};
  let i = 1;
  const skipSpace = (): void => {
    while (text[i] === ' ' || text[i] === '\t') i++;
  };
  for (;;) {
    skipSpace();
    if (text[i] === '}') return { labels, end: i + 1 };
    const name = LABEL_NAME.exec(text.slice(i))?.[0];
    if (name === undefined) return undefined;
    i += name.length;
    skipSpace();
    if (text[i] !== '=') return undefined;
    i++;
    skipSpace();
    if (text[i] !== '"') return undefined;
    i++;
    let value = '';
    for (;;) {
      const c = text[i];
      if (c === undefined) return undefined;
      if (c === '"') break;
      if (c === '\\') {
        const n = text[i + 1];
        if (n === undefined) return undefined;
        value += n === 'n' ? '\n' : n; // `\\` and `\"` yield the character itself
        i += 2;
      } else {
        value += c;
        i++;
      }
    }
    i++;
    labels[name] = value;
    skipSpace();
    if (text[i] === ',') i++;
    else if (text[i] !== '}') return undefined;
  }
}

/** Parses one sample line; undefined when malformed. */
function parseSample(line: string): { name: string; sample: PrometheusSample } | undefined {
  const name = NAME.exec(line)?.[0];
  if (name === undefined) return undefined;
  let rest = line.slice(name.length);
  let labels: Record<string, string> = {};
  if (rest.trimStart().startsWith('{')) {
    rest = rest.trimStart();
    const parsed = parseLabels(rest);
    if (parsed === undefined) return undefined;
    labels = parsed.labels;
    rest = rest.slice(parsed.end);
  } else if (rest !== '' && rest[0] !== ' ' && rest[0] !== '\t') {
    return undefined;
  }
  const tokens = rest.trim().split(/[ \t]+/);
  if (tokens.length < 1 || tokens.length > 2 || tokens[0] === '') return undefined;
  const value = parseValue(tokens[0] ?? '');
  if (value === undefined) return undefined;
  const sample: PrometheusSample = { labels, value };
  if (tokens[1] !== undefined) {
    if (!/^-?\d+$/.test(tokens[1])) return undefined;
    sample.timestamp = Number(tokens[1]);
  }
  return { name, sample };
}

/**
 * Parses exposition text into samples by metric name (histogram series keep their `_bucket`,
 * `_sum`, `_count` names). `# HELP` / `# TYPE` and other comments are skipped.
 */
export function parsePrometheus(text: string): PrometheusMetrics {
  const out: PrometheusMetrics = new Map();
  for (const raw of text.split('\n')) {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    const parsed = parseSample(trimmed);
    if (parsed === undefined) continue;
    const list = out.get(parsed.name);
    if (list === undefined) out.set(parsed.name, [parsed.sample]);
    else list.push(parsed.sample);
  }
  return out;
}

export interface EngineLoad {
  /** Which engine's metric names were found. */
  source: 'vllm' | 'llama-server' | undefined;
  /** Requests queued in the engine (vLLM waiting; llama-server deferred). */
  waiting: number | undefined;
  /** Requests being decoded (vLLM running; llama-server busy slots). */
  running: number | undefined;
  /** KV-cache usage as a fraction 0..1 (the highest when several engines report). */
  kvUsage: number | undefined;
  /** Preemptions since engine start, a counter (vLLM `vllm:num_preemptions_total`). */
  preempted?: number | undefined;
}

function finite(samples: PrometheusSample[] | undefined): number[] {
  return (samples ?? []).map((s) => s.value).filter((v) => Number.isFinite(v));
}

/** Sum over series (several engines, e.g. data parallel), or undefined when absent. */
function sum(samples: PrometheusSample[] | undefined): number | undefined {
  const v = finite(samples);
  return v.length === 0 ? undefined : v.reduce((a, b) => a + b, 0);
}

function max(samples: PrometheusSample[] | undefined): number | undefined {
  const v = finite(samples);
  return v.length === 0 ? undefined : Math.max(...v);
}

/**
 * Extracts engine load from `/metrics` text (or parsed metrics). vLLM: `vllm:num_requests_waiting`,
 * `vllm:num_requests_running`, `vllm:kv_cache_usage_perc` (older: `vllm:gpu_cache_usage_perc`);
 * both are fractions despite the name. llama-server: `llamacpp:requests_deferred`,
 * `llamacpp:requests_processing`, and `llamacpp:kv_cache_usage_ratio` where the build still has it
 * (b-series builds around 11434 export no KV metric, so kvUsage stays undefined there).
 */
export function engineLoad(metrics: string | PrometheusMetrics): EngineLoad {
  const m = typeof metrics === 'string' ? parsePrometheus(metrics) : metrics;
  const vllm = {
    waiting: sum(m.get('vllm:num_requests_waiting')),
    running: sum(m.get('vllm:num_requests_running')),
    kvUsage: max(m.get('vllm:kv_cache_usage_perc')) ?? max(m.get('vllm:gpu_cache_usage_perc')),
  };
  if (vllm.waiting !== undefined || vllm.running !== undefined || vllm.kvUsage !== undefined) {
    const preempted = sum(m.get('vllm:num_preemptions_total')) ?? sum(m.get('vllm:num_preemptions'));
    return { source: 'vllm', ...vllm, ...(preempted !== undefined ? { preempted } : {}) };
  }
  const llama = {
    waiting: sum(m.get('llamacpp:requests_deferred')),
    running: sum(m.get('llamacpp:requests_processing')),
    kvUsage: max(m.get('llamacpp:kv_cache_usage_ratio')),
  };
  if (llama.waiting !== undefined || llama.running !== undefined || llama.kvUsage !== undefined)
    return { source: 'llama-server', ...llama };
  return { source: undefined, waiting: undefined, running: undefined, kvUsage: undefined };
}
