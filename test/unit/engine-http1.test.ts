/**
 * The engine client's own HTTP/1.1 transport (src/engine/http1/), through EngineClient.post,
 * against real local servers: node:http, and raw node:net servers that write exactly the bytes a
 * test needs (chunked bodies, split heads, connection: close, cut bodies, stale sockets).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import { execFile, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { setTimeout as delay } from 'node:timers/promises';
import { EngineClient } from '../../src/engine/client.ts';
import {
  BadResponseError,
  ConnectError,
  HttpError,
  ResponseTooLargeError,
  TimeoutError,
  TruncatedResponseError,
} from '../../src/engine/errors.ts';
import { classify, retryPolicy } from '../../src/engine/retry.ts';
import { serve } from '../helpers/http-server.ts';
import { waitFor } from '../helpers/wait.ts';
import { tempDir } from '../helpers/tmp.ts';

interface RawServer {
  url: string;
  port: number;
  /** Connections accepted so far. */
  connections: () => number;
  /** Connections still open on the server's side. */
  open: () => number;
  /** Requests seen (raw heads, with their bodies), in order. */
  requests: string[];
  close: () => Promise<void>;
}

/**
 * A raw TCP server: `onRequest(socket, n, request)` runs for each complete request (head and a
 * content-length body) on a connection; `n` counts requests on that connection from 1.
 */
async function rawServer(onRequest: (socket: Socket, n: number, request: string) => void): Promise<RawServer> {
  let connections = 0;
  const sockets = new Set<Socket>();
  const requests: string[] = [];
  const server = createNetServer((socket) => {
    connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let buf = Buffer.alloc(0);
    let n = 0;
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      for (;;) {
        const end = buf.indexOf('\r\n\r\n');
        if (end === -1) return;
        const head = buf.toString('latin1', 0, end);
        const length = Number(/content-length: (\d+)/i.exec(head)?.[1] ?? 0);
        if (buf.length < end + 4 + length) return;
        const request = buf.toString('utf8', 0, end + 4 + length);
        buf = buf.subarray(end + 4 + length);
        requests.push(request);
        onRequest(socket, ++n, request);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    port,
    requests,
    connections: () => connections,
    open: () => sockets.size,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A complete HTTP/1.1 answer with a content-length. */
function answer(status: number, body: string, headers: string[] = []): string {
  return [
    `HTTP/1.1 ${status} X`,
    'content-type: application/json',
    `content-length: ${Buffer.byteLength(body)}`,
    ...headers,
    '',
    body,
  ].join('\r\n');
}

const KEY = 'sk-http1-test-secret-42';

test('http1: the request carries the fixed headers and a byte-exact content-length; multibyte text both ways', async (t) => {
  const seen: Array<{ headers: IncomingMessage['headers']; url: string | undefined; method: string | undefined; body: string }> = [];
  const s = await serve((req, res, body) => {
    seen.push({ headers: req.headers, url: req.url, method: req.method, body });
    const text = JSON.stringify({ echo: body.length, reply: 'été ☃ 𝄞' });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'x-twice': ['a', 'b'] });
    res.end(text);
  });
  const client = new EngineClient({ endpoint: s.url, apiKey: KEY, connections: 2 });
  t.after(async () => {
    await client.close();
    await s.close();
  });
  const body = JSON.stringify({ messages: [{ role: 'user', content: 'Grüße, 世界 🌍' }] });
  const r = await client.post('/chat/completions', body);
  assert.deepEqual(r.json, { echo: body.length, reply: 'été ☃ 𝄞' });
  const first = seen[0];
  assert.ok(first !== undefined);
  assert.equal(first.method, 'POST');
  assert.equal(first.url, '/v1/chat/completions');
  assert.equal(first.body, body);
  assert.equal(first.headers['content-length'], String(Buffer.byteLength(body)));
  assert.equal(first.headers['content-type'], 'application/json');
  assert.equal(first.headers.accept, 'application/json');
  assert.equal(first.headers.authorization, `Bearer ${KEY}`);
  assert.equal(first.headers.host, new URL(s.url).host);
  // The headers are parsed on first read, into undici's shape.
  assert.equal(r.headers['content-type'], 'application/json');
  assert.deepEqual(r.headers['x-twice'], ['a', 'b']);
});

test('http1: sequential requests reuse one socket; concurrent ones open at most `connections`', async (t) => {
  let inflight = 0;
  let peak = 0;
  const s = await serve((_req, res) => {
    inflight++;
    peak = Math.max(peak, inflight);
    setTimeout(() => {
      inflight--;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"ok":true}');
    }, 5);
  });
  const client = new EngineClient({ endpoint: s.url, connections: 3 });
  t.after(async () => {
    await client.close();
    await s.close();
  });
  for (let i = 0; i < 5; i++) await client.post('/completions', '{}');
  assert.equal(s.connections(), 1);
  const all = await Promise.all(Array.from({ length: 20 }, () => client.post('/completions', '{}')));
  assert.equal(all.length, 20);
  assert.ok(all.every((r) => (r.json as { ok: boolean }).ok));
  assert.equal(peak, 3, 'never more requests in flight than connections');
  assert.equal(s.connections(), 3);
});

test('http1: chunked bodies with extensions and trailers, and heads and bodies split across reads', async (t) => {
  const text = JSON.stringify({ choices: [{ text: 'ünïcödé '.repeat(50) }] });
  const bytes = Buffer.from(text);
  const s = await rawServer((socket, _n, request) => {
    void (async () => {
      if (request.includes('/v1/chunked')) {
        socket.write('HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n');
        // Chunk boundaries in the middle of multibyte characters, one extension, then trailers.
        for (let i = 0, k = 0; i < bytes.length; i += 7 + k++) {
          const part = bytes.subarray(i, Math.min(bytes.length, i + 7 + k));
          socket.write(`${part.length.toString(16)}${k === 1 ? ';ext=1' : ''}\r\n`);
          socket.write(part);
          socket.write('\r\n');
          if (k % 5 === 0) await delay(1);
        }
        socket.write('0\r\nx-trailer: yes\r\n\r\n');
      } else {
        // The head and body dribble in, a few bytes at a time.
        const whole = Buffer.from(answer(200, text, ['x-slow: 1']));
        for (let i = 0; i < whole.length; i += 13) {
          socket.write(whole.subarray(i, i + 13));
          await delay(1);
        }
      }
    })();
  });
  const client = new EngineClient({ endpoint: s.url, connections: 1 });
  t.after(async () => {
    await client.close();
    await s.close();
  });
  const a = await client.post('/chunked', '{}');
  assert.equal(a.text, text);
  const b = await client.post('/split', '{}');
  assert.equal(b.text, text);
  assert.equal(b.headers['x-slow'], '1');
  const c = await client.post('/chunked', '{}');
  assert.equal(c.text, text);
  assert.equal(s.connections(), 1, 'chunked and content-length answers both leave the socket reusable');
});

test('http1: 1xx answers are skipped; a large body arrives whole', async (t) => {
  const big = JSON.stringify({ data: 'x€'.repeat(300_000) });
  const s = await rawServer((socket, _n, request) => {
    if (request.includes('/v1/big')) socket.write(answer(200, big));
    else socket.write(`HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\n${answer(200, '{"after":"hints"}')}`);
  });
  const client = new EngineClient({ endpoint: s.url, connections: 1 });
  t.after(async () => {
    await client.close();
    await s.close();
  });
  const r = await client.post('/hints', '{}');
  assert.equal(r.status, 200);
  assert.deepEqual(r.json, { after: 'hints' });
  const b = await client.post('/big', '{}');
  assert.equal(b.text, big);
  assert.equal(s.connections(), 1);
});

test('http1: `connection: close`, HTTP/1.0, a short keep-alive hint and bytes after the body all stop reuse', async (t) => {
  // Answers one request per connection and then stays silent: a reused socket would hang the test.
  const s = await rawServer((socket, n, request) => {
    if (n > 1) return;
    if (request.includes('/v1/close')) socket.write(answer(200, '{"a":1}', ['Connection: close']));
    else if (request.includes('/v1/http10')) socket.end('HTTP/1.0 200 OK\r\ncontent-type: application/json\r\n\r\n{"a":2}');
    else if (request.includes('/v1/hint')) socket.write(answer(200, '{"a":3}', ['connection: keep-alive', 'keep-alive: timeout=1']));
    else socket.write(`${answer(200, '{"a":4}')}HTTP/1.1 200 OK\r\n`); // garbage after the answer
  });
  const client = new EngineClient({ endpoint: s.url, connections: 1, requestTimeoutMs: 2000 });
  t.after(async () => {
    await client.close();
    await s.close();
  });
  let expected = 0;
  for (const [path, a] of [
    ['/close', 1],
    ['/http10', 2],
    ['/hint', 3],
    ['/garbage', 4],
  ] as const) {
    for (let i = 0; i < 2; i++) {
      const r = await client.post(path, '{}');
      assert.deepEqual(r.json, { a }, `${path} #${i + 1}`);
      expected++;
      assert.equal(s.connections(), expected, `${path} #${i + 1} went over a new connection`);
    }
  }
});

test("http1: a socket idle for longer than the server's keep-alive timeout (less a second) is not reused", async (t) => {
  // keep-alive: timeout=2 → reused for up to 1 s. One answer per connection, then silence (never closed).
  const s = await rawServer((socket, n) => {
    if (n === 1) socket.write(answer(200, '{"ok":1}', ['Keep-Alive: timeout=2']));
  });
  const client = new EngineClient({ endpoint: s.url, connections: 1, requestTimeoutMs: 2000, idleCloseMs: 60_000 });
  t.after(async () => {
    await client.close();
    await s.close();
  });
  await client.post('/completions', '{}');
  const idleSince = performance.now();
  // The condition is elapsed idle time itself (the pool reads the clock): wait for it, not a guess.
  await waitFor('1 s of idle time', () => performance.now() - idleSince > 1050, 3000, 25);
  assert.deepEqual((await client.post('/completions', '{}')).json, { ok: 1 });
  assert.equal(s.connections(), 2);
});

test('http1: sockets left idle (a window that shrank) are closed after idleCloseMs; busy ones are kept', async (t) => {
  const s = await rawServer((socket) => {
    setTimeout(() => socket.write(answer(200, '{"ok":1}')), 5);
  });
  const client = new EngineClient({ endpoint: s.url, connections: 8, idleCloseMs: 150 });
  t.after(async () => {
    await client.close();
    await s.close();
  });
  // Eight at once: eight sockets. Then one at a time, back to back: one socket stays busy.
  await Promise.all(Array.from({ length: 8 }, () => client.post('/completions', '{}')));
  assert.equal(s.open(), 8);
  const until = performance.now() + 400;
  while (performance.now() < until) await client.post('/completions', '{}');
  assert.equal(s.connections(), 8, 'the steady requests reused a socket');
  // The seven left idle were closed by the client; the one in use was not.
  assert.equal(s.open(), 1);
  await waitFor('the last socket to be closed once idle', () => s.open() === 0, 2000, 10);
  // A later request opens a fresh socket and is answered.
  assert.deepEqual((await client.post('/completions', '{}')).json, { ok: 1 });
  assert.equal(s.connections(), 9);
});

test('http1: a keep-alive socket the server closed while idle is not reused', async (t) => {
  const s = await rawServer((socket) => {
    socket.write(answer(200, '{"ok":1}'));
    setTimeout(() => socket.destroy(), 20); // the server's idle timeout, unannounced
  });
  const client = new EngineClient({ endpoint: s.url, connections: 1 });
  t.after(async () => {
    await client.close();
    await s.close();
  });
  await client.post('/completions', '{}');
  await waitFor('the server to close the idle socket', () => s.open() === 0, 2000, 10);
  const r = await client.post('/completions', '{}');
  assert.deepEqual(r.json, { ok: 1 });
  assert.equal(s.connections(), 2);
  assert.equal(s.requests.length, 2, 'nothing was sent on the dead socket');
});

test('http1: a reused socket that dies before answering is resent once on a fresh one; a fresh one is not', async (t) => {
  // The race the resend is for: the server closes a kept-alive socket just as the request arrives.
  let mode: 'race' | 'dead' = 'race';
  const s = await rawServer((socket, n) => {
    if (n === 1 && (mode === 'race' || s.requests.length === 1)) socket.write(answer(200, `{"n":${s.requests.length}}`));
    else socket.destroy();
  });
  const client = new EngineClient({ endpoint: s.url, connections: 1 });
  t.after(async () => {
    await client.close();
    await s.close();
  });
  assert.deepEqual((await client.post('/x', '{}')).json, { n: 1 });
  assert.deepEqual((await client.post('/x', '{}')).json, { n: 3 }, 'request 2 died on the reused socket; its resend is request 3');
  assert.equal(s.connections(), 2);
  // Now a server that kills every request after the first: the resend fails too, and that is final.
  await client.close();
  mode = 'dead';
  s.requests.length = 0;
  const c2 = new EngineClient({ endpoint: s.url, connections: 1 });
  t.after(() => c2.close());
  await c2.post('/x', '{}');
  const err = await c2.post('/x', '{}').catch((e: unknown) => e);
  assert.ok(err instanceof ConnectError, inspect(err));
  assert.equal(err.errno, 'ECONNRESET');
  assert.equal(s.requests.length, 3, 'one resend, not more');
});

test('http1: a body cut mid-way is a truncated response; wrong framing or a head that is not HTTP is a bad response', async (t) => {
  const s = await rawServer((socket, _n, request) => {
    const path = /POST (\S+)/.exec(request)?.[1];
    if (path === '/v1/cut-length') {
      socket.write('HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n{"choices":');
      setTimeout(() => socket.destroy(), 5);
    } else if (path === '/v1/cut-chunked') {
      socket.write('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\n{"cho\r\n');
      setTimeout(() => socket.end(), 5);
    } else if (path === '/v1/bad-chunk') {
      socket.write('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n');
    } else if (path === '/v1/bad-length') {
      socket.write('HTTP/1.1 200 OK\r\ncontent-length: 12abc\r\n\r\n{}');
    } else if (path === '/v1/not-http') {
      socket.write('SSH-2.0-OpenSSH_9.6\r\n\r\n');
    } else {
      socket.write('HTTP/1.1 200 OK\r\nbad header line\r\n\r\n');
    }
  });
  const client = new EngineClient({ endpoint: s.url, connections: 2, requestTimeoutMs: 2000 });
  t.after(async () => {
    await client.close();
    await s.close();
  });
  const cut = await client.post('/cut-length', '{}').catch((e: unknown) => e);
  assert.ok(cut instanceof TruncatedResponseError, inspect(cut));
  assert.match(cut.message, /11 of 100 body bytes/);
  const cutChunked = await client.post('/cut-chunked', '{}').catch((e: unknown) => e);
  assert.ok(cutChunked instanceof TruncatedResponseError, inspect(cutChunked));
  for (const [path, code] of [
    ['/bad-chunk', 'HPE_INVALID_CHUNK_SIZE'],
    ['/bad-length', 'HPE_INVALID_CONTENT_LENGTH'],
    ['/not-http', 'HPE_INVALID_CONSTANT'],
    ['/bad-header', 'HPE_INVALID_HEADER_TOKEN'],
  ] as const) {
    const err = await client.post(path, '{}').catch((e: unknown) => e);
    assert.ok(err instanceof BadResponseError, `${path}: ${inspect(err)}`);
    assert.equal(err.code, 'E_BAD_RESPONSE');
    assert.match(err.message, new RegExp(`did not answer HTTP: .*\\(${code}\\)`));
    assert.equal(classify(err, 1, retryPolicy(), () => 0).retry, true, 'retried within the budget');
  }
});

test('http1: hostile answers: bodies over the cap (declared, chunked, until close), an endless chunked body, a wrong content type', async (t) => {
  const CAP = 64 * 1024;
  let endless: Socket | undefined;
  const s = await rawServer((socket, _n, request) => {
    const path = /POST (\S+)/.exec(request)?.[1];
    if (path === '/v1/declared-huge') {
      socket.write('HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 999999999999\r\n\r\n{"choices":');
    } else if (path === '/v1/chunked-huge' || path === '/v1/endless') {
      // A chunked body that never ends: 4 KiB chunks as fast as the socket takes them.
      socket.write('HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n');
      const chunk = `1000\r\n${'x'.repeat(4096)}\r\n`;
      if (path === '/v1/endless') endless = socket;
      const pump = (): void => {
        while (!socket.destroyed && socket.write(chunk));
        if (!socket.destroyed) socket.once('drain', pump);
      };
      if (path === '/v1/chunked-huge') pump();
      else socket.write(chunk); // then a trickle that never finishes: only the timeout ends it
    } else if (path === '/v1/until-close-huge') {
      socket.write('HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n');
      socket.end('y'.repeat(CAP + 1));
    } else if (path === '/v1/html') {
      socket.write(answer(200, '<html><body>Sign in</body></html>').replace('application/json', 'text/html; charset=utf-8'));
    } else {
      socket.write(answer(200, '{"choices":[]}').replace('application/json', 'application/json; charset=utf-8'));
    }
  });
  const client = new EngineClient({ endpoint: s.url, connections: 2, requestTimeoutMs: 1500, maxResponseBytes: CAP });
  t.after(async () => {
    endless?.destroy();
    await client.close();
    await s.close();
  });
  for (const path of ['/declared-huge', '/chunked-huge', '/until-close-huge']) {
    const err = await client.post(path, '{}').catch((e: unknown) => e);
    assert.ok(err instanceof ResponseTooLargeError, `${path}: ${inspect(err)}`);
    assert.equal(err.code, 'E_RESPONSE_TOO_LARGE');
    assert.match(err.message, new RegExp(`over the cap of ${CAP}`));
    assert.equal(classify(err, 1, retryPolicy(), () => 0).retry, true, 'retried within the budget');
  }
  const slow = await client.post('/endless', '{}').catch((e: unknown) => e);
  assert.ok(slow instanceof TimeoutError, `an endless trickle ends at the request timeout: ${inspect(slow)}`);
  const html = await client.post('/html', '{}').catch((e: unknown) => e);
  assert.ok(html instanceof BadResponseError, inspect(html));
  assert.equal(html.code, 'E_BAD_RESPONSE');
  assert.match(html.message, /content-type text\/html; charset=utf-8, not JSON .*Sign in/);
  // A JSON type with parameters is fine.
  assert.deepEqual((await client.post('/ok', '{}')).json, { choices: [] });
});

test('http1: non-2xx answers keep their status, body and retry-after', async (t) => {
  const s = await rawServer((socket, _n, request) => {
    if (request.includes('/v1/busy')) socket.write(answer(503, '{"error":"busy"}', ['Retry-After: 7']));
    else socket.write(answer(404, '{"error":"no such model"}'));
  });
  const client = new EngineClient({ endpoint: s.url, connections: 1 });
  t.after(async () => {
    await client.close();
    await s.close();
  });
  const busy = await client.post('/busy', '{}').catch((e: unknown) => e);
  assert.ok(busy instanceof HttpError, inspect(busy));
  assert.equal(busy.status, 503);
  assert.equal(busy.retryAfter, '7');
  assert.match(busy.message, /busy/);
  const missing = await client.post('/missing', '{}').catch((e: unknown) => e);
  assert.ok(missing instanceof HttpError && missing.status === 404 && missing.retryAfter === undefined, inspect(missing));
  assert.equal(s.connections(), 1, 'an error answer leaves the socket reusable');
});

test('http1: the deadline and an abort fail the request and drop its socket; the pool goes on', async (t) => {
  const s = await rawServer((socket, _n, request) => {
    if (request.includes('/v1/ok')) socket.write(answer(200, '{"ok":true}'));
    // anything else: never answered
  });
  const client = new EngineClient({ endpoint: s.url, connections: 1, requestTimeoutMs: 100 });
  t.after(async () => {
    await client.close();
    await s.close();
  });
  const t0 = performance.now();
  const err = await client.post('/hang', '{}').catch((e: unknown) => e);
  assert.ok(err instanceof TimeoutError, inspect(err));
  assert.ok(performance.now() - t0 >= 95);
  assert.deepEqual((await client.post('/ok', '{}')).json, { ok: true });
  assert.equal(s.connections(), 2, 'the timed-out socket was not reused');
  // With one connection, the second request queues behind the first; aborting it fails it at once.
  const ac = new AbortController();
  const first = client.post('/hang', '{}', { timeoutMs: 300 }).catch((e: unknown) => e);
  let firstSettled = false;
  void first.then(() => {
    firstSettled = true;
  });
  const queued = client.post('/ok', '{}', { signal: ac.signal, timeoutMs: 5000 }).catch((e: unknown) => e);
  await waitFor('the second /hang to reach the server', () => s.requests.filter((r) => r.includes('/v1/hang')).length === 2, 2000, 5);
  ac.abort(new Error('stop'));
  const qe = await queued;
  assert.ok(qe instanceof Error && qe.message === 'stop', inspect(qe));
  assert.equal(firstSettled, false, 'a queued request fails without waiting for the socket ahead of it');
  assert.ok((await first) instanceof TimeoutError);
  // FIFO: a later request on the freed pool goes out after anything still queued ahead of it.
  assert.deepEqual((await client.post('/ok', '{}')).json, { ok: true });
  assert.equal(s.requests.filter((r) => r.includes('/v1/ok')).length, 2, 'the aborted request was never sent');
});

test('http1: close() waits for in-flight and queued requests, then closes every socket; later posts fail', async (t) => {
  const s = await rawServer((socket) => {
    setTimeout(() => socket.write(answer(200, '{"late":true}')), 60);
  });
  const client = new EngineClient({ endpoint: s.url, connections: 1 });
  t.after(() => s.close());
  const a = client.post('/x', '{}');
  const b = client.post('/x', '{}'); // queued behind a
  await waitFor('the first request to reach the server', () => s.requests.length === 1, 2000, 5);
  let closed = false;
  const closing = client.close().then(() => {
    closed = true;
  });
  assert.deepEqual((await a).json, { late: true });
  assert.equal(closed, false);
  assert.deepEqual((await b).json, { late: true });
  await closing;
  await waitFor('the server to see every socket closed', () => s.open() === 0, 2000, 5);
  await assert.rejects(client.post('/x', '{}'), /closed/);
});

test("http1: an idle pool does not keep the process alive (its sockets are unref'd)", async (t) => {
  // The server would keep the connection for a minute; the child must still exit at once.
  const s = await serve(
    (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{}');
    },
    { keepAliveTimeout: 60_000 },
  );
  t.after(() => s.close());
  const script = `import { EngineClient } from ${JSON.stringify(join(import.meta.dirname, '../../src/engine/client.ts'))};
const c = new EngineClient({ endpoint: ${JSON.stringify(s.url)} });
await c.post('/x', '{}');
process.stdout.write('done');`;
  const t0 = performance.now();
  const out = await new Promise<{ code: unknown; stdout: string }>((resolve) => {
    execFile(
      process.execPath,
      ['--disable-warning=ExperimentalWarning', '--input-type=module', '-e', script],
      { timeout: 10_000 },
      (err, stdout) => {
        resolve({ code: err === null ? 0 : err.code, stdout });
      },
    );
  });
  assert.equal(out.stdout, 'done');
  assert.equal(out.code, 0);
  assert.ok(performance.now() - t0 < 5000, 'exited without waiting for the server to drop the socket');
});

test('http1: the connect timeout covers the TLS handshake', async (t) => {
  // A TCP server that never says a word: the TLS handshake never completes.
  const s = await rawServer(() => {});
  const client = new EngineClient({
    endpoint: `https://127.0.0.1:${s.port}/v1`,
    connections: 1,
    connectTimeoutMs: 100,
    requestTimeoutMs: 5000,
  });
  t.after(async () => {
    await client.close();
    await s.close();
  });
  const t0 = performance.now();
  const err = await client.post('/x', '{}').catch((e: unknown) => e);
  assert.ok(err instanceof ConnectError, inspect(err));
  assert.equal(err.errno, 'ETIMEDOUT');
  assert.match(err.message, /connect timed out/);
  const took = performance.now() - t0;
  assert.ok(took >= 95 && took < 2000, `took ${took}ms`);
});

test('http1: https with a self-signed certificate trusted through NODE_EXTRA_CA_CERTS', (t) => {
  const dir = tempDir('tls');
  const key = join(dir, 'key.pem');
  const cert = join(dir, 'cert.pem');
  const gen = spawnSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-days',
      '2',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=DNS:localhost,IP:127.0.0.1',
      '-keyout',
      key,
      '-out',
      cert,
    ],
    { encoding: 'utf8' },
  );
  if (gen.error !== undefined || gen.status !== 0) {
    t.skip('openssl is not available to make a self-signed certificate');
    return;
  }
  // The CA list is read at startup, so the client runs in a child process.
  const script = `import { createServer } from 'node:https';
import { readFileSync } from 'node:fs';
import { EngineClient } from ${JSON.stringify(join(import.meta.dirname, '../../src/engine/client.ts'))};
let connections = 0;
const server = createServer({ key: readFileSync(${JSON.stringify(key)}), cert: readFileSync(${JSON.stringify(cert)}) }, (req, res) => {
  req.resume();
  req.on('end', () => { res.writeHead(200, { 'content-type': 'application/json' }); res.end(JSON.stringify({ path: req.url, auth: req.headers.authorization })); });
});
server.on('secureConnection', () => { connections++; });
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const { port } = server.address();
const results = [];
for (const host of ['localhost', '127.0.0.1']) {
  const c = new EngineClient({ endpoint: \`https://\${host}:\${port}/v1\`, apiKey: 'k', connections: 1 });
  for (let i = 0; i < 2; i++) results.push((await c.post('/chat/completions', '{}')).json);
  await c.close();
}
server.close();
process.stdout.write(JSON.stringify({ results, connections }));`;
  const run = spawnSync(process.execPath, ['--disable-warning=ExperimentalWarning', '--input-type=module', '-e', script], {
    encoding: 'utf8',
    timeout: 20_000,
    env: { ...process.env, NODE_EXTRA_CA_CERTS: cert },
  });
  assert.equal(run.status, 0, run.stderr);
  const out = JSON.parse(run.stdout) as { results: unknown[]; connections: number };
  assert.equal(out.results.length, 4);
  for (const r of out.results) assert.deepEqual(r, { path: '/v1/chat/completions', auth: 'Bearer k' });
  assert.equal(out.connections, 2, 'one TLS connection per client, reused');
});
