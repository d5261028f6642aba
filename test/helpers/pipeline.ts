/** The partition pipeline's dependencies for unit tests: an in-process engine stand-in and an in-memory stdout. */
import type { PipelineDeps } from '../../src/worker/pipeline.ts';
import { parseInputLine } from '../../src/worker/input.ts';
import type { ResultLine } from '../../src/worker/protocol.ts';

/** `n` protocol lines `{_k: k<i>, q: q<i>, _c: null}`. */
export async function* linesOf(n: number): AsyncGenerator<string> {
  for (let i = 0; i < n; i++) yield JSON.stringify({ _k: `k${i}`, q: `q${i}`, _c: null });
}

/**
 * Deps for `runPipeline`: 50 rows, a window of 4, 5xx retried three times, E_CONNECT an outage;
 * results go to `out`. `over` replaces any of them and must give the `attempt` (the engine stand-in).
 */
export function pipelineDeps(over: Partial<PipelineDeps> & { attempt: PipelineDeps['attempt'] }, out: ResultLine[]): PipelineDeps {
  return {
    lines: linesOf(50),
    parse: parseInputLine,
    prepare: (row) => ({ path: '/chat/completions', body: JSON.stringify({ q: row.row.q }) }),
    decide: (e, n) => ({ retry: e.code === 'E_HTTP_5XX' && n <= 3, delayMs: 1, outage: e.code === 'E_CONNECT' }),
    window: { limit: () => 4 },
    emit: (r) => {
      out.push(r);
      return true;
    },
    drained: () => Promise.resolve(),
    waitHealthy: () => Promise.resolve(true),
    outageTimeoutMs: 1000,
    includeRequest: false,
    model: 'm',
    now: Date.now,
    sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
    signal: new AbortController().signal,
    log: () => {},
    ...over,
  };
}
