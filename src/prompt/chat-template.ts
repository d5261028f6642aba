/**
 * Client-side chat templates (`prompt.api: completions` + `prompt.chat_template`): the chat that
 * the prompt templates render is turned into one raw prompt string in the worker, with the
 * model's own Hugging Face Jinja template, and sent to /v1/completions. Prompts become
 * comparable (prefix-aware ordering sees the real prefix) and engines without a chat endpoint
 * can serve chat jobs.
 *
 * `chat_template` is resolved by the CLI (`loadChatTemplate`), which ships the template text in
 * job.json (`run.chat_template`), so executors need neither the model nor the file:
 *   - `gguf`: `tokenizer.chat_template` of the launched llama-server model's GGUF metadata;
 *   - a `.gguf` path: that file's metadata;
 *   - a `.json` path: a Hugging Face `tokenizer_config.json` (`chat_template`, `bos_token`, `eos_token`);
 *   - any other path: the template text itself (BOS/EOS from the launched GGUF model, else empty).
 *
 * Rendering matches transformers' `apply_chat_template`: `messages`, `add_generation_prompt:
 * true`, `bos_token`, `eos_token`, with `raise_exception` and `strftime_now` available
 * (@huggingface/jinja defines both, and trims blocks like transformers' environment does).
 */
import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { Template } from '@huggingface/jinja';
import { SpecError, TemplateError } from '../errors.ts';
import type { ChatTemplateSource } from '../jobfile/resolved.ts';
import { readGgufMetadata } from './gguf.ts';

/** The shape is part of job.json, so it lives with the resolved job: src/jobfile/resolved.ts. */
export type { ChatTemplateSource };

/**
 * What a chat template adds to the job's fingerprint: its text and special tokens decide the
 * prompts as much as the job file does, so an edited template makes earlier results stale.
 */
export function chatTemplateIdentity(t: ChatTemplateSource | undefined): string {
  return t !== undefined ? `|chat_template:${JSON.stringify([t.template, t.bos_token, t.eos_token])}` : '';
}

export interface ChatMessageIn {
  role: string;
  content: string;
}

const GGUF_KEYS = new Set([
  'tokenizer.chat_template',
  'tokenizer.ggml.bos_token_id',
  'tokenizer.ggml.eos_token_id',
  'tokenizer.ggml.tokens',
]);

/** The chat template (if any) and BOS/EOS token strings ('' when undeclared) of a GGUF model. */
export function ggufChatInfo(path: string): { template: string | undefined; bos: string; eos: string } {
  const meta = readGgufMetadata(path, { keep: (k) => GGUF_KEYS.has(k) });
  const tokens = meta.kv.get('tokenizer.ggml.tokens');
  const token = (key: string): string => {
    const id = meta.kv.get(key);
    if (!Array.isArray(tokens) || (typeof id !== 'number' && typeof id !== 'bigint')) return '';
    const t = tokens[Number(id)];
    return typeof t === 'string' ? t : '';
  };
  const template = meta.kv.get('tokenizer.chat_template');
  return {
    template: typeof template === 'string' && template !== '' ? template : undefined,
    bos: token('tokenizer.ggml.bos_token_id'),
    eos: token('tokenizer.ggml.eos_token_id'),
  };
}

function chatTemplateFromGguf(path: string): ChatTemplateSource {
  const info = ggufChatInfo(path);
  if (info.template === undefined) {
    throw new SpecError(`prompt.chat_template: ${path} has no tokenizer.chat_template in its GGUF metadata; give a template file instead`);
  }
  return { template: info.template, bos_token: info.bos, eos_token: info.eos, source: `gguf:${path}` };
}

function tokenText(v: unknown): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'object' && v !== null && typeof (v as { content?: unknown }).content === 'string')
    return (v as { content: string }).content;
  return '';
}

/** A Hugging Face tokenizer_config.json: `chat_template` (a string, or a list of {name, template}) and the special tokens. */
function chatTemplateFromTokenizerConfig(path: string, text: string): ChatTemplateSource {
  let cfg: Record<string, unknown>;
  try {
    cfg = JSON.parse(text) as Record<string, unknown>;
  } catch (err) {
    throw new SpecError(`prompt.chat_template: ${path} is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  let template = cfg.chat_template;
  if (Array.isArray(template)) {
    const named = template.find((t: unknown) => (t as { name?: unknown })?.name === 'default') as { template?: unknown } | undefined;
    template = named?.template;
  }
  if (typeof template !== 'string' || template === '')
    throw new SpecError(`prompt.chat_template: ${path} has no \`chat_template\` string (or a "default" entry)`);
  return { template, bos_token: tokenText(cfg.bos_token), eos_token: tokenText(cfg.eos_token), source: `tokenizer_config:${path}` };
}

export interface LoadChatTemplateOptions {
  /** Relative paths are resolved against this folder (the job file's). */
  baseDir: string;
  /** The launched llama-server model's GGUF file, when there is one (for `gguf`, and BOS/EOS of plain templates). */
  ggufModel?: string | undefined;
}

/**
 * Resolves `prompt.chat_template` to template text and special tokens, and checks that it parses.
 * @throws SpecError (exit 2) when the file is missing or unusable, or `gguf` has no GGUF model.
 */
export function loadChatTemplate(spec: string, o: LoadChatTemplateOptions): ChatTemplateSource {
  let src: ChatTemplateSource;
  if (spec === 'gguf') {
    if (o.ggufModel === undefined) {
      throw new SpecError(
        'prompt.chat_template: `gguf` reads the template from the launched model, but the job launches no llama-server model; give the path of a .gguf file or a template file',
      );
    }
    src = chatTemplateFromGguf(o.ggufModel);
  } else {
    const path = isAbsolute(spec) ? spec : resolve(o.baseDir, spec);
    if (/\.gguf$/i.test(path)) src = chatTemplateFromGguf(path);
    else {
      let text: string;
      try {
        text = readFileSync(path, 'utf8');
      } catch (err) {
        throw new SpecError(`prompt.chat_template: cannot read ${path}: ${(err as Error).message}`, { cause: err });
      }
      if (/\.json$/i.test(path)) src = chatTemplateFromTokenizerConfig(path, text);
      else {
        const tokens = o.ggufModel !== undefined ? ggufChatInfo(o.ggufModel) : { bos: '', eos: '' };
        src = { template: text, bos_token: tokens.bos, eos_token: tokens.eos, source: `file:${path}` };
      }
    }
  }
  try {
    new Template(src.template);
  } catch (err) {
    throw new SpecError(`prompt.chat_template (${src.source}): template syntax error: ${(err as Error).message}`, { cause: err });
  }
  return src;
}

/** Renders chats with one template. */
export type ChatTemplateRenderer = (messages: readonly ChatMessageIn[]) => string;

/** Parses the template once; each call renders one conversation with the generation prompt. */
export function compileChatTemplate(src: ChatTemplateSource): ChatTemplateRenderer {
  const template = new Template(src.template);
  return (messages) => {
    try {
      return template.render({
        messages: messages.map((m) => ({ role: m.role, content: m.content })),
        add_generation_prompt: true,
        bos_token: src.bos_token,
        eos_token: src.eos_token,
      });
    } catch (err) {
      throw new TemplateError(`prompt.chat_template: ${(err as Error).message}`, { cause: err });
    }
  };
}
