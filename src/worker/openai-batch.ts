/**
 * `input.format: openai-batch`: each row is one line of an OpenAI Batch input file,
 * `{custom_id, method, url, body}`, handed over as its raw text (column `_line`), because
 * re-encoding JSON changes it (number spellings, big integers, key order).
 *
 * The body is sent byte for byte as the line has it, except `model`: the job's model replaces
 * its value (or is inserted) unless `input.keep_model` is set. The engine's reply travels back
 * raw in `response` (whitespace outside strings removed) for the OpenAI Batch output file.
 *
 * Per-row errors: a `url` other than /v1/chat/completions, /v1/completions and /v1/embeddings,
 * or a method other than POST, is E_UNSUPPORTED_URL; a line whose `body` is not an object, or
 * that asks for `stream`, is E_INPUT.
 */
import type { EngineAdapter } from '../engine/adapters.ts';
import { BATCH_LINE_COLUMN, type ResolvedJob } from '../jobfile/resolved.ts';
import { InputError, UnsupportedUrlError } from '../errors.ts';
import { attemptFailure, type RequestBuilder } from './builder.ts';
import type { Attempt, Prepared } from './pipeline.ts';
import type { ResultLine } from './protocol.ts';

/** The column that carries each raw line (python/sparkinfer/formats.py). */
export const LINE_COLUMN = BATCH_LINE_COLUMN;

/** URL → path below the `/v1` endpoint. */
export const BATCH_URLS: Readonly<Record<string, 'chat' | 'completions' | 'embeddings'>> = {
  '/v1/chat/completions': 'chat',
  '/v1/completions': 'completions',
  '/v1/embeddings': 'embeddings',
};

/** A member's value span in a JSON text: `text.slice(start, end)` is the value. */
export interface Span {
  start: number;
  end: number;
}

const WS = new Set([' ', '\t', '\n', '\r']);

class Scanner {
  pos: number;
  readonly text: string;
  constructor(text: string, pos = 0) {
    this.text = text;
    this.pos = pos;
  }

  fail(what: string): never {
    throw new InputError(`malformed JSON at character ${this.pos}: ${what}`);
  }

  ws(): void {
    while (this.pos < this.text.length && WS.has(this.text[this.pos] as string)) this.pos++;
  }

  /** Skips a string starting at pos (a `"`); returns its raw source. */
  string(): string {
    const start = this.pos;
    if (this.text[this.pos] !== '"') this.fail('expected a string');
    this.pos++;
    while (this.pos < this.text.length) {
      const c = this.text[this.pos];
      if (c === '\\') this.pos += 2;
      else if (c === '"') {
        this.pos++;
        return this.text.slice(start, this.pos);
      } else this.pos++;
    }
    return this.fail('unterminated string');
  }

  /** Skips one value; returns its span. */
  value(): Span {
    this.ws();
    const start = this.pos;
    const c = this.text[this.pos];
    if (c === '"') this.string();
    else if (c === '{' || c === '[') {
      const close = c === '{' ? '}' : ']';
      this.pos++;
      this.ws();
      if (this.text[this.pos] === close) this.pos++;
      else {
        for (;;) {
          if (c === '{') {
            this.ws();
            this.string();
            this.ws();
            if (this.text[this.pos] !== ':') this.fail('expected ":"');
            this.pos++;
          }
          this.value();
          this.ws();
          const d = this.text[this.pos];
          this.pos++;
          if (d === close) break;
          if (d !== ',') this.fail(`expected "," or "${close}"`);
        }
      }
    } else {
      const m = /^(?:-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null)/.exec(this.text.slice(this.pos, this.pos + 400));
      if (m === null) this.fail('expected a value');
      this.pos += m[0].length;
    }
    return { start, end: this.pos };
  }
}

/** The top-level members of a JSON object text, each with its value span. Throws E_INPUT if it isn't an object. */
export function objectMembers(text: string, at: Span = { start: 0, end: text.length }): Map<string, Span> {
  const s = new Scanner(text, at.start);
  s.ws();
  if (text[s.pos] !== '{') s.fail('expected an object');
  s.pos++;
  const out = new Map<string, Span>();
  s.ws();
  if (text[s.pos] === '}') return out;
  for (;;) {
    s.ws();
    const key = JSON.parse(s.string()) as string;
    s.ws();
    if (text[s.pos] !== ':') s.fail('expected ":"');
    s.pos++;
    s.ws();
    out.set(key, s.value());
    s.ws();
    const d = text[s.pos];
    s.pos++;
    if (d === '}') return out;
    if (d !== ',') s.fail('expected "," or "}"');
  }
}

/** Removes whitespace outside strings (engine replies may be pretty-printed; an output line may not). */
export function minifyJson(text: string): string {
  if (!/[\n\r\t ]/.test(text)) return text;
  let out = '';
  let i = 0;
  while (i < text.length) {
    const c = text[i] as string;
    if (c === '"') {
      const s = new Scanner(text, i);
      out += s.string();
      i = s.pos;
    } else {
      if (!WS.has(c)) out += c;
      i++;
    }
  }
  return out;
}

/** The body with `model` set to `model` (replaced in place, or inserted first). */
export function withModel(body: string, model: string): string {
  const members = objectMembers(body);
  const m = members.get('model');
  const value = JSON.stringify(model);
  if (m !== undefined) return body.slice(0, m.start) + value + body.slice(m.end);
  const open = body.indexOf('{');
  return `${body.slice(0, open + 1)}"model":${value}${members.size > 0 ? ',' : ''}${body.slice(open + 1)}`;
}

export interface BatchRequest {
  kind: 'chat' | 'completions' | 'embeddings';
  path: string;
  body: string;
}

/** One batch line → the request to send. Throws an UnsupportedUrlError (E_UNSUPPORTED_URL) or InputError (E_INPUT) for a row error. */
export function batchRequest(line: string, adapter: EngineAdapter, model: string | undefined): BatchRequest {
  const members = objectMembers(line);
  const str = (k: string): string | undefined => {
    const span = members.get(k);
    if (span === undefined) return undefined;
    const v: unknown = JSON.parse(line.slice(span.start, span.end));
    return typeof v === 'string' ? v : undefined;
  };
  const url = str('url');
  const method = str('method') ?? 'POST';
  const kind = url !== undefined ? BATCH_URLS[url] : undefined;
  if (kind === undefined) {
    throw new UnsupportedUrlError(
      `url ${JSON.stringify(url ?? null)} is not supported; expected one of ${Object.keys(BATCH_URLS).join(', ')}`,
    );
  }
  if (method.toUpperCase() !== 'POST')
    throw new UnsupportedUrlError(`method ${JSON.stringify(method)} is not supported; OpenAI Batch requests are POST`);
  const span = members.get('body');
  if (span === undefined || line[span.start] !== '{') throw new InputError('the line has no `body` object');
  let body = line.slice(span.start, span.end);
  const parsed = JSON.parse(body) as Record<string, unknown>;
  if (parsed.stream === true) throw new InputError('`stream: true` is not supported in a batch; remove it');
  if (model !== undefined) body = withModel(body, model);
  return {
    kind,
    path: kind === 'chat' ? adapter.paths.chat : kind === 'completions' ? adapter.paths.completions : adapter.paths.embeddings,
    body,
  };
}

function fieldsOf(kind: BatchRequest['kind'], json: unknown, adapter: EngineAdapter): Partial<ResultLine> {
  try {
    if (kind === 'embeddings') {
      const usage = (json as { usage?: { prompt_tokens?: unknown } }).usage;
      return { prompt_tokens: typeof usage?.prompt_tokens === 'number' ? usage.prompt_tokens : null, completion_tokens: 0 };
    }
    const g = kind === 'chat' ? adapter.parseChat(json) : adapter.parseCompletion(json);
    return {
      text: g.text,
      reasoning: g.reasoning,
      finish_reason: g.finishReason,
      prompt_tokens: g.promptTokens,
      completion_tokens: g.completionTokens,
    };
  } catch {
    // The raw body is the answer in a batch file; columns we can't fill stay null.
    return {};
  }
}

/** The request builder for OpenAI Batch input lines. */
export function makeBatchFileBuilder(job: ResolvedJob, adapter: EngineAdapter): RequestBuilder {
  const model = job.input.keep_model ? undefined : job.model;
  const kinds = new WeakMap<Prepared, BatchRequest['kind']>();
  return {
    prepare(row) {
      const line = row.row[LINE_COLUMN];
      if (typeof line !== 'string')
        throw new InputError(`the row has no \`${LINE_COLUMN}\` text (the driver reads openai-batch lines into it)`);
      const r = batchRequest(line, adapter, model);
      const prepared: Prepared = { path: r.path, body: r.body };
      kinds.set(prepared, r.kind);
      return prepared;
    },
    async attempt(client, p, signal): Promise<Attempt> {
      const t0 = performance.now();
      try {
        const res = await client.post(p.path, p.body, { signal, traceparent: p.traceparent });
        const kind = kinds.get(p) ?? 'chat';
        const fields = { ...fieldsOf(kind, res.json, adapter), response: minifyJson(res.text) };
        return { ok: true, latencyMs: res.latencyMs, fields, ...(res.rateLimit !== undefined ? { rateLimit: res.rateLimit } : {}) };
      } catch (err) {
        return attemptFailure(err, performance.now() - t0);
      }
    },
  };
}
