/** bench/lib/engines.ts waitLlamaIdle: returns when the engine is idle, and stops at once when told the engine is gone. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { waitLlamaIdle } from '../../bench/lib/engines.ts';

/** A /metrics endpoint in llama-server's names, reporting `busy()` requests processing. */
async function metricsServer(busy: () => number): Promise<{ origin: string; server: Server }> {
  const server = createServer((_req, res) => {
    res.end(`llamacpp:requests_processing ${busy()}\nllamacpp:requests_deferred 0\n`);
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  return { origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

test('waitLlamaIdle returns once the engine reports nothing running', async () => {
  let polls = 0;
  const { origin, server } = await metricsServer(() => (++polls < 3 ? 5 : 0));
  try {
    await waitLlamaIdle(origin, 10_000);
    assert.ok(polls >= 3);
  } finally {
    server.close();
  }
});

test('waitLlamaIdle rejects with the abort reason instead of polling a busy engine until the timeout', async () => {
  const { origin, server } = await metricsServer(() => 7);
  const dead = new AbortController();
  try {
    const waiting = waitLlamaIdle(origin, 20_000, dead.signal);
    setImmediate(() => dead.abort(new Error('engine 0: gone')));
    await assert.rejects(waiting, /engine 0: gone/);
  } finally {
    server.close();
  }
});
