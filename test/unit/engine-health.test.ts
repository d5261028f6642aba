import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { EngineClient } from '../../src/engine/client.ts';
import { CircuitBreaker, failureKindOf } from '../../src/engine/circuit.ts';
import { ConnectError, EngineOutageError, TimeoutError, TruncatedResponseError, errorFromStatus } from '../../src/engine/errors.ts';
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
  const err = await waitForHealth({ rootUrl: `${s.root}/v1`, timeoutMs: 20_000, intervalMs: 500, logger, now: time.now, sleep: time.sleep })
    .catch((e: unknown) => e);
  assert.ok(err instanceof EngineOutageError, String(err));
  assert.equal(err.code, 'E_ENGINE_OUTAGE');
  assert.equal(err.url, `${s.root}/health`);
  assert.equal(err.lastState, 'connection refused');
  assert.match(err.message, new RegExp(`${s.root}/health.*20s.*connection refused`));
  assert.deepEqual(lines, [0, 5, 10, 15].map((sec) => `waiting for engine at ${s.root}/health (${sec}s of 20s): connection refused`));
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
    const r = await waitForHealth({ client, timeoutMs: 60_000, intervalMs: 1000, logEveryMs: 2000, logger, now: time.now, sleep: time.sleep });
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
  const s = await serve(() => { /* never answers */ });
  const time = fakeTime();
  try {
    const err = await waitForHealth({ rootUrl: s.root, timeoutMs: 1000, intervalMs: 500, pollTimeoutMs: 30, now: time.now, sleep: time.sleep })
      .catch((e: unknown) => e);
    assert.ok(err instanceof EngineOutageError);
    assert.equal(err.lastState, 'no answer within 30ms');
    const ac = new AbortController();
    ac.abort(new Error('ctrl-c'));
    await assert.rejects(waitForHealth({ rootUrl: s.root, timeoutMs: 1000, signal: ac.signal, now: time.now, sleep: time.sleep }), /ctrl-c/);
  } finally {
    await s.close();
  }
  await assert.rejects(waitForHealth({ timeoutMs: 1 }), /exactly one of `client` or `rootUrl`/);
  await assert.rejects(waitForHealth({ rootUrl: s.root, timeoutMs: -1 }), /`timeoutMs`.*got `-1`/);
});

test('failureKindOf: outages, engine failures, and what the breaker ignores', () => {
  assert.equal(failureKindOf(new ConnectError('ECONNREFUSED', 'x')), 'outage');
  assert.equal(failureKindOf(new ConnectError('ECONNRESET', 'x')), 'error');
  assert.equal(failureKindOf(new TimeoutError('request', 1)), 'error');
  assert.equal(failureKindOf(new TruncatedResponseError('x')), 'error');
  assert.equal(failureKindOf(errorFromStatus(500, '')), 'error');
  assert.equal(failureKindOf(errorFromStatus(502, '')), 'error');
  for (const s of [400, 404, 408, 409, 422, 429, 501, 503]) assert.equal(failureKindOf(errorFromStatus(s, '')), undefined, String(s));
  assert.equal(failureKindOf(errorFromStatus(400, 'maximum context length')), undefined);
  assert.equal(failureKindOf(new Error('abort')), undefined);
});

test('CircuitBreaker: refused opens at once; N consecutive errors open; half-open probe closes or reopens', () => {
  let t = 1000;
  const changes: string[] = [];
  const cb = new CircuitBreaker({ failureThreshold: 3, now: () => t, onStateChange: (from, to, why) => changes.push(`${from}->${to}: ${why}`) });
  assert.equal(cb.state, 'closed');
  assert.equal(cb.allowsRequests, true);
  cb.recordFailure('error');
  cb.recordFailure('error');
  cb.recordSuccess(); // a success resets the run
  cb.recordFailure('error');
  cb.recordFailure('error');
  assert.equal(cb.state, 'closed');
  cb.recordFailure('error');
  assert.equal(cb.state, 'open');
  assert.equal(cb.allowsRequests, false);
  t += 4000;
  assert.equal(cb.outageMs, 4000);
  cb.halfOpen();
  assert.equal(cb.state, 'half-open');
  assert.equal(cb.allowsRequests, true);
  cb.recordFailure('error'); // the probe failed
  assert.equal(cb.state, 'open');
  assert.equal(cb.outageMs, 4000, 'the outage keeps its start');
  cb.halfOpen();
  cb.recordSuccess();
  assert.equal(cb.state, 'closed');
  assert.equal(cb.outageMs, 0);
  cb.recordFailure('outage');
  assert.equal(cb.state, 'open');
  assert.deepEqual(changes, [
    'closed->open: 3 consecutive failures', 'open->half-open: health check passed', 'half-open->open: the probe request failed',
    'open->half-open: health check passed', 'half-open->closed: a request succeeded', 'closed->open: connection refused',
  ]);
  cb.halfOpen();
  cb.halfOpen(); // idempotent
  assert.equal(changes.length, 7);
  assert.throws(() => new CircuitBreaker({ failureThreshold: 0 }), /`failureThreshold`.*got `0`/);
  assert.throws(() => cb.recordFailure('oops' as 'error'), /got `oops`/);
});
