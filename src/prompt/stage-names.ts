/**
 * The names a staged job's templates and gates read (docs/stages.md): each is an input column or an
 * earlier stage's result. Shared by validation (a later stage or the stage itself is an error), the
 * pre-run input check (the rest must be input columns) and the plan (`run.columns`: what the driver
 * packs for the worker).
 */
import type { Job } from '../jobfile/schema.ts';
import { templateFields, templateVariables } from './analyze.ts';
import { parseGate } from './gate.ts';

export type Stage = NonNullable<Job['stages']>[number];

/** One name read by stage `stage`: where (the job path; `needle` points inside a template or gate). */
export interface StageNameUse {
  name: string;
  path: (string | number)[];
  stage: number;
  /** The stages before this one: names it may read besides input columns. */
  earlier: string[];
}

/**
 * Every root name the stages' templates and gates read, in stage order then first use.
 * @throws SpecError on a template or gate that does not parse (validation reports those first).
 */
export function stageNameUses(stages: readonly Stage[]): StageNameUse[] {
  const out: StageNameUse[] = [];
  stages.forEach((s, i) => {
    const earlier = stages.slice(0, i).map((e) => e.name);
    for (const t of templateFields(s.prompt)) {
      const path = ['stages', i, ...t.path];
      for (const name of templateVariables(t.source, `stages[${i}].${t.field}`)) out.push({ name, path, stage: i, earlier });
    }
    if (s.when !== undefined)
      for (const p of parseGate(s.when).paths) out.push({ name: p.root, path: ['stages', i, 'when'], stage: i, earlier });
  });
  return out;
}

/** The input columns a staged job reads (names that are not earlier stages), in first-use order. */
export function stageInputColumns(stages: readonly Stage[]): string[] {
  const all = new Set<string>();
  for (const u of stageNameUses(stages)) if (!u.earlier.includes(u.name)) all.add(u.name);
  return [...all];
}
