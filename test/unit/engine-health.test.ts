import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { EngineClient } from '../../src/engine/client.ts';
import { EngineOutageError } from '../../src/engine/errors.ts';
import { waitForHealth } from '../../src/engine/health.ts';

async function serve(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ root: string; close: () => Promise<void> }> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    root: `http://127.0.0.1:${port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A fake clock that only moves when the code under test sleeps. */
function fakeTime(): { now: () => number; sleep: (ms: number, signal?: AbortSignal) => Promise<void>; slept: number[] } {
  let t = 0;
  const slept: number[] = [];
  return {
    now: () => t,
    sleep: async (ms, signal) => {
      signal?.throwIfAborted();
      slept.push(ms);
      t += ms;
    },
    slept,
  };
}

function collect(): { lines: string[]; logger: { info: (m: string) => void; warn: (m: string) => void } } {
  const lines: string[] = [];
  return { lines, logger: { info: (m) => lines.push(m), warn: (m) => lines.push(m) } };
}

test('waitForHealth: connection refused until timeout → EngineOutageError naming URL and state; logs every 5s', async () => {
  const s = await serve(() => {});
  await s.close(); // nothing listens there now
  const time = fakeTime();
  const { lines, logger } = collect();
  const err = await waitForHealth({
    rootUrl: `${s.root}/v1`,
    timeoutMs: 20_000,
    intervalMs: 500,
    logger,
    now: time.now,
    sleep: time.sleep,
  }).catch((e: unknown) => e);
  assert.ok(err instanceof EngineOutageError, String(err));
  assert.equal(err.code, 'E_ENGINE_OUTAGE');
  assert.equal(err.url, `${s.root}/health`);
  assert.equal(err.lastState, 'connection refused');
  assert.match(err.message, new RegExp(`${s.root}/health.*20s.*connection refused`));
  assert.deepEqual(
    lines,
    [0, 5, 10, 15].map((sec) => `waiting for engine at ${s.root}/health (${sec}s of 20s): connection refused`),
  );
  assert.ok(time.slept.every((ms) => ms <= 500));
  assert.equal(time.now(), 20_000);
});

test('waitForHealth: llama-server loading (503) then ready', async () => {
  let polls = 0;
  const s = await serve((req, res) => {
    assert.equal(req.url, '/health');
    polls++;
    if (polls <= 3) {
      res.writeHead(503, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { code: 503, message: 'Loading model', type: 'unavailable_error' } }));
    } else {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"status":"ok"}');
    }
  });
  const client = new EngineClient({ endpoint: `${s.root}/v1` });
  const time = fakeTime();
  const { lines, logger } = collect();
  try {
    const r = await waitForHealth({
      client,
      timeoutMs: 60_000,
      intervalMs: 1000,
      logEveryMs: 2000,
      logger,
      now: time.now,
      sleep: time.sleep,
    });
    assert.deepEqual(r, { waitedMs: 3000, polls: 4 });
    assert.deepEqual(lines, [
      `waiting for engine at ${s.root}/health (0s of 60s): HTTP 503 (loading): Loading model`,
      `waiting for engine at ${s.root}/health (2s of 60s): HTTP 503 (loading): Loading model`,
      `engine at ${s.root}/health healthy after 3s`,
    ]);
    // A caller-owned client stays open.
    assert.equal((await client.get('/health')).status, 200);
  } finally {
    await client.close();
    await s.close();
  }
});

test('waitForHealth: a hanging /health counts as a failed poll; an abort stops the wait', async () => {
  const s = await serve(() => {
    /* never answers */
  });
  const time = fakeTime();
  try {
    const err = await waitForHealth({
      rootUrl: s.root,
      timeoutMs: 1000,
      intervalMs: 500,
      pollTimeoutMs: 30,
      now: time.now,
      sleep: time.sleep,
    }).catch((e: unknown) => e);
    assert.ok(err instanceof EngineOutageError);
    assert.equal(err.lastState, 'no answer within 30ms');
    const ac = new AbortController();
    ac.abort(new Error('ctrl-c'));
    await assert.rejects(
      waitForHealth({ rootUrl: s.root, timeoutMs: 1000, signal: ac.signal, now: time.now, sleep: time.sleep }),
      /ctrl-c/,
    );
  } finally {
    await s.close();
  }
  await assert.rejects(waitForHealth({ timeoutMs: 1 }), /exactly one of `client` or `rootUrl`/);
  await assert.rejects(waitForHealth({ rootUrl: s.root, timeoutMs: -1 }), /`timeoutMs`.*got `-1`/);
});
