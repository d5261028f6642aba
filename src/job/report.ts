/**
 * The report phase of a local run: the summary (the driver's counts, the CLI's wall time and
 * status, the workers' retry and window-cut reasons), the run report with the timeline's verdict,
 * and `<run dir>/summary.json`, written even on a full disk (the reserve makes room).
 */
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildSummary } from '../report/summary.ts';
import type { Summary } from '../rundir/summary.ts';
import { readProgress } from '../rundir/progress.ts';
import type { Timeline } from './timeline.ts';
import { writeRunReport } from '../report/run-report.ts';
import { RESERVE_FILE } from './run-setup.ts';
import type { Verdict } from './commit.ts';

export interface ReportInput {
  runId: string;
  runDir: string;
  startedMs: number;
  /** The output path or table, as the run resolved it. */
  output: string | null;
  verdict: Verdict;
  timeline: Timeline | undefined;
  log: (line: string) => void;
}

export async function reportRun(o: ReportInput): Promise<Summary> {
  const { verdict: v, runDir } = o;
  const counts = readProgress(runDir);
  const summary = buildSummary({
    runId: o.runId,
    runDir,
    wallMs: Date.now() - o.startedMs,
    status: v.status,
    exitCode: v.exitCode,
    output: o.output,
    engineCache: { known: counts.promptTokensCacheKnown ?? 0, cached: counts.promptTokensCached ?? 0 },
    reasons: { retries: counts.retriesByReason, cuts: counts.windowCuts },
    ...(v.driver !== undefined ? { driver: v.driver } : {}),
    ...(v.message !== undefined ? { message: v.message } : {}),
  });
  if (o.timeline !== undefined) await addRunReport(summary, o.timeline, runDir, o.log);
  // On a full disk the reserve makes room for the summary (rundir.ts RESERVE_FILE).
  rmSync(join(runDir, RESERVE_FILE), { force: true });
  try {
    writeFileSync(join(runDir, 'summary.json'), JSON.stringify(summary, null, 2));
  } catch (err) {
    o.log(`sparkinfer: cannot write ${join(runDir, 'summary.json')}: ${(err as Error).message}`);
  }
  return summary;
}

/** The timeline's verdict into the summary, and report.html (report.png) beside it; a report that can't be written is logged. */
async function addRunReport(summary: Summary, timeline: Timeline, runDir: string, log: (line: string) => void): Promise<void> {
  const v = timeline.verdict();
  summary.engine_busy_fraction = v.engine_busy_fraction;
  summary.bottleneck = v.bottleneck;
  try {
    const r = await writeRunReport(runDir, summary, timeline.samples, v, log);
    summary.report = r.html;
    summary.report_png = r.png;
  } catch (err) {
    log(`sparkinfer: cannot write the report: ${(err as Error).message}`);
  }
}
