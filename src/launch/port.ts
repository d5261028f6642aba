/** Free TCP ports for the engines and Spark's UI that the CLI starts locally. */
import { createServer } from 'node:net';
import { RuntimeFailure } from '../errors.ts';

/**
 * A TCP port that is free on 127.0.0.1 right now: the kernel picks one for a throwaway listener,
 * which is closed before returning. Another process could take it before the engine binds it;
 * the engine then fails to start and the launcher reports it.
 */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ host, port: 0, exclusive: true }, () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : undefined;
      server.close((err) => {
        if (err !== undefined) reject(err);
        else if (port === undefined) reject(new RuntimeFailure(`could not read the port of a listener on ${host}`));
        else resolvePort(port);
      });
    });
  });
}
