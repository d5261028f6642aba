/**
 * Shared by the reliability tests and `bench/soak.ts`: input files, output and ledger tallies,
 * polling, and the scenario table (scenario × rows in, rows out, duplicates, lost, re-inferred).
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseLedgerText } from '../../src/rundir/ledger.ts';

/** `n` rows `{id, question}` whose rendered prompts all differ (the fault proxy tells rows apart by body). */
export function writeQuestions(path: string, n: number): number[] {
  const ids = Array.from({ length: n }, (_, i) => i);
  writeFileSync(path, `${ids.map((i) => JSON.stringify({ id: i, question: questionText(i) })).join('\n')}\n`);
  return ids;
}

/** The question `writeQuestions` writes for row `id`. */
export function questionText(id: number): string {
  return `Q${id}: what is ${id} plus ${id + 1}?`;
}

/** The row id in a request body built from `writeQuestions` rows, or -1. */
export function idOfBody(body: string): number {
  const m = /Q(\d+):/.exec(body);
  return m === null ? -1 : Number(m[1]);
}

/** Every JSON-lines part file of a Spark output folder (empty when it was never committed). */
export function readOutput(dir: string): Array<Record<string, unknown>> {
  if (!existsSync(join(dir, '_SUCCESS'))) return [];
  const rows: Array<Record<string, unknown>> = [];
  for (const f of readdirSync(dir)
    .filter((n) => n.startsWith('part-'))
    .sort()) {
    for (const line of readFileSync(join(dir, f), 'utf8').split('\n'))
      if (line !== '') rows.push(JSON.parse(line) as Record<string, unknown>);
  }
  return rows;
}

export interface Tally {
  rowsOut: number;
  duplicates: number;
  lost: number;
  /** Output rows whose key is not an input key. */
  foreign: number;
  ok: number;
  byKey: Map<string, Record<string, unknown>>;
}

/** Counts the output against the input keys. */
export function tally(rows: Array<Record<string, unknown>>, ids: Array<number | string>, key = 'id'): Tally {
  const want = new Set(ids.map(String));
  const byKey = new Map<string, Record<string, unknown>>();
  let duplicates = 0;
  let foreign = 0;
  for (const r of rows) {
    const k = String(r[key]);
    if (byKey.has(k)) duplicates++;
    else byKey.set(k, r);
    if (!want.has(k)) foreign++;
  }
  let lost = 0;
  for (const k of want) if (!byKey.has(k)) lost++;
  const ok = rows.filter((r) => r.error_code === null || r.error_code === undefined).length;
  return { rowsOut: rows.length, duplicates, lost, foreign, ok, byKey };
}

/** Run directories under a runs root, oldest first. */
export function runDirs(root: string): string[] {
  if (!existsSync(root)) return [];
  return readdirSync(root)
    .filter((n) => existsSync(join(root, n, 'job.json')) || existsSync(join(root, n, 'ledger')))
    .sort()
    .map((n) => join(root, n));
}

/** Every parseable ledger line of a run (torn last lines skipped, as the driver does). */
export function ledgerResults(runDir: string): Array<Record<string, unknown>> {
  const d = join(runDir, 'ledger');
  if (!existsSync(d)) return [];
  return readdirSync(d)
    .filter((n) => n.endsWith('.jsonl'))
    .flatMap((n) => parseLedgerText(readFileSync(join(d, n), 'utf8')));
}

/** Ledger lines, counted by newline (cheap; used while a run is going). */
export function ledgerLineCount(root: string): number {
  let n = 0;
  for (const dir of runDirs(root)) {
    const d = join(dir, 'ledger');
    if (!existsSync(d)) continue;
    for (const f of readdirSync(d)) {
      try {
        const t = readFileSync(join(d, f), 'utf8');
        for (let i = t.indexOf('\n'); i !== -1; i = t.indexOf('\n', i + 1)) n++;
      } catch {
        /* rotated away */
      }
    }
  }
  return n;
}

/** Pids of a run's workers, from their stats files. */
export function workerPids(runDir: string): number[] {
  const d = join(runDir, 'stats');
  if (!existsSync(d)) return [];
  return readdirSync(d)
    .filter((n) => n.endsWith('.json') && !n.startsWith('.'))
    .flatMap((n) => {
      try {
        return [(JSON.parse(readFileSync(join(d, n), 'utf8')) as { pid: number }).pid];
      } catch {
        return [];
      }
    });
}

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export interface ScenarioRow {
  scenario: string;
  rows_in: number;
  rows_out: number;
  duplicates: number;
  lost: number;
  /** Rows the engine answered more than once (null where nothing counts at the engine). */
  re_inferred: number | null;
  /** What else the scenario proved, e.g. `exit 1: engine outage …`. */
  note: string;
  seconds: number;
}

export function row(
  scenario: string,
  rowsIn: number,
  t: Pick<Tally, 'rowsOut' | 'duplicates' | 'lost'> | undefined,
  reInferred: number | null,
  note: string,
  seconds: number,
): ScenarioRow {
  return {
    scenario,
    rows_in: rowsIn,
    rows_out: t?.rowsOut ?? 0,
    duplicates: t?.duplicates ?? 0,
    lost: t?.lost ?? 0,
    re_inferred: reInferred,
    note,
    seconds: Math.round(seconds * 10) / 10,
  };
}

/** The table as aligned text. */
export function formatTable(rows: ScenarioRow[]): string {
  const head = ['scenario', 'rows in', 'rows out', 'duplicates', 'lost', 're-inferred', 's', 'note'];
  const cells = rows.map((r) => [
    r.scenario,
    String(r.rows_in),
    String(r.rows_out),
    String(r.duplicates),
    String(r.lost),
    r.re_inferred === null ? '-' : String(r.re_inferred),
    String(r.seconds),
    r.note,
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => (c[i] ?? '').length)));
  const line = (c: string[]): string => c.map((x, i) => (i === c.length - 1 ? x : x.padEnd(widths[i] ?? 0))).join(' | ');
  return [line(head), widths.map((w) => '-'.repeat(w)).join('-|-'), ...cells.map(line)].join('\n');
}

export function printTable(title: string, rows: ScenarioRow[]): void {
  if (rows.length === 0) return;
  process.stderr.write(`\n${title}\n${formatTable(rows)}\n\n`);
}
