/**
 * The run report: `<run dir>/report.html` (one self-contained file: inline SVG charts and tables,
 * no script, no link, so it opens offline) and `<run dir>/report.png` (the in-flight chart with the
 * verdict, for a chat or a ticket). Inputs: the CLI's timeline (timeline.ts), this run's ledger
 * (latency, attempts, errors by code with one sample row each) and the summary.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { escapeXml, renderSvg, svgToPng, type ChartSpec } from './chart.ts';
import type { Sample, Verdict } from './timeline.ts';
import { formatCounts } from './summary.ts';
import { parseLedgerText } from '../rundir/ledger.ts';
import type { Summary } from '../rundir/summary.ts';

export interface LedgerFacts {
  latency: { p50: number; p90: number; p99: number; max: number } | null;
  retries: number;
  errors: Array<{ code: string; count: number; sampleKey: string; sampleMessage: string }>;
}

function percentile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? 0;
}

/** Latency percentiles, retries and errors by code from this run's ledger files. */
export function ledgerFacts(runDir: string): LedgerFacts {
  const dir = join(runDir, 'ledger');
  const lat: number[] = [];
  let retries = 0;
  const errors = new Map<string, { count: number; sampleKey: string; sampleMessage: string }>();
  const files = existsSync(dir) ? readdirSync(dir).filter((n) => n.endsWith('.jsonl')) : [];
  for (const f of files) {
    let text: string;
    try {
      text = readFileSync(join(dir, f), 'utf8');
    } catch {
      continue;
    }
    for (const r of parseLedgerText(text)) {
      if (typeof r.latency_ms === 'number') lat.push(r.latency_ms);
      if (typeof r.attempts === 'number' && r.attempts > 1) retries += r.attempts - 1;
      const code = r.error_code;
      if (typeof code === 'string') {
        const e = errors.get(code);
        if (e !== undefined) e.count++;
        else errors.set(code, { count: 1, sampleKey: String(r.k), sampleMessage: String(r.error_message ?? '').slice(0, 300) });
      }
    }
  }
  lat.sort((a, b) => a - b);
  return {
    latency:
      lat.length === 0
        ? null
        : { p50: percentile(lat, 0.5), p90: percentile(lat, 0.9), p99: percentile(lat, 0.99), max: lat[lat.length - 1] ?? 0 },
    retries,
    errors: [...errors.entries()].map(([code, e]) => ({ code, ...e })).sort((a, b) => b.count - a.count),
  };
}

/** tok/s and rows/s over the last RATE_SPAN samples (the stats files change about once a second). */
const RATE_SPAN = 5;
function rates(samples: readonly Sample[]): { tok: Array<{ x: number; y: number }>; rows: Array<{ x: number; y: number }> } {
  const tok: Array<{ x: number; y: number }> = [];
  const rows: Array<{ x: number; y: number }> = [];
  for (let i = 1; i < samples.length; i++) {
    const a = samples[Math.max(0, i - RATE_SPAN)] as Sample;
    const b = samples[i] as Sample;
    const dt = (b.t - a.t) / 1000;
    if (dt <= 0) continue;
    const x = Math.round(b.t / 100) / 10;
    tok.push({ x, y: Math.max(0, (b.completionTokens - a.completionTokens) / dt) });
    rows.push({ x, y: Math.max(0, (b.rowsDone - a.rowsDone) / dt) });
  }
  return { tok, rows };
}

const sec = (s: Sample): number => Math.round(s.t / 100) / 10;

export function charts(samples: readonly Sample[]): ChartSpec[] {
  if (samples.length < 2) return [];
  const r = rates(samples);
  const specs: ChartSpec[] = [
    {
      title: 'Throughput (5 s average)',
      kind: 'line',
      maxXLabels: 12,
      xLabel: 'seconds',
      yLabel: 'per second',
      series: [
        { name: 'completion tok/s', points: r.tok },
        { name: 'rows/s', points: r.rows },
      ],
    },
  ];
  const load = [
    { name: 'our requests in flight', points: samples.map((s) => ({ x: sec(s), y: s.inflight })) },
    { name: 'our windows (sum)', points: samples.map((s) => ({ x: sec(s), y: s.window })) },
  ];
  if (samples.some((s) => s.running !== undefined))
    load.push({ name: 'engine running', points: samples.map((s) => ({ x: sec(s), y: s.running ?? 0 })) });
  if (samples.some((s) => s.waiting !== undefined))
    load.push({ name: 'engine waiting', points: samples.map((s) => ({ x: sec(s), y: s.waiting ?? 0 })) });
  specs.push({
    title: 'Our requests in flight vs the engine',
    kind: 'line',
    maxXLabels: 12,
    xLabel: 'seconds',
    yLabel: 'requests',
    series: load,
  });
  if (samples.some((s) => s.kvUsage !== undefined)) {
    specs.push({
      title: 'Engine KV cache use',
      kind: 'line',
      maxXLabels: 12,
      xLabel: 'seconds',
      yLabel: '%',
      series: [{ name: 'KV use %', points: samples.map((s) => ({ x: sec(s), y: (s.kvUsage ?? 0) * 100 })) }],
    });
  }
  return specs;
}

export function verdictText(v: Verdict): string {
  if (v.bottleneck === null) return 'no verdict (the inference was too short to sample)';
  const pct = (x: number): string => `${Math.round(x * 100)}%`;
  return `${v.bottleneck}-bound (engine ${pct(v.fractions.engine)}, orchestrator ${pct(v.fractions.orchestrator)}, Spark ${pct(v.fractions.spark)} of ${v.samples} s)`;
}

const EVIDENCE: Record<string, string> = {
  engine:
    "the engine's queue never ran dry: requests were waiting in it, or every slot was busy. More engines (or GPUs) would help; a larger window would not.",
  orchestrator:
    'the engine had free slots and an empty queue while our requests were in flight: the in-flight window was the limit. Raise engine.concurrency (or let auto grow it).',
  spark:
    'the engine was idle and nothing of ours was in flight: tasks were waiting on input or output, or not started. More partitions or faster storage would help.',
};

export function renderHtml(summary: Summary, samples: readonly Sample[], verdict: Verdict, facts: LedgerFacts): string {
  const h = escapeXml;
  const svgs = charts(samples).map((c) => renderSvg({ ...c, width: 900, height: 360 }));
  const row = (k: string, v: string): string => `<tr><th>${h(k)}</th><td>${h(v)}</td></tr>`;
  const lat = facts.latency;
  const errors =
    facts.errors.length === 0
      ? '<p>No row failed.</p>'
      : `<table><tr><th>code</th><th>rows</th><th>sample key</th><th>sample message</th></tr>${facts.errors.map((e) => `<tr><td>${h(e.code)}</td><td>${e.count}</td><td>${h(e.sampleKey)}</td><td>${h(e.sampleMessage)}</td></tr>`).join('')}</table>`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>sparkinfer run ${h(summary.run_id)}</title>
<style>body{font-family:DejaVu Sans,Arial,sans-serif;margin:24px;max-width:960px;color:#1a202c}th{text-align:left;padding-right:16px}td,th{padding:2px 8px;vertical-align:top}table{border-collapse:collapse;margin:8px 0}tr:nth-child(even){background:#f7fafc}.verdict{font-size:1.3em;padding:8px 12px;background:#ebf8ff;border-left:4px solid #2b6cb0}</style>
</head><body>
<h1>Run ${h(summary.run_id)}: ${h(summary.status)}</h1>
${summary.message !== undefined ? `<p>${h(summary.message)}</p>` : ''}
<p class="verdict">${h(verdictText(verdict))}</p>
${verdict.bottleneck !== null ? `<p>Evidence: ${h(EVIDENCE[verdict.bottleneck] ?? '')}</p>` : ''}
<table>
${row('rows', `${summary.rows_in} in, ${summary.rows_ok} ok, ${summary.rows_failed} failed (${summary.rows_from_ledger} from earlier runs, ${summary.rows_inferred} inferred)`)}
${row('tokens', `${summary.prompt_tokens} prompt, ${summary.completion_tokens} completion; ${summary.output_tokens_per_s} output tok/s over ${summary.wall_s} s`)}
${row('latency (ms)', lat === null ? 'none measured' : `p50 ${lat.p50}, p90 ${lat.p90}, p99 ${lat.p99}, max ${lat.max}`)}
${row('retries', String(facts.retries))}
${row('retries by reason', formatCounts(summary.retries_by_reason))}
${row('window cuts by reason', formatCounts(summary.window_cuts_by_reason))}
${row('output', summary.output ?? '(none)')}
${row('run dir', summary.run_dir)}
</table>
${svgs.join('\n')}
<h2>Errors by code</h2>
${errors}
</body></html>
`;
}

/**
 * Writes report.html, timeline.json (the samples the charts are drawn from, one per second: `t` ms
 * since the start, rows, `inflight`, `window`, the engine's `running`/`waiting`/`kvUsage`, `class`),
 * and report.png where the rasterizer is installed; returns the report's paths.
 */
export async function writeRunReport(
  runDir: string,
  summary: Summary,
  samples: readonly Sample[],
  verdict: Verdict,
  log: (m: string) => void,
): Promise<{ html: string; png: string | null }> {
  const html = join(runDir, 'report.html');
  writeFileSync(html, renderHtml(summary, samples, verdict, ledgerFacts(runDir)));
  writeFileSync(join(runDir, 'timeline.json'), `${JSON.stringify(samples)}\n`);
  const specs = charts(samples);
  const main = specs[1] ?? specs[0];
  if (main === undefined) return { html, png: null };
  try {
    const png = join(runDir, 'report.png');
    writeFileSync(
      png,
      await svgToPng(
        renderSvg({
          ...main,
          width: 1000,
          note: `${verdictText(verdict)}; run ${summary.run_id}, ${summary.rows_in} rows, ${summary.wall_s} s`,
        }),
      ),
    );
    return { html, png };
  } catch (err) {
    log(`sparkinfer: no report.png (${(err as Error).message.slice(0, 200)}); report.html has the same charts`);
    return { html, png: null };
  }
}
