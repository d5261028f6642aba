/**
 * Pre-run check of the input: that a local input path exists, and that the columns the job reads
 * (the templates' names, `input.key`, `output.include`) are among the input's columns, read without
 * Spark where the format allows (src/input/columns.ts). The driver makes the same column check on
 * the real schema (python/sparkinfer/prepare.py `check_columns`); this one only runs earlier.
 */
import { inputColumns } from '../input/columns.ts';
import { templateFields, templateVariables } from '../prompt/analyze.ts';
import { stageNameUses } from '../prompt/stage-names.ts';
import { closest } from '../jobfile/did-you-mean.ts';
import type { LocatedJob, Path } from '../jobfile/load.ts';
import { resolvePath } from './run-setup.ts';
import type { Findings } from './findings.ts';

/** The columns the driver derives: a template cannot read them, they are not input columns. */
const DERIVED: Readonly<Record<string, string>> = {
  _key: 'the derived key of the output',
  _k: 'the key on the worker protocol',
  _c: 'the carried columns on the worker protocol',
};

interface Use {
  name: string;
  path: Path;
  /** Point at the name inside the value (a template) rather than at the value. */
  needle: boolean;
  /** Names it may also mean besides input columns (the earlier stages), for the did-you-mean. */
  also?: string[];
}

/** Every column name the job reads from its input, with the field that reads it. */
function uses(job: LocatedJob['job']): Use[] {
  const out: Use[] = [];
  for (const t of templateFields(job.prompt))
    for (const name of templateVariables(t.source, t.field)) out.push({ name, path: t.path, needle: true });
  // A staged job (docs/stages.md): names that are not earlier stages are input columns.
  for (const u of stageNameUses(job.stages ?? []))
    if (!u.earlier.includes(u.name)) out.push({ name: u.name, path: u.path, needle: true, also: u.earlier });
  if (job.input.key !== undefined) out.push({ name: job.input.key, path: ['input', 'key'], needle: false });
  job.output.include.forEach((name, i) => {
    out.push({ name, path: ['output', 'include', i], needle: false });
  });
  return out;
}

function shown(columns: readonly string[]): string {
  return columns.slice(0, 30).join(', ') + (columns.length > 30 ? ', …' : '');
}

/** Adds to `f` what the input says about the job: a missing path or column is an error. */
export function checkInputColumns(located: LocatedJob, baseDir: string, f: Findings): void {
  const { job, where } = located;
  const input = job.input.path === undefined ? job.input : { ...job.input, path: resolvePath(job.input.path, baseDir) };
  const r = inputColumns(input);
  if (r.kind === 'missing') {
    f.errors.push(where(['input', 'path'], `the input ${r.message}`));
    return;
  }
  if (r.kind === 'unchecked') {
    // OpenAI Batch lines have a fixed shape and no prompt: there are no columns to check.
    if (job.input.format === 'openai-batch') return;
    f.notes.push(`input columns not checked before the run (the driver checks them): ${r.reason}`);
    return;
  }
  const have = new Set(r.columns);
  const reported = new Set<string>();
  for (const u of uses(job)) {
    if (have.has(u.name) || reported.has(`${u.name}\0${u.path.join('.')}`)) continue;
    reported.add(`${u.name}\0${u.path.join('.')}`);
    const near = closest(u.name, [...r.columns, ...(u.also ?? [])]);
    const hint = near !== undefined ? ` (did you mean ${JSON.stringify(near)}?)` : '';
    const derived = DERIVED[u.name] !== undefined ? ` (${u.name} is ${DERIVED[u.name]}, not an input column)` : '';
    const opts = u.needle ? { needle: u.name } : {};
    if (r.exact)
      f.errors.push(
        where(u.path, `input has no column ${JSON.stringify(u.name)}${hint}${derived}; available columns: ${shown(r.columns)}`, opts),
      );
    else
      f.warnings.push(
        where(
          u.path,
          `warning: column ${JSON.stringify(u.name)} was not seen in the part of the input read here${hint}; the run checks the whole schema; columns seen: ${shown(r.columns)}`,
          opts,
        ),
      );
  }
}
