/**
 * Reads a llama-server log that the bench's engine wrote (sparkinfer appends one section per engine
 * start, headed `=== sparkinfer: <ISO time> start …`) and prints, as JSON, how fast the engine itself
 * stepped: for each released request llama-server logs `eval time = X ms / N tokens (Y ms per
 * token …)`, and with every slot busy Y is the length of one decode step.
 *
 *   node bench/gpu/engine-steps.ts ENGINE.log[.gz] [--result gpu-….json] [--bucket-s 10]
 *
 * With --result (a gpu-bench result whose arms carry `measured_from`/`measured_to`), one row per
 * arm: the requests released inside its measured period, their mean step and the engine-side
 * tok/s, and the engine's mean running and waiting requests from the arm's trace. Without it,
 * one row per bucket of wall time. This is what tells "the worker left the engine idle" (fewer
 * running, same step) from "the engine ran slower" (same running, longer step).
 */
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { parseArgs } from 'node:util';
import { round } from '../lib/context.ts';

export interface Release {
  at: number;
  stepMs: number;
  tokens: number;
}

/** Released requests with their wall-clock time (ms since the epoch), from every engine start in the log. */
export function readReleases(text: string): Release[] {
  const out: Release[] = [];
  let t0: number | null = null;
  // llama.cpp's log prefix is minutes.seconds.milliseconds.microseconds since the process started.
  const timing =
    /^(\d+)\.(\d+)\.(\d+)\.(\d+) I slot print_timing: .*\|\s+eval time =\s+[\d.]+ ms \/\s+(\d+) tokens \(\s*([\d.]+) ms per token/;
  for (const line of text.split('\n')) {
    if (line.startsWith('=== sparkinfer: ')) {
      const iso = line.slice('=== sparkinfer: '.length).split(' ')[0] ?? '';
      const ms = Date.parse(iso);
      t0 = Number.isFinite(ms) ? ms : null;
      continue;
    }
    const m = timing.exec(line);
    if (m === null || t0 === null) continue;
    const sinceStart = (Number(m[1]) * 60 + Number(m[2])) * 1000 + Number(m[3]) + Number(m[4]) / 1000;
    out.push({ at: t0 + sinceStart, tokens: Number(m[5]), stepMs: Number(m[6]) });
  }
  return out;
}

/** Mean decode step and engine-side rates of the requests released in [from, to). */
export function summarize(
  rel: Release[],
  from: number,
  to: number,
): { released: number; step_ms: number | null; tok_s: number; rps: number } {
  const inside = rel.filter((r) => r.at >= from && r.at < to);
  const s = (to - from) / 1000;
  return {
    released: inside.length,
    step_ms: inside.length === 0 ? null : round(inside.reduce((a, r) => a + r.stepMs, 0) / inside.length, 1),
    tok_s: round(inside.reduce((a, r) => a + r.tokens, 0) / s, 1),
    rps: round(inside.length / s, 1),
  };
}

/**
 * The first engine's mean running and waiting requests over [fromS, toS) of an arm's trace
 * (seconds since the arm started; gpu-bench samples /metrics once a second). A ceiling row is
 * `[t, [[running, waiting], …]]`, a worker row `[t, [[window, in flight], …], [[running, waiting], …]]`:
 * the engines are the last element either way. Null when no sample fell inside.
 */
export function engineQueue(trace: unknown, fromS: number, toS: number): { engine_running: number | null; engine_waiting: number | null } {
  const run: number[] = [];
  const wait: number[] = [];
  for (const row of Array.isArray(trace) ? trace : []) {
    if (!Array.isArray(row) || typeof row[0] !== 'number' || row[0] < fromS || row[0] >= toS) continue;
    const first = (row.at(-1) as unknown[] | undefined)?.[0];
    if (!Array.isArray(first) || typeof first[0] !== 'number' || typeof first[1] !== 'number') continue;
    run.push(first[0]);
    wait.push(first[1]);
  }
  const mean = (v: number[]): number | null => (v.length === 0 ? null : round(v.reduce((a, b) => a + b, 0) / v.length, 1));
  return { engine_running: mean(run), engine_waiting: mean(wait) };
}

function main(): void {
  const { values, positionals } = parseArgs({
    options: { result: { type: 'string' }, 'bucket-s': { type: 'string', default: '10' } },
    allowPositionals: true,
  });
  const file = positionals[0];
  if (file === undefined) throw new Error('usage: engine-steps.ts ENGINE.log[.gz] [--result gpu-….json] [--bucket-s 10]');
  const raw = readFileSync(file);
  const rel = readReleases((file.endsWith('.gz') ? gunzipSync(raw) : raw).toString('utf8'));
  if (values.result !== undefined) {
    const result = JSON.parse(readFileSync(values.result, 'utf8')) as {
      warmup_s?: number;
      measure_s?: number;
      runs: Array<{
        repeats?: Array<Record<string, Record<string, unknown>>>;
        ceiling?: Record<string, unknown>;
        worker?: Record<string, unknown>;
      }>;
    };
    const fromS = result.warmup_s ?? 0;
    const toS = fromS + (result.measure_s ?? Number.POSITIVE_INFINITY);
    const arms: Array<Record<string, unknown>> = [];
    for (const run of result.runs) {
      const pairs = run.repeats ?? [{ ceiling: run.ceiling ?? {}, worker: run.worker ?? {} }];
      pairs.forEach((p, i) => {
        for (const name of ['ceiling', 'worker']) {
          const a = p[name];
          if (a === undefined || typeof a.measured_from !== 'string') continue;
          arms.push({
            pair: i,
            arm: name,
            bench_tok_s: a.tok_s,
            ...summarize(rel, Date.parse(a.measured_from), Date.parse(a.measured_to as string)),
            ...engineQueue(a.trace, fromS, toS),
          });
        }
      });
    }
    process.stdout.write(`${JSON.stringify({ log: file, arms }, null, 1)}\n`);
    return;
  }
  const b = Number(values['bucket-s']) * 1000;
  if (rel.length === 0) throw new Error(`${file}: no released requests with timings`);
  const buckets: Array<Record<string, unknown>> = [];
  for (let t = Math.floor((rel[0] as Release).at / b) * b; t <= (rel.at(-1) as Release).at; t += b) {
    const s = summarize(rel, t, t + b);
    if (s.released > 0) buckets.push({ from: new Date(t).toISOString().slice(11, 19), ...s });
  }
  process.stdout.write(`${JSON.stringify({ log: file, bucket_s: b / 1000, buckets }, null, 1)}\n`);
}

if (import.meta.url === `file://${process.argv[1]}`) main();
