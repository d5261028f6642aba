/**
 * HTTP front end for the SIMULATED engine (no model runs here). Two modes:
 * - `sim`: requests go through a `SimEngine` on a real-time clock (slots, KV cache, bounded queue,
 *   503s), answering after the simulated time (× `timeScale`). /metrics speaks vLLM's names.
 * - `instant`: a FAKE that answers every completion at once with a fixed reply, to measure the
 *   orchestrator's own ceiling. It has no /metrics (404), like a generic OpenAI server.
 * It speaks the OpenAI subset sparkinfer uses: POST /v1/chat/completions and /v1/completions
 * (non-streaming JSON with `usage`), GET /v1/models, /health and /metrics. It binds 127.0.0.1.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { badArgument, checkAbove, checkInt } from '../checks.ts';
import { RealClock, seededRandom } from './clock.ts';
import { SimEngine, type SimEngineOptions, type SimResult } from './engine-sim.ts';

export interface SimServerOptions {
  /** `sim` (default) or `instant` (the fake that answers at once). */
  mode?: 'sim' | 'instant';
  /** Engine model for `sim` (the clock is the server's). Defaults as in `SimEngine`. */
  engine?: Omit<SimEngineOptions, 'clock'>;
  /** Real ms per simulated ms: 0.1 runs the model ten times faster. Default 1. */
  timeScale?: number;
  /** Model name reported back. Default `sim`. */
  model?: string;
  /** `max_tokens` when a request has none. Default 256. */
  defaultMaxTokens?: number;
  /** Mean output length without `ignore_eos` (exponential, capped at max_tokens). Default 128. */
  meanOutputTokens?: number;
  /** Seed for output lengths. Default 1. */
  seed?: number;
  /** Port; default 0 (any free one). */
  port?: number;
}

export interface SimServer {
  /** `http://127.0.0.1:<port>` (the OpenAI base URL is this plus `/v1`). */
  url: string;
  port: number;
  /** The simulated engine (undefined in `instant` mode). */
  engine: SimEngine | undefined;
  close(): Promise<void>;
}

/** ~4 characters per token, the usual rule of thumb; the simulator needs sizes, not tokens. */
export function estimateTokens(text: string): number {
  return Math.max(1, Math.ceil(text.length / 4));
}

function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) {
    return content
      .map((p) =>
        p !== null && typeof p === 'object' && typeof (p as { text?: unknown }).text === 'string' ? (p as { text: string }).text : '',
      )
      .join('');
  }
  return '';
}

/** Prompt tokens of a chat or completions body (a few tokens per message for the template). */
export function promptTokensOf(body: Record<string, unknown>, chat: boolean): number {
  if (chat) {
    const messages = Array.isArray(body.messages) ? (body.messages as unknown[]) : [];
    let n = 0;
    for (const m of messages) n += 4 + estimateTokens(contentText((m as { content?: unknown } | null)?.content));
    return Math.max(1, n);
  }
  const p = body.prompt;
  return estimateTokens(Array.isArray(p) ? p.map(String).join('') : typeof p === 'string' ? p : '');
}

const fillerText = (tokens: number): string => 'sim '.repeat(tokens).trimEnd();

function send(res: ServerResponse, status: number, body: string | Buffer, type = 'application/json'): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

const errorBody = (message: string, type: string, code: number): string => JSON.stringify({ error: { message, type, code } });

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** Precomputed answers of the instant fake: the same bytes every time. */
function instantReplies(model: string): { chat: Buffer; completions: Buffer } {
  const usage = { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 };
  return {
    chat: Buffer.from(
      JSON.stringify({
        id: 'instant',
        object: 'chat.completion',
        created: 0,
        model,
        choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }],
        usage,
      }),
    ),
    completions: Buffer.from(
      JSON.stringify({
        id: 'instant',
        object: 'text_completion',
        created: 0,
        model,
        choices: [{ index: 0, text: 'ok', finish_reason: 'stop' }],
        usage,
      }),
    ),
  };
}

function metricsText(engine: SimEngine, model: string): string {
  const m = engine.metrics();
  const label = `{model_name="${model.replace(/["\\\n]/g, '_')}"}`;
  return [
    '# HELP vllm:num_requests_running Number of requests in model execution batches (simulated).',
    '# TYPE vllm:num_requests_running gauge',
    `vllm:num_requests_running${label} ${m.running}`,
    '# HELP vllm:num_requests_waiting Number of requests waiting to be processed (simulated).',
    '# TYPE vllm:num_requests_waiting gauge',
    `vllm:num_requests_waiting${label} ${m.waiting}`,
    '# HELP vllm:kv_cache_usage_perc KV-cache usage. 1 means 100 percent usage (simulated).',
    '# TYPE vllm:kv_cache_usage_perc gauge',
    `vllm:kv_cache_usage_perc${label} ${m.kvUsage}`,
    '# HELP vllm:num_preemptions_total Cumulative number of preemptions (simulated).',
    '# TYPE vllm:num_preemptions_total counter',
    `vllm:num_preemptions_total${label} ${m.preemptions}`,
    '',
  ].join('\n');
}

/** What one server's handlers share: the options checked, the engine (none for the instant fake), the random source. */
interface Ctx {
  mode: 'sim' | 'instant';
  model: string;
  defaultMax: number;
  meanOut: number;
  engine: SimEngine | undefined;
  rand: () => number;
  instant: { chat: Buffer; completions: Buffer };
  seq: number;
}

/** A JSON object body, else undefined (a 400 was sent). */
async function objectBody(req: IncomingMessage, res: ServerResponse): Promise<Record<string, unknown> | undefined> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readBody(req));
  } catch {
    parsed = undefined; // not JSON, or the body could not be read
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    send(res, 400, errorBody('expected a JSON object body', 'invalid_request_error', 400));
    return undefined;
  }
  return parsed as Record<string, unknown>;
}

/** POST /v1/chat/completions and /v1/completions. */
async function complete(c: Ctx, req: IncomingMessage, res: ServerResponse, chat: boolean): Promise<void> {
  const engine = c.engine;
  if (engine === undefined) {
    // The instant fake: drain the body, send the precomputed answer.
    req.resume();
    await new Promise<void>((resolve) => req.on('end', resolve));
    return send(res, 200, chat ? c.instant.chat : c.instant.completions);
  }
  const body = await objectBody(req, res);
  if (body === undefined) return;
  if (body.stream === true) return send(res, 400, errorBody('the simulator does not stream', 'invalid_request_error', 400));
  const maxRaw = body.max_tokens ?? body.max_completion_tokens;
  const maxTokens = typeof maxRaw === 'number' && Number.isInteger(maxRaw) && maxRaw > 0 ? maxRaw : c.defaultMax;
  const outputTokens = body.ignore_eos === true ? maxTokens : Math.min(maxTokens, 1 + Math.floor(-c.meanOut * Math.log(1 - c.rand())));
  const promptTokens = promptTokensOf(body, chat);
  const id = `sim-${++c.seq}`;
  const result = await new Promise<SimResult | undefined>((resolve) => {
    const handle = engine.submit({ promptTokens, outputTokens }, resolve);
    // A client that goes away cancels its request, as vLLM aborts it.
    res.on('close', () => {
      if (!res.writableFinished) {
        handle.cancel();
        resolve(undefined);
      }
    });
  });
  if (result === undefined || res.destroyed) return;
  if (result.status === 503) return send(res, 503, errorBody('the simulated engine queue is full', 'server_error', 503));
  if (result.status === 400) {
    const message = `prompt (${promptTokens}) + max_tokens (${outputTokens}) exceed the simulated KV cache (${engine.kvCapacityTokens} tokens)`;
    return send(res, 400, errorBody(message, 'invalid_request_error', 400));
  }
  send(res, 200, JSON.stringify(completionPayload(c.model, id, chat, promptTokens, result.completionTokens, maxTokens)));
}

/** The OpenAI answer of a completed simulated request. */
function completionPayload(
  model: string,
  id: string,
  chat: boolean,
  promptTokens: number,
  completionTokens: number,
  maxTokens: number,
): object {
  const text = fillerText(completionTokens);
  const finish = completionTokens >= maxTokens ? 'length' : 'stop';
  const usage = { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens };
  const created = Math.floor(Date.now() / 1000);
  return chat
    ? {
        id,
        object: 'chat.completion',
        created,
        model,
        choices: [{ index: 0, message: { role: 'assistant', content: text }, finish_reason: finish }],
        usage,
      }
    : { id, object: 'text_completion', created, model, choices: [{ index: 0, text, finish_reason: finish }], usage };
}

/** One request: its route's answer, or 404; a handler that throws is a 500. */
function handle(c: Ctx, req: IncomingMessage, res: ServerResponse): void {
  const path = (req.url ?? '/').split('?')[0];
  const route = `${req.method ?? 'GET'} ${path}`;
  const fail = (err: unknown): void => {
    if (!res.headersSent) send(res, 500, errorBody(String((err as Error)?.message ?? err), 'server_error', 500));
    else res.destroy();
  };
  switch (route) {
    case 'POST /v1/chat/completions':
      complete(c, req, res, true).catch(fail);
      return;
    case 'POST /v1/completions':
      complete(c, req, res, false).catch(fail);
      return;
    case 'GET /health':
      send(res, 200, '{}');
      return;
    case 'GET /v1/models': {
      const owner = c.mode === 'instant' ? 'sparkinfer-instant-fake' : 'sparkinfer-sim';
      send(res, 200, JSON.stringify({ object: 'list', data: [{ id: c.model, object: 'model', owned_by: owner }] }));
      return;
    }
    case 'GET /metrics':
      if (c.engine === undefined) send(res, 404, errorBody('the instant fake has no metrics', 'not_found', 404));
      else send(res, 200, metricsText(c.engine, c.model), 'text/plain; version=0.0.4');
      return;
    default:
      req.resume();
      send(res, 404, errorBody(`no route ${route}`, 'not_found', 404));
  }
}

export async function startSimServer(options: SimServerOptions = {}): Promise<SimServer> {
  const o = options;
  const mode = o.mode ?? 'sim';
  if (mode !== 'sim' && mode !== 'instant') throw badArgument(`Expected \`mode\` to be "sim" or "instant", got \`${String(mode)}\``);
  const model = o.model ?? 'sim';
  const defaultMax = checkInt('defaultMaxTokens', o.defaultMaxTokens ?? 256, 1);
  const meanOut = checkAbove('meanOutputTokens', o.meanOutputTokens ?? 128, 0);
  const port = checkInt('port', o.port ?? 0, 0, 65535);
  const clock = mode === 'sim' ? new RealClock(o.timeScale ?? 1) : undefined;
  const engine = clock !== undefined ? new SimEngine({ ...o.engine, clock }) : undefined;
  const ctx: Ctx = { mode, model, defaultMax, meanOut, engine, rand: seededRandom(o.seed ?? 1), instant: instantReplies(model), seq: 0 };
  const server = createServer((req, res) => handle(ctx, req, res));
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const actual = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${actual}`,
    port: actual,
    engine,
    close: async () => {
      engine?.stop();
      clock?.stop();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
