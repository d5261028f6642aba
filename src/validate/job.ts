/**
 * The one validation step of a job file: src/jobfile/ (the schema, the loader, the types) plus
 * the rules that need the subjects they are about, which live above the contract:
 *   - the response schema is in the subset sparkinfer supports (src/response/schema.ts), and in
 *     what the job's engine kind accepts (llama-server's grammar converter);
 *   - every prompt template parses (src/prompt/analyze.ts).
 * The rest of src/ loads job files through here, never through src/jobfile/load.ts directly, so
 * every caller checks the same things. Problems are reported with the schema's own, in one list.
 */
import { SpecError } from '../errors.ts';
import {
  type JobFileRules,
  type LoadOptions,
  type LocatedJob,
  loadLocatedJobFile as loadLocated,
  parseJobText as parseText,
} from '../jobfile/load.ts';
import { engineKindOf, type Job, type JobRule, jobSchema, ResponseSpec } from '../jobfile/schema.ts';
import { templateFields, templateVariables } from '../prompt/analyze.ts';
import { analyzeSchema, engineSchemaProblems } from '../response/schema.ts';
import { stagesRule } from './stages.ts';

export type { LoadOptions, LocatedJob };

/** `response.schema` is in the supported JSON Schema subset (docs/batch-kinds.md). */
const CheckedResponse = ResponseSpec.superRefine((r, ctx) => {
  if (r.format !== 'json' || r.schema === undefined) return;
  for (const p of analyzeSchema(r.schema).problems) {
    ctx.addIssue({ code: 'custom', path: ['schema'], message: `unsupported schema at ${p.path}: ${p.message}` });
  }
});

/** The job's engine kind can constrain decoding to `response.schema`. */
const engineTakesSchema: JobRule = (j, ctx) => {
  if (j.response.format !== 'json' || j.response.schema === undefined) return;
  for (const p of engineSchemaProblems(j.response.schema, engineKindOf(j)))
    ctx.addIssue({ code: 'custom', path: ['response', 'schema'], message: `unsupported schema at ${p.path}: ${p.message}` });
};

/** Every template of `prompt` parses as Jinja; a problem is reported at its field. */
function templatesParse(raw: unknown, add: (path: (string | number)[], message: string) => void): void {
  const prompt = typeof raw === 'object' && raw !== null ? (raw as Record<string, unknown>).prompt : undefined;
  if (typeof prompt !== 'object' || prompt === null) return;
  for (const t of templateFields(prompt as Parameters<typeof templateFields>[0])) {
    try {
      templateVariables(t.source, t.field);
    } catch (err) {
      if (!(err instanceof SpecError)) throw err;
      add(t.path, err.message.slice(t.field.length + 2));
    }
  }
}

/** The job schema with every rule: what `validate`, `run`, `estimate`, `batch` and `render` check. */
export const CheckedJobSpec = jobSchema(CheckedResponse, (j, ctx) => {
  engineTakesSchema(j, ctx);
  stagesRule(j, ctx);
});

const RULES: JobFileRules = { schema: CheckedJobSpec, checkRaw: templatesParse };

/** Reads and validates a job file. @throws SpecError listing every problem found. */
export function loadJobFile(path: string, options: LoadOptions = {}): Job {
  return loadLocated(path, options, RULES).job;
}

/** loadJobFile, keeping the positions (for the pre-run checks of src/job/preflight.ts). */
export function loadLocatedJobFile(path: string, options: LoadOptions = {}): LocatedJob {
  return loadLocated(path, options, RULES);
}

/** Parses and validates job YAML; `fileName` is used in messages. @throws SpecError as loadJobFile does. */
export function parseJobText(text: string, fileName: string, set: readonly string[] = []): Job {
  return parseText(text, fileName, set, RULES);
}
