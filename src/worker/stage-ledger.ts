/**
 * The stage ledger of a staged job (docs/stages.md "Exactly once per stage"): every stage result of
 * a row, appended as `{"k": key, "s": stage, "r": result}` to `<run dir>/stages/<worker id>.jsonl`
 * before any later stage or the row's final line uses it. A worker reads the stage ledgers of this
 * run (earlier task attempts) and of the earlier unconsumed runs of the same job, so a finished
 * (row, stage) is never sent again. Torn last lines are skipped, as in the row ledger.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RunInfo } from '../jobfile/resolved.ts';
import { CONSUMED } from '../rundir/ledger.ts';
import type { ResultLine } from './protocol.ts';

/** One stage's result for one row: the fields of a one-stage result line (`json` as a JSON string). */
export type StageResult = Pick<
  ResultLine,
  | 'text'
  | 'reasoning'
  | 'json'
  | 'finish_reason'
  | 'prompt_tokens'
  | 'completion_tokens'
  | 'latency_ms'
  | 'attempts'
  | 'error_code'
  | 'error_message'
  | 'model'
>;

/** The folder of a run's stage ledgers. */
export const STAGE_LEDGER_DIR = 'stages';

/** The map key of a (stage, row). */
export function stageKey(stage: string, key: string): string {
  return `${stage}\0${key}`;
}

/** The run directories whose stage ledgers count: this one, and (without --fresh) the earlier unconsumed ones of the same job. */
function runDirs(run: RunInfo): string[] {
  const dirs = [run.dir];
  if (run.fresh || !existsSync(run.root)) return dirs;
  for (const name of readdirSync(run.root)) {
    const d = join(run.root, name);
    if (d === run.dir || existsSync(join(d, CONSUMED)) || !existsSync(join(d, STAGE_LEDGER_DIR))) continue;
    try {
      const job = JSON.parse(readFileSync(join(d, 'job.json'), 'utf8')) as { run?: { fingerprint?: string } };
      if (job.run?.fingerprint === run.fingerprint) dirs.push(d);
    } catch {
      // no job.json (or a torn one): never resumed, as the driver does
    }
  }
  return dirs;
}

/** Parses one stage-ledger line; undefined for a torn or foreign one. */
function parseRecord(line: string): { k: string; s: string; r: StageResult } | undefined {
  try {
    const v = JSON.parse(line) as { k?: unknown; s?: unknown; r?: unknown };
    if (typeof v.k !== 'string' || typeof v.s !== 'string' || v.r === null || typeof v.r !== 'object') return undefined;
    return v as { k: string; s: string; r: StageResult };
  } catch {
    return undefined;
  }
}

/**
 * The finished stage results, by `stageKey`: an ok result wins over an error one; with
 * `run.retry_errors` an error result is not kept (the stage runs again for that row).
 */
export function readStageLedgers(run: RunInfo): Map<string, StageResult> {
  const done = new Map<string, StageResult>();
  for (const dir of runDirs(run)) {
    const folder = join(dir, STAGE_LEDGER_DIR);
    if (!existsSync(folder)) continue;
    for (const f of readdirSync(folder)) {
      if (!f.endsWith('.jsonl')) continue;
      for (const line of readFileSync(join(folder, f), 'utf8').split('\n')) {
        const rec = line === '' ? undefined : parseRecord(line);
        if (rec === undefined) continue;
        const failed = rec.r.error_code !== null;
        if (failed && run.retry_errors) continue;
        const k = stageKey(rec.s, rec.k);
        if (!failed || !done.has(k)) done.set(k, rec.r);
      }
    }
  }
  return done;
}
