/**
 * A FAULT PROXY (a test instrument, not a fake engine): it sits between the workers and a REAL
 * engine and, per request, either forwards it unchanged or injects a fault:
 *   - `5xx`: HTTP 500 without asking the engine;
 *   - `503`: HTTP 503 without `retry-after` (an engine that says it is full or still loading);
 *   - `429`: HTTP 429 with `retry-after` (seconds);
 *   - `slow`: forwards after a delay (below the job's request_timeout);
 *   - `timeout`: never answers; the connection stays open until the client gives up;
 *   - `reset`: resets the connection (RST) before any answer;
 *   - `truncate`: forwards, then sends the engine's headers (with its content-length) and half of
 *     its body, and closes;
 *   - `400`: HTTP 400 (a row error, not retried: for failure-budget tests);
 * and hostile answers, none of which asks the engine:
 *   - `huge`: HTTP 200, a chunked JSON body that never ends, sent as fast as the client reads,
 *     until the client closes the connection;
 *   - `endless`: the same body as a trickle (a 4 KiB chunk every 200 ms), never ending;
 *   - `garbage`: HTTP 200 `application/json` whose body is not JSON;
 *   - `html`: HTTP 200 `text/html` (an error page or a login form from something in front);
 *   - `not-http`: bytes that are not HTTP at all (an SSH banner), then the socket closes.
 * `refuse()` takes the engine away for good: the listener closes and every connection is
 * dropped, so new connections are refused. GETs (/health, /metrics) are always forwarded.
 * `randomPlan` draws a fault for every POST independently (seeded), at a given rate, from a list
 * of kinds: the per-request random mode of the bench's faults scenario (bench h).
 */
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export const FAULTS = [
  '5xx',
  '503',
  '429',
  'slow',
  'timeout',
  'reset',
  'truncate',
  '400',
  'huge',
  'endless',
  'garbage',
  'html',
  'not-http',
] as const;
export type Fault = (typeof FAULTS)[number];

export interface FaultRequest {
  /** The request body as sent. */
  body: string;
  /** How many POSTs with this exact body came before (0: the row's first attempt). */
  seen: number;
  /** POSTs before this one, all bodies. */
  n: number;
}

export interface FaultProxyOptions {
  /** Picks the fault for a POST, or undefined to forward it. Default: never a fault. */
  plan?: (r: FaultRequest) => Fault | undefined;
  /** Delay of `slow`, in ms. Default 1500. */
  slowMs?: number;
  /** `retry-after` of `429`, in seconds. Default 1. */
  retryAfterS?: number;
  /** Wait before answering an injected status (`5xx`, `429`, `400`), in ms. Default 0. */
  faultDelayMs?: number;
}

export interface FaultProxy {
  /** OpenAI-compatible base URL (`…/v1`) to give the job. */
  endpoint: string;
  /** POSTs received (faulted or not). */
  posts(): number;
  /** POSTs forwarded to the engine and answered there (inference that ran), truncated ones included. */
  forwarded(): number;
  /** Requests forwarded to the engine and not answered yet (a dead client's included). */
  pending(): number;
  /** Rows the engine answered more than once: the sum over bodies of (answers - 1). */
  reInferred(): number;
  /** Faults injected, by kind. */
  injected(): Record<Fault, number>;
  /** Bodies that got each fault (first occurrence order). */
  faultedBodies(): Map<string, Fault>;
  setPlan(plan: FaultProxyOptions['plan']): void;
  /** Stops accepting connections and drops the open ones: the engine is gone. */
  refuse(): Promise<void>;
  close(): Promise<void>;
}

export interface RandomPlanOptions {
  /** Share of POSTs that get a fault, in [0, 1). */
  rate: number;
  /** The kinds, drawn with equal odds. */
  kinds: readonly Fault[];
  /** Seed of the draws (the same seed, the same sequence of draws). */
  seed: number;
  /** Only a body's first attempt can get a fault (its retries are forwarded). Default false: every POST draws. */
  firstAttemptsOnly?: boolean;
}

/** A plan that faults each POST with probability `rate`, the kind drawn uniformly from `kinds` (seeded). */
export function randomPlan(o: RandomPlanOptions): NonNullable<FaultProxyOptions['plan']> {
  if (!(o.rate >= 0 && o.rate < 1)) throw new RangeError(`Expected rate in [0, 1), got ${o.rate}`);
  if (o.kinds.length === 0) throw new RangeError('Expected at least one fault kind');
  // mulberry32, as src/sim/clock.ts seededRandom (kept here so the helper imports nothing of src/).
  let s = o.seed >>> 0;
  const random = (): number => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return (r) => {
    if (o.firstAttemptsOnly === true && r.seen > 0) return undefined;
    if (random() >= o.rate) return undefined;
    return o.kinds[Math.floor(random() * o.kinds.length)];
  };
}

export async function startFaultProxy(targetRoot: string, opts: FaultProxyOptions = {}): Promise<FaultProxy> {
  const target = new URL(targetRoot);
  const slowMs = opts.slowMs ?? 1500;
  const retryAfterS = opts.retryAfterS ?? 1;
  const faultDelayMs = opts.faultDelayMs ?? 0;
  let plan = opts.plan;
  let posts = 0;
  let forwarded = 0;
  const injected = Object.fromEntries(FAULTS.map((f) => [f, 0])) as Record<Fault, number>;
  const seen = new Map<string, number>();
  const answered = new Map<string, number>();
  const countAnswer = (status: number, body: Buffer): void => {
    if (status < 200 || status >= 300) return;
    forwarded++;
    const k = body.toString('utf8');
    answered.set(k, (answered.get(k) ?? 0) + 1);
  };
  const faulted = new Map<string, Fault>();
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();

  let pending = 0;
  const forward = (
    req: IncomingMessage,
    body: Buffer,
    onDone: (status: number, headers: IncomingMessage['headers'], payload: Buffer) => void,
    onError: () => void,
  ): void => {
    pending++;
    let settled = false;
    const settle = (): boolean => {
      if (settled) return false;
      settled = true;
      pending--;
      return true;
    };
    const up = request({ host: target.hostname, port: target.port, path: req.url, method: req.method, headers: req.headers }, (ur) => {
      const chunks: Buffer[] = [];
      ur.on('data', (c: Buffer) => chunks.push(c));
      ur.on('end', () => {
        if (settle()) onDone(ur.statusCode ?? 502, ur.headers, Buffer.concat(chunks));
      });
      ur.on('error', () => {
        if (settle()) onError();
      });
    });
    up.on('error', () => {
      if (settle()) onError();
    });
    up.end(body);
  };

  const pass = (req: IncomingMessage, res: ServerResponse, body: Buffer, count: boolean): void => {
    forward(
      req,
      body,
      (status, headers, payload) => {
        if (count) countAnswer(status, body);
        res.writeHead(status, { ...headers, 'content-length': String(payload.length) });
        res.end(payload);
      },
      () => res.destroy(),
    );
  };

  const json = (res: ServerResponse, status: number, message: string, extra: Record<string, string> = {}): void => {
    const payload = JSON.stringify({ error: { code: status, message: `fault proxy: ${message}`, type: 'fault_proxy' } });
    const send = (): void => {
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(payload)), ...extra });
      res.end(payload);
    };
    if (faultDelayMs <= 0) {
      send();
      return;
    }
    const t = setTimeout(() => {
      timers.delete(t);
      send();
    }, faultDelayMs);
    timers.add(t);
  };

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      if (req.method !== 'POST') return pass(req, res, body, false);
      const text = body.toString('utf8');
      const r: FaultRequest = { body: text, seen: seen.get(text) ?? 0, n: posts };
      posts++;
      seen.set(text, r.seen + 1);
      const fault = plan?.(r);
      if (fault === undefined) return pass(req, res, body, true);
      injected[fault]++;
      if (!faulted.has(text)) faulted.set(text, fault);
      switch (fault) {
        case '5xx':
          return json(res, 500, 'injected server error');
        case '503':
          return json(res, 503, 'injected service unavailable');
        case '429':
          return json(res, 429, 'injected rate limit', { 'retry-after': String(retryAfterS) });
        case '400':
          return json(res, 400, 'injected bad request');
        case 'reset':
          return req.socket.resetAndDestroy();
        case 'timeout':
          return; // hold it: the client's request_timeout fires, then it closes the socket
        case 'slow': {
          const t = setTimeout(() => {
            timers.delete(t);
            pass(req, res, body, true);
          }, slowMs);
          timers.add(t);
          return;
        }
        case 'huge':
        case 'endless': {
          res.writeHead(200, { 'content-type': 'application/json' }); // chunked: no content-length
          res.write('{"choices":[{"message":{"content":"');
          const chunk = 'z'.repeat(4096);
          if (fault === 'huge') {
            const pump = (): void => {
              while (!res.destroyed && res.write(chunk));
              if (!res.destroyed) res.once('drain', pump);
            };
            pump();
          } else {
            const t = setInterval(() => {
              if (res.destroyed) clearInterval(t);
              else res.write(chunk);
            }, 200);
            timers.add(t);
            res.once('close', () => {
              clearInterval(t);
              timers.delete(t);
            });
          }
          return;
        }
        case 'garbage': {
          const payload = '{"choices": [ {"message": <<<not json>>>';
          res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(payload.length) });
          return res.end(payload);
        }
        case 'html': {
          const payload = '<html><body><h1>Sign in</h1></body></html>';
          res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'content-length': String(payload.length) });
          return res.end(payload);
        }
        case 'not-http':
          req.socket.end('SSH-2.0-OpenSSH_9.6\r\n\r\n');
          return;
        case 'truncate':
          return forward(
            req,
            body,
            (status, headers, payload) => {
              countAnswer(status, body);
              res.writeHead(status, { ...headers, 'content-length': String(payload.length) });
              res.write(payload.subarray(0, Math.floor(payload.length / 2)));
              res.socket?.destroySoon(); // closes once the half body has left
            },
            () => res.destroy(),
          );
      }
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  let closed: Promise<void> | undefined;
  const shut = (): Promise<void> => {
    closed ??= new Promise((r) => {
      for (const t of timers) clearTimeout(t);
      server.close(() => r());
      for (const s of sockets) s.destroy();
    });
    return closed;
  };
  return {
    endpoint: `http://127.0.0.1:${port}/v1`,
    posts: () => posts,
    forwarded: () => forwarded,
    pending: () => pending,
    reInferred: () => [...answered.values()].reduce((a, n) => a + Math.max(0, n - 1), 0),
    injected: () => ({ ...injected }),
    faultedBodies: () => new Map(faulted),
    setPlan: (p) => {
      plan = p;
    },
    refuse: shut,
    close: shut,
  };
}
