/**
 * A counting proxy (a test instrument, not a fake engine): forwards every request unchanged to a
 * real engine and counts the POSTs (in all and per path), so tests can assert how often inference ran,
 * and the most POSTs it had open at once (forwarded and not yet answered), for the never-flood bound.
 */
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface CountingProxy {
  endpoint: string;
  posts(): number;
  /** POSTs to one path (`/v1/chat/completions`, `/tokenize`). */
  postsTo(path: string): number;
  bodies: string[];
  /** The `traceparent` header of every POST that had one (a traced run), in arrival order. */
  traceparents: string[];
  /** The most POSTs open at once: received and not yet answered in full. */
  maxOpen(): number;
  /** When the first POST to `path` arrived (epoch ms), or undefined. */
  firstPostAt(path: string): number | undefined;
  close(): Promise<void>;
}

export async function startCountingProxy(targetRoot: string, opts: { keepBodies?: boolean } = {}): Promise<CountingProxy> {
  const target = new URL(targetRoot);
  let posts = 0;
  const byPath = new Map<string, number>();
  const firstAt = new Map<string, number>();
  const bodies: string[] = [];
  const traceparents: string[] = [];
  let open = 0;
  let maxOpen = 0;
  const server: Server = createServer((req, res) => {
    if (req.method === 'POST') {
      if (!firstAt.has(req.url ?? '')) firstAt.set(req.url ?? '', Date.now());
      open++;
      maxOpen = Math.max(maxOpen, open);
      res.on('close', () => open--);
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      if (req.method === 'POST') {
        posts++;
        byPath.set(req.url ?? '', (byPath.get(req.url ?? '') ?? 0) + 1);
        if (opts.keepBodies === true) bodies.push(body.toString('utf8'));
        const tp = req.headers.traceparent;
        if (typeof tp === 'string') traceparents.push(tp);
      }
      const up = request({ host: target.hostname, port: target.port, path: req.url, method: req.method, headers: req.headers }, (ur) => {
        res.writeHead(ur.statusCode ?? 502, ur.headers);
        ur.pipe(res);
      });
      up.on('error', () => {
        res.destroy();
      });
      up.end(body);
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    endpoint: `http://127.0.0.1:${port}/v1`,
    posts: () => posts,
    postsTo: (path) => byPath.get(path) ?? 0,
    bodies,
    traceparents,
    maxOpen: () => maxOpen,
    firstPostAt: (path) => firstAt.get(path),
    close: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
