/**
 * Progress while a run is going: rows and tokens from the workers' stats files, the total from the
 * driver's plan.json, tasks from Spark's REST API. Drawn as a bar on a TTY, periodic lines otherwise.
 */
import { request } from 'undici';
import { formatDuration } from '../jobfile/units.ts';
import { type Progress, readProgress } from '../rundir/progress.ts';

export type TaskCounts = { done: number; active: number; total: number };

/** Task counts from Spark's REST API (`/api/v1/applications/<id>/jobs`); undefined when unreachable. */
export async function sparkTasks(uiPort: number): Promise<TaskCounts | undefined> {
  try {
    const base = `http://127.0.0.1:${uiPort}/api/v1/applications`;
    const apps = (await (await request(base, { headersTimeout: 1000, bodyTimeout: 1000 })).body.json()) as Array<{ id: string }>;
    const id = apps[0]?.id;
    if (id === undefined) return undefined;
    const jobs = (await (
      await request(`${base}/${id}/jobs?status=running`, { headersTimeout: 1000, bodyTimeout: 1000 })
    ).body.json()) as Array<{
      numTasks: number;
      numActiveTasks: number;
      numCompletedTasks: number;
    }>;
    let done = 0,
      active = 0,
      total = 0;
    for (const j of jobs) {
      done += j.numCompletedTasks;
      active += j.numActiveTasks;
      total += j.numTasks;
    }
    return { done, active, total };
  } catch {
    return undefined;
  }
}

export function formatProgress(p: Progress, elapsedMs: number, tty: boolean): string {
  const tokS = elapsedMs > 0 ? (p.completionTokens / elapsedMs) * 1000 : 0;
  const total = p.rowsTotal;
  const done = total !== undefined ? Math.min(p.rowsDone, total) : p.rowsDone;
  let eta = '';
  if (total !== undefined && done > 0 && done < total) eta = ` eta ${formatDuration(((total - done) * elapsedMs) / done)}`;
  const tasks = p.tasksTotal !== undefined ? ` tasks ${p.tasksDone ?? 0}/${p.tasksTotal} (${p.tasksActive ?? 0} running)` : '';
  const rows = total !== undefined ? `${done}/${total} rows` : `${done} rows`;
  const text = `${rows}, ${p.rowsFailed} failed, ${tokS.toFixed(1)} tok/s${eta}${tasks} [${formatDuration(elapsedMs)}]`;
  if (!tty || total === undefined || total === 0) return text;
  const width = 24;
  const filled = Math.round((done / total) * width);
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${text}`;
}

/** How often the progress line is written when stderr is not a terminal (a log file, CI). */
export const PROGRESS_LINE_MS = 10_000;
/**
 * How often a terminal's progress bar asks Spark's REST API for task counts. Each question costs
 * the driver JVM work in its UI server (two requests, JSON of every running job) and, on a
 * 1 s cadence, kept its JIT compiler busy: about 3 % of a core for the whole run, on the machine
 * whose CPU a local engine needs (docs/architecture.md, "Progress polling").
 */
export const TASKS_POLL_MS = 5_000;

/**
 * One tick of the CLI's progress (called every second): returns the line to draw, or undefined
 * when none is due. Rows and tokens come from the workers' stats files (cheap, local); task counts
 * from `fetchTasks` only when a line is due and the last answer is older than TASKS_POLL_MS, so a
 * log gets one REST round trip per line and a terminal one per TASKS_POLL_MS.
 */
interface TickerOptions {
  runDir: string;
  tty: boolean;
  startedMs: number;
  fetchTasks?: () => Promise<TaskCounts | undefined>;
}

export class ProgressTicker {
  private lastLine = Number.NEGATIVE_INFINITY;
  private tasksAt = Number.NEGATIVE_INFINITY;
  private tasks: TaskCounts | undefined;

  private readonly o: TickerOptions;

  constructor(o: TickerOptions) {
    this.o = o;
  }

  async tick(nowMs: number): Promise<string | undefined> {
    if (!this.o.tty && nowMs - this.lastLine < PROGRESS_LINE_MS) return undefined;
    this.lastLine = nowMs;
    const p = readProgress(this.o.runDir);
    if (this.o.fetchTasks !== undefined && nowMs - this.tasksAt >= TASKS_POLL_MS) {
      this.tasksAt = nowMs;
      this.tasks = (await this.o.fetchTasks()) ?? this.tasks;
    }
    if (this.tasks !== undefined) {
      p.tasksDone = this.tasks.done;
      p.tasksActive = this.tasks.active;
      p.tasksTotal = this.tasks.total;
    }
    if (p.workers === 0 && p.rowsTotal === undefined) return undefined;
    return formatProgress(p, nowMs - this.o.startedMs, this.o.tty);
  }
}
