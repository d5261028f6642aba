/**
 * Prompt rendering: templates are parsed once per job, then rendered per row (the worker's hot path).
 *
 * Behaviour, on purpose:
 * - null and missing values render as an empty string (the library's behaviour; strictness comes
 *   from the static column check before the job starts);
 * - every message the job declares is sent, even when its content renders empty;
 * - like Jinja, blocks trim their newline (`trim_blocks`, `lstrip_blocks`) and a single trailing
 *   newline of the template is dropped (a YAML `|` block ends with one);
 * - BigInt values (integers beyond 2^53) render with their exact digits.
 */
import type { Template } from '@huggingface/jinja';
import { InternalError, SpecError, TemplateError } from '../errors.ts';
import type { Job } from '../jobfile/schema.ts';
import { parseTemplate, rootVariablesOf, templateFields } from './analyze.ts';
import { compileChatTemplate, type ChatTemplateSource } from './chat-template.ts';

export type ChatRole = 'system' | 'user' | 'assistant';

export interface ChatMessageOut {
  role: ChatRole;
  content: string;
}

/** A rendered row: the body fields the engine client puts into its request. */
export type RenderedPrompt = { kind: 'chat'; messages: ChatMessageOut[] } | { kind: 'completion'; prompt: string };

export interface CompiledPrompt {
  /** Root variables (input columns) the templates reference, in first-use order. */
  readonly columns: readonly string[];
  /**
   * Renders one row. Extra keys in `row` (the key, carried columns) are ignored.
   * @throws TemplateError (`E_TEMPLATE`) when a template fails for this row.
   */
  render(row: Readonly<Record<string, unknown>>): RenderedPrompt;
}

interface CompiledTemplate {
  field: string;
  template: Template;
  /** The output of a template with no tags, computed once: most system prompts. */
  constant: string | undefined;
  /**
   * A template made of text and bare `{{ column }}` outputs only (`Q: {{ question }}`): its text
   * pieces and column names, for the fast path of `renderOne`.
   */
  pieces: Array<string | { column: string }> | undefined;
}

/** The pieces of a template that is only text and `{{ column }}` outputs of input columns, else undefined. */
function piecesOf(body: ReadonlyArray<{ type: string; value?: unknown }>, columns: ReadonlySet<string>): CompiledTemplate['pieces'] {
  const pieces: NonNullable<CompiledTemplate['pieces']> = [];
  for (const n of body) {
    if (n.type === 'StringLiteral' && typeof n.value === 'string') pieces.push(n.value);
    else if (n.type === 'Identifier' && typeof n.value === 'string' && columns.has(n.value)) pieces.push({ column: n.value });
    else return undefined;
  }
  return pieces;
}

/** Converts BigInt (anywhere in a value) to its decimal string; returns the same object when there is none. */
function withoutBigInt(v: unknown): unknown {
  if (typeof v === 'bigint') return v.toString();
  if (typeof v !== 'object' || v === null) return v;
  if (Array.isArray(v)) {
    let out: unknown[] | undefined;
    for (let i = 0; i < v.length; i++) {
      const c = withoutBigInt(v[i]);
      if (c !== v[i]) {
        out ??= v.slice();
        out[i] = c;
      }
    }
    return out ?? v;
  }
  let out: Record<string, unknown> | undefined;
  for (const [k, x] of Object.entries(v)) {
    const c = withoutBigInt(x);
    if (c !== x) {
      out ??= { ...(v as Record<string, unknown>) };
      out[k] = c;
    }
  }
  return out ?? v;
}

function renderOne(t: CompiledTemplate, vars: Record<string, unknown>): string {
  if (t.constant !== undefined) return t.constant;
  if (t.pieces !== undefined) {
    // A string renders as itself; anything else (null, numbers, objects) takes the library's way.
    let out = '';
    for (const p of t.pieces) {
      if (typeof p === 'string') out += p;
      else {
        const v = vars[p.column];
        if (typeof v !== 'string') return renderFull(t, vars);
        out += v;
      }
    }
    return out;
  }
  return renderFull(t, vars);
}

function renderFull(t: CompiledTemplate, vars: Record<string, unknown>): string {
  try {
    return t.template.render(vars);
  } catch (err) {
    throw new TemplateError(`${t.field}: ${(err as Error).message}`, { cause: err });
  }
}

export interface CompilePromptOptions {
  /** The resolved `prompt.chat_template` (job.json's `run.chat_template`); needed when the job sets one. */
  chatTemplate?: ChatTemplateSource | undefined;
}

/**
 * Compiles a job's prompt once: parses every template and computes the referenced columns.
 * With `prompt.chat_template` the chat renders to one completion prompt (chat-template.ts).
 * @throws SpecError on a template syntax error, or for a `chat_template` that was not resolved.
 */
export function compilePrompt(job: Pick<Job, 'prompt'>, options: CompilePromptOptions = {}): CompiledPrompt {
  const p = job.prompt;
  if (p.chat_template !== undefined && options.chatTemplate === undefined) {
    throw new SpecError(
      `prompt.chat_template: ${JSON.stringify(p.chat_template)} was not resolved; the CLI ships it in job.json as run.chat_template`,
    );
  }
  const fields = templateFields(p);
  const compiled = new Map<string, CompiledTemplate>();
  const columns = new Set<string>();
  for (const f of fields) {
    const template = parseTemplate(f.source, f.field);
    const own = rootVariablesOf(template.parsed);
    for (const c of own) columns.add(c);
    // Rendering sets up a fresh environment each time (a few µs): text-only templates skip that
    // per row, and so do text-and-`{{ column }}` ones whose values are strings.
    const body = template.parsed.body as Array<{ type: string; value?: unknown }>;
    const textOnly = body.every((n) => n.type === 'StringLiteral');
    compiled.set(f.field, {
      field: f.field,
      template,
      constant: textOnly ? template.render({}) : undefined,
      pieces: textOnly ? undefined : piecesOf(body, new Set(own)),
    });
  }
  const names = [...columns];

  const varsOf = (row: Readonly<Record<string, unknown>>): Record<string, unknown> => {
    // Only referenced names go in: cheaper, and a row key can never clash with a builtin.
    // Null prototype and own-property reads: a column named `__proto__` stays a plain value.
    const vars: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
    for (const n of names) vars[n] = Object.hasOwn(row, n) ? withoutBigInt(row[n]) : undefined;
    return vars;
  };
  const get = (field: string): CompiledTemplate => {
    const t = compiled.get(field);
    if (t === undefined) throw new InternalError(`no compiled template for ${field}`);
    return t;
  };

  if (p.api === 'completions' && p.chat_template === undefined) {
    const text = get('prompt.text');
    return { columns: names, render: (row) => ({ kind: 'completion', prompt: renderOne(text, varsOf(row)) }) };
  }
  const plan: { role: ChatRole; t: CompiledTemplate }[] = [];
  if (p.messages !== undefined) {
    p.messages.forEach((m, i) => {
      plan.push({ role: m.role, t: get(`prompt.messages[${i}].content`) });
    });
  } else {
    if (p.system !== undefined) plan.push({ role: 'system', t: get('prompt.system') });
    plan.push({ role: 'user', t: get('prompt.user') });
  }
  const chatOf = (row: Readonly<Record<string, unknown>>): ChatMessageOut[] => {
    const vars = varsOf(row);
    const messages: ChatMessageOut[] = new Array(plan.length);
    for (let i = 0; i < plan.length; i++) {
      const step = plan[i] as (typeof plan)[number];
      messages[i] = { role: step.role, content: renderOne(step.t, vars) };
    }
    return messages;
  };
  if (options.chatTemplate !== undefined && p.chat_template !== undefined) {
    const apply = compileChatTemplate(options.chatTemplate);
    return { columns: names, render: (row) => ({ kind: 'completion', prompt: apply(chatOf(row)) }) };
  }
  return { columns: names, render: (row) => ({ kind: 'chat', messages: chatOf(row) }) };
}
