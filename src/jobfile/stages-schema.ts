/**
 * The job file's `stages:` section (docs/stages.md): an ordered list of prompts over the same rows,
 * each with its own name, prompt, sampling, response, model, engine endpoint and gate (`when`).
 * Built from the prompt, sampling and response schemas schema.ts passes in (so this file does not
 * import schema.ts, which imports it); the whole-job rules about stages are `stageRules` here.
 */
import { z } from 'zod';
import { EngineKind } from './engine-schema.ts';

/** A stage's name: it becomes an output column and a template variable. */
export const STAGE_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** A stage's own engine: one already running (a launched engine per stage is not supported yet). */
const StageEngine = z.strictObject({
  /** OpenAI-compatible base URL including `/v1`. */
  endpoint: z.url(),
  /** Which adapter to use. Default: the job's engine kind. */
  kind: EngineKind.optional(),
});

/** The stage list schema over the job's own section schemas (schema.ts passes them). */
export function stagesSpec<P extends z.ZodType, S extends z.ZodType, R extends z.ZodType>(prompt: P, sampling: S, response: R) {
  const stage = z.strictObject({
    /** Letters, digits and `_`, not starting with a digit: the output column and the template name. */
    name: z.string().regex(STAGE_NAME, 'expected an identifier: letters, digits and `_`, not starting with a digit'),
    prompt,
    /** Default: the job's `sampling`. */
    sampling: sampling.optional(),
    /** Default: `format: text`. */
    response: response.prefault({} as z.input<R>),
    /** Default: the job's `model`. */
    model: z.string().min(1).optional(),
    /** Default: the job's engine. */
    engine: StageEngine.optional(),
    /** A gate over the input columns and earlier stages (docs/stages.md "Gates"); rows it excludes send nothing. */
    when: z.string().min(1).optional(),
  });
  return z.array(stage).min(1);
}

/** What `stageRules` reads of a job. */
interface StagedJob {
  task: string;
  input: { format: string };
  prompt?: unknown;
  stages?: Array<{ name: string }> | undefined;
  output: { include: string[]; format: string };
}

/** Whole-job rules about `stages:`: exclusive with a top-level prompt, names unique, no clash with output columns. */
export function stageRules(j: StagedJob, reserved: readonly string[], ctx: z.core.$RefinementCtx): void {
  if (j.stages === undefined) return;
  const issue = (path: (string | number)[], message: string): void => ctx.addIssue({ code: 'custom', path, message });
  if (j.prompt !== undefined) issue(['prompt'], 'a job has either `prompt` (one stage) or `stages:`, not both; move `prompt` into a stage');
  if (j.task !== 'generate') issue(['stages'], '`stages:` is for `task: generate` (not yet for embeddings)');
  if (j.input.format === 'openai-batch') issue(['stages'], '`stages:` is not supported yet with an `openai-batch` input');
  if (j.output.format === 'csv')
    issue(['output', 'format'], '`output.format: csv` cannot hold the struct column of a stage; use parquet, orc or json');
  const seen = new Set<string>();
  j.stages.forEach((s, i) => {
    if (seen.has(s.name)) issue(['stages', i, 'name'], `stage name \`${s.name}\` is used twice; stage names are unique`);
    seen.add(s.name);
    if (reserved.includes(s.name)) issue(['stages', i, 'name'], `stage name \`${s.name}\` is a result column; pick another`);
    if (j.output.include.includes(s.name))
      issue(['stages', i, 'name'], `stage name \`${s.name}\` is also in \`output.include\`; rename one`);
  });
}
