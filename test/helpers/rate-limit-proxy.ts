/**
 * A RATE-LIMITING PROXY (a test instrument standing in for a hosted provider's rate limiter, not a
 * fake engine): it sits between the workers and a REAL engine and lets through at most N POSTs a
 * second, as OpenAI-compatible hosted endpoints do. A token bucket holds `burst` tokens (default:
 * the per-second limit) and refills at `requestsPerSecond`; a POST that finds a token is forwarded
 * unchanged, one that finds none is answered at once, without asking the engine, with
 *   HTTP 429 `{"error":{"message":...,"type":"rate_limit_exceeded"}}`
 * and the headers hosted providers send with it:
 *   - `retry-after-ms`: ms until the next token (OpenAI, Azure OpenAI);
 *   - `retry-after`: the same in whole seconds, rounded up (RFC 9110 §10.2.3 delta-seconds);
 *   - `x-ratelimit-limit-requests`, `x-ratelimit-remaining-requests`, `x-ratelimit-reset-requests`
 *     (OpenAI's rate-limit headers; the reset is a duration such as `250ms` or `1.5s`: the time
 *     until the bucket is full again).
 * Forwarded answers get the three `x-ratelimit-*` headers too, as providers add them to every
 * answer. GETs (/health, /metrics) pass through and spend no token.
 */
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface RateLimitProxyOptions {
  /** Tokens added per second: the sustained request limit. > 0. */
  requestsPerSecond: number;
  /** Bucket size: requests allowed at once after an idle spell. Default `requestsPerSecond` (at least 1). */
  burst?: number;
}

export interface RateLimitStats {
  /** POSTs forwarded to the engine. */
  forwarded: number;
  /** POSTs answered with 429. */
  refused: number;
  /** When the first POST was forwarded (epoch ms). */
  firstAt?: number;
  /** When the last POST was forwarded (epoch ms). */
  lastAt?: number;
}

export interface RateLimitProxy {
  /** The proxy's root (`http://127.0.0.1:PORT`), to use where `targetRoot` would be used. */
  url: string;
  /** OpenAI-compatible base URL (`…/v1`) to give a job. */
  endpoint: string;
  stats(): RateLimitStats;
  close(): Promise<void>;
}

/** A duration in OpenAI's `x-ratelimit-reset-*` style: `250ms` below a second, else `1.5s`. */
function resetText(ms: number): string {
  const r = Math.max(0, Math.ceil(ms));
  return r < 1000 ? `${r}ms` : `${Number((r / 1000).toFixed(3))}s`;
}

export async function startRateLimitProxy(targetRoot: string, opts: RateLimitProxyOptions): Promise<RateLimitProxy> {
  const rps = opts.requestsPerSecond;
  if (!(Number.isFinite(rps) && rps > 0)) throw new RangeError(`requestsPerSecond must be > 0, got ${rps}`);
  const burst = opts.burst ?? Math.max(1, rps);
  if (!(Number.isFinite(burst) && burst >= 1)) throw new RangeError(`burst must be >= 1, got ${burst}`);
  const target = new URL(targetRoot);
  let tokens = burst;
  let refilledAt = Date.now();
  const stats: RateLimitStats = { forwarded: 0, refused: 0 };
  const sockets = new Set<Socket>();

  const refill = (now: number): void => {
    tokens = Math.min(burst, tokens + ((now - refilledAt) / 1000) * rps);
    refilledAt = now;
  };
  const limitHeaders = (): Record<string, string> => ({
    'x-ratelimit-limit-requests': String(Math.round(burst)),
    'x-ratelimit-remaining-requests': String(Math.max(0, Math.floor(tokens))),
    'x-ratelimit-reset-requests': resetText(((burst - tokens) / rps) * 1000),
  });

  const forward = (req: IncomingMessage, res: ServerResponse, body: Buffer, extra: Record<string, string>): void => {
    const up = request({ host: target.hostname, port: target.port, path: req.url, method: req.method, headers: req.headers }, (ur) => {
      const chunks: Buffer[] = [];
      ur.on('data', (c: Buffer) => chunks.push(c));
      ur.on('end', () => {
        const payload = Buffer.concat(chunks);
        // The body is sent whole with its length, so the engine's framing headers no longer apply.
        const { 'transfer-encoding': _te, connection: _c, ...headers } = ur.headers;
        res.writeHead(ur.statusCode ?? 502, { ...headers, ...extra, 'content-length': String(payload.length) });
        res.end(payload);
      });
      ur.on('error', () => res.destroy());
    });
    up.on('error', () => res.destroy());
    up.end(body);
  };

  const refuse = (res: ServerResponse): void => {
    const waitMs = Math.max(1, Math.ceil(((1 - tokens) / rps) * 1000));
    const payload = JSON.stringify({
      error: { message: `Rate limit reached: ${rps} requests per second. Please try again in ${waitMs}ms.`, type: 'rate_limit_exceeded' },
    });
    res.writeHead(429, {
      'content-type': 'application/json',
      'content-length': String(Buffer.byteLength(payload)),
      'retry-after-ms': String(waitMs),
      'retry-after': String(Math.ceil(waitMs / 1000)),
      ...limitHeaders(),
    });
    res.end(payload);
  };

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      if (req.method !== 'POST') return forward(req, res, body, {});
      const now = Date.now();
      refill(now);
      if (tokens < 1) {
        stats.refused++;
        return refuse(res);
      }
      tokens -= 1;
      stats.forwarded++;
      stats.firstAt ??= now;
      stats.lastAt = now;
      forward(req, res, body, limitHeaders());
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
  return {
    url: `http://127.0.0.1:${port}`,
    endpoint: `http://127.0.0.1:${port}/v1`,
    stats: () => ({ ...stats }),
    close: () => {
      closed ??= new Promise((r) => {
        server.close(() => r());
        for (const s of sockets) s.destroy();
      });
      return closed;
    },
  };
}
