/** A real node:http server on 127.0.0.1 (port 0) for the engine client's tests. */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type Handler = (req: IncomingMessage, res: ServerResponse, body: string) => void;

export interface TestServer {
  /** The server's `/v1` endpoint. */
  url: string;
  port: number;
  /** Connections accepted so far. */
  connections: () => number;
  close: () => Promise<void>;
}

/** Calls `handler` with each request's whole body. `keepAliveTimeout`: node's default (5 s) unless set. */
export async function serve(handler: Handler, opts: { keepAliveTimeout?: number } = {}): Promise<TestServer> {
  let connections = 0;
  const server = createServer(opts.keepAliveTimeout !== undefined ? { keepAliveTimeout: opts.keepAliveTimeout } : {}, (req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => {
      body += c;
    });
    req.on('end', () => handler(req, res, body));
  });
  server.on('connection', () => {
    connections++;
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    port,
    connections: () => connections,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
