/**
 * The reference load: pre-rendered bodies sent at a fixed concurrency over one keep-alive undici
 * Pool, each connection carrying one request at a time. No retries, no scheduler: it measures what
 * the engine gives when it is kept full.
 */
import { Pool } from 'undici';

export interface LoadOptions {
  /** Server root, e.g. `http://127.0.0.1:8080` (no `/v1`). */
  origin: string;
  /** Request path, e.g. `/v1/chat/completions`. */
  path: string;
  /** Pre-rendered JSON bodies, sent in order. */
  bodies: readonly string[];
  /** Requests in flight at once, from 1 and up. */
  concurrency: number;
  /** Per-request limit in ms. Default 600_000. */
  timeoutMs?: number;
}

export interface LoadResult {
  requests: number;
  ok: number;
  failed: number;
  promptTokens: number;
  completionTokens: number;
  wallS: number;
  /** Completion tokens per wall second. */
  tokS: number;
  /** Requests per wall second. */
  rps: number;
  latencyP50Ms: number;
  latencyP95Ms: number;
}

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
}

export async function runLoad(o: LoadOptions): Promise<LoadResult> {
  if (!Number.isInteger(o.concurrency) || o.concurrency < 1)
    throw new RangeError(`Expected \`concurrency\` to be an integer from 1 and up, got \`${String(o.concurrency)}\``);
  const timeout = o.timeoutMs ?? 600_000;
  const pool = new Pool(o.origin, {
    connections: o.concurrency,
    pipelining: 1,
    headersTimeout: timeout,
    bodyTimeout: timeout,
    keepAliveTimeout: 60_000,
  });
  let next = 0;
  let ok = 0;
  let failed = 0;
  let promptTokens = 0;
  let completionTokens = 0;
  const latencies: number[] = [];
  const t0 = performance.now();
  const lane = async (): Promise<void> => {
    for (;;) {
      const i = next++;
      if (i >= o.bodies.length) return;
      const s = performance.now();
      try {
        const res = await pool.request({
          method: 'POST',
          path: o.path,
          body: o.bodies[i] as string,
          headers: { 'content-type': 'application/json' },
        });
        const text = await res.body.text();
        if (res.statusCode !== 200) {
          failed++;
          continue;
        }
        const usage = (JSON.parse(text) as { usage?: { prompt_tokens?: number; completion_tokens?: number } }).usage;
        promptTokens += usage?.prompt_tokens ?? 0;
        completionTokens += usage?.completion_tokens ?? 0;
        ok++;
        latencies.push(performance.now() - s);
      } catch {
        failed++;
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(o.concurrency, o.bodies.length) }, lane));
  } finally {
    await pool.close();
  }
  const wallS = (performance.now() - t0) / 1000;
  latencies.sort((a, b) => a - b);
  return {
    requests: o.bodies.length,
    ok,
    failed,
    promptTokens,
    completionTokens,
    wallS,
    tokS: completionTokens / wallS,
    rps: ok / wallS,
    latencyP50Ms: quantile(latencies, 0.5),
    latencyP95Ms: quantile(latencies, 0.95),
  };
}

/**
 * Several arms of the reference load as one: counts, tokens and wall time summed, rates over the
 * summed wall time. Latency percentiles can't be merged from percentiles; the larger part's is kept.
 */
export function combineLoads(parts: readonly LoadResult[]): LoadResult {
  const sum = (f: (r: LoadResult) => number): number => parts.reduce((s, r) => s + f(r), 0);
  const wallS = sum((r) => r.wallS);
  const completionTokens = sum((r) => r.completionTokens);
  const ok = sum((r) => r.ok);
  return {
    requests: sum((r) => r.requests),
    ok,
    failed: sum((r) => r.failed),
    promptTokens: sum((r) => r.promptTokens),
    completionTokens,
    wallS,
    tokS: completionTokens / wallS,
    rps: ok / wallS,
    latencyP50Ms: Math.max(0, ...parts.map((r) => r.latencyP50Ms)),
    latencyP95Ms: Math.max(0, ...parts.map((r) => r.latencyP95Ms)),
  };
}
