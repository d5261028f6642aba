import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { EngineClient } from '../../src/engine/client.ts';
import { AdaptiveWindow } from '../../src/scheduler/adaptive.ts';
import { startLoadPolling } from '../../src/worker/load.ts';
import { waitFor } from '../helpers/wait.ts';

/** A stand-in for llama-server's read-only endpoints: /slots (8 slots, 2 busy) and /metrics. */
async function slotServer(slotsStatus = 200) {
  const seen: string[] = [];
  const server = createServer((req, res) => {
    seen.push(req.url ?? '');
    if (req.url === '/slots') {
      res.writeHead(slotsStatus, { 'content-type': 'application/json' });
      res.end(
        slotsStatus === 200 ? JSON.stringify(Array.from({ length: 8 }, (_, id) => ({ id, is_processing: id < 2 }))) : '{"error":"off"}',
      );
      return;
    }
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('llamacpp:requests_processing 2\nllamacpp:requests_deferred 0\n');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
  return { url, seen, close: () => new Promise<void>((r) => server.close(() => r())) };
}

async function run(kind: string, slotsStatus = 200) {
  const srv = await slotServer(slotsStatus);
  const client = new EngineClient({ endpoint: srv.url, connections: 2, requestTimeoutMs: 5000 });
  const window = new AdaptiveWindow({ initial: 4 });
  const logs: string[] = [];
  const ac = new AbortController();
  const polling = startLoadPolling(client, window, ac.signal, (m) => logs.push(m), kind);
  // The capacity promise settles once /slots has been handled (at once for other kinds).
  await polling.capacity;
  if (kind === 'llama-server')
    assert.ok(
      logs.some((l) => /slots|capacity/.test(l)),
      'the /slots answer was handled before capacity settled',
    );
  // Done once the first metrics poll was served and, for llama-server, the /slots answer logged.
  const done = (): boolean => srv.seen.includes('/metrics') && (kind !== 'llama-server' || logs.some((l) => /slots|capacity/.test(l)));
  await waitFor('the first metrics poll (and, for llama-server, the /slots line)', done, 5000, 5);
  const limit = window.limit();
  polling.stop();
  ac.abort();
  await client.close();
  await srv.close();
  return { limit, seen: srv.seen, logs };
}

test('llama-server: the worker reads /slots once and starts its window at the free slots', async () => {
  const r = await run('llama-server');
  assert.equal(r.limit, 6);
  assert.equal(r.seen.filter((u) => u === '/slots').length, 1);
  assert.ok(
    r.logs.some((l) => l.includes('8 slots, 2 busy')),
    r.logs.join('\n'),
  );
});

test('without /slots (or another engine kind) the window starts slowly, from its initial value', async () => {
  const off = await run('llama-server', 501);
  assert.ok(off.limit <= 8, `limit ${off.limit}`);
  assert.ok(
    off.logs.some((l) => l.includes('capacity unknown')),
    off.logs.join('\n'),
  );
  const vllm = await run('vllm');
  assert.equal(vllm.seen.includes('/slots'), false);
});
