/**
 * Validation of a staged job (docs/stages.md), the rules that need src/prompt/: every stage's
 * templates and gate parse (a gate's error names its column), and no template or gate reads its own
 * stage or a later one. Whether the other names are input columns is the pre-run input check's
 * (src/job/check-columns.ts), which sees the input.
 */
import { SpecError } from '../errors.ts';
import type { JobRule } from '../jobfile/schema.ts';
import { templateFields, templateVariables } from '../prompt/analyze.ts';
import { parseGate } from '../prompt/gate.ts';
import { stageNameUses } from '../prompt/stage-names.ts';

/** Parse problems of each stage's templates and gate, as (path, message); none means all parse. */
function parseProblems(stages: NonNullable<Parameters<JobRule>[0]['stages']>): Array<[(string | number)[], string]> {
  const out: Array<[(string | number)[], string]> = [];
  stages.forEach((s, i) => {
    if (s.prompt.chat_template !== undefined)
      out.push([['stages', i, 'prompt', 'chat_template'], '`chat_template` is not supported in a stage yet; use `api: chat`']);
    for (const t of templateFields(s.prompt)) {
      const field = `stages[${i}].${t.field}`;
      try {
        templateVariables(t.source, field);
      } catch (err) {
        if (!(err instanceof SpecError)) throw err;
        out.push([['stages', i, ...t.path], err.message.slice(field.length + 2)]);
      }
    }
    if (s.when === undefined) return;
    try {
      parseGate(s.when);
    } catch (err) {
      if (!(err instanceof SpecError)) throw err;
      out.push([['stages', i, 'when'], `gate syntax error: ${err.message}`]);
    }
  });
  return out;
}

/** The staged job's own rules: parses, then names in stage order. */
export const stagesRule: JobRule = (j, ctx) => {
  if (j.stages === undefined) return;
  const problems = parseProblems(j.stages);
  for (const [path, message] of problems) ctx.addIssue({ code: 'custom', path, message });
  if (problems.length > 0) return;
  const names = j.stages.map((s) => s.name);
  for (const u of stageNameUses(j.stages)) {
    const at = names.indexOf(u.name);
    if (at < u.stage) continue;
    const what = at === u.stage ? 'this stage itself' : `stage ${at + 1}, which runs later`;
    ctx.addIssue({
      code: 'custom',
      path: u.path,
      message: `\`${u.name}\` is ${what}: a stage reads the input columns and earlier stages only`,
    });
  }
};
