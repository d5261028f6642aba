/**
 * The job of `infer(df, job)` (python/sparkinfer/api.py), loaded with `dataframe: true`
 * (`sparkinfer validate --no-input-check`): the DataFrame takes the place of the job's input and
 * the caller writes the result, so `input:` and `output:` may be left out, or hold only what
 * infer() reads (`input.key`, `output.include`, `output.include_request`). The loader puts stand-ins
 * in the fields they leave out, so that every other rule of the schema runs as for any job, and
 * `validate --json` prints the job without them. `run`, `estimate`, `batch` and `render` load
 * without this option: for them both sections stay required.
 */
/** A field's path in the job, as the loader names them. */
type Path = (string | number)[];

/** What a stand-in field holds (never read: `infer()` ignores the input's source and the output's place). */
const STAND_IN = '<infer(): the DataFrame>';

/** The field a source or target of this format names (the schema's own rule). */
function placeField(section: 'input' | 'output', format: unknown): string {
  if (format === 'table') return 'table';
  return section === 'input' && format === 'sql' ? 'query' : 'path';
}

/**
 * Fills what `input` and `output` leave out in the raw job (before the schema), in place; returns
 * the paths it filled. A section that is there but not a mapping is left for the schema to report.
 */
export function addStandIns(raw: unknown): Path[] {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return [];
  const job = raw as Record<string, unknown>;
  const added: Path[] = [];
  for (const section of ['input', 'output'] as const) {
    job[section] ??= {};
    const s = job[section];
    if (typeof s !== 'object' || s === null || Array.isArray(s)) continue;
    const fields = s as Record<string, unknown>;
    // An input without a format is the DataFrame; an output's format has a default (parquet).
    if (section === 'input' && fields.format === undefined) {
      fields.format = 'table';
      added.push([section, 'format']);
    }
    const place = placeField(section, fields.format);
    if (fields[place] === undefined) {
      fields[place] = STAND_IN;
      added.push([section, place]);
    }
  }
  return added;
}

/** A copy of the job without the fields `addStandIns` filled (their sections stay, with their defaults). */
export function withoutStandIns<T extends object>(job: T, added: readonly Path[]): T {
  const out = { ...job } as Record<string, unknown>;
  for (const [section, field] of added) {
    const s = { ...(out[section as string] as Record<string, unknown>) };
    delete s[field as string];
    out[section as string] = s;
  }
  return out as T;
}
