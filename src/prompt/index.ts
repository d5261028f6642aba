/** Prompt templates: static analysis (referenced columns) and per-row rendering. */
export { JINJA_BUILTINS, parseTemplate, referencedColumns, rootVariablesOf, templateFields, templateVariables } from './analyze.ts';
export type { ParsedTemplate, TemplateField } from './analyze.ts';
export { compilePrompt } from './render.ts';
export type { ChatMessageOut, ChatRole, CompiledPrompt, RenderedPrompt } from './render.ts';
