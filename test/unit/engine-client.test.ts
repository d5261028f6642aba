import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { inspect } from 'node:util';
import { EngineClient, rootUrlOf } from '../../src/engine/client.ts';
import {
  BadResponseError,
  ConnectError,
  ContextLengthError,
  HttpError,
  TimeoutError,
  TruncatedResponseError,
} from '../../src/engine/errors.ts';
import { SpecError } from '../../src/errors.ts';
import { classify, retryPolicy } from '../../src/engine/retry.ts';
import { serve } from '../helpers/http-server.ts';

function json(res: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

const KEY = 'sk-test-very-secret-0123456789';

test('post: 200 JSON over a keep-alive pool, with the bearer key and the /v1 path', async (t) => {
  const seen: Array<{ url: string | undefined; auth: string | undefined; type: string | undefined; body: string }> = [];
  const s = await serve((req, res, body) => {
    seen.push({ url: req.url, auth: req.headers.authorization, type: req.headers['content-type'], body });
    json(res, 200, { choices: [{ message: { content: 'hi' } }] });
  });
  const client = new EngineClient({ endpoint: s.url, apiKey: KEY, connections: 1, requestTimeoutMs: 5000 });
  t.after(async () => {
    await client.close();
    await s.close();
  });
  const r1 = await client.post('/chat/completions', '{"model":"m"}');
  const r2 = await client.post('/chat/completions', '{"model":"m"}');
  assert.equal(r1.status, 200);
  assert.deepEqual(r1.json, { choices: [{ message: { content: 'hi' } }] });
  assert.equal(typeof r1.text, 'string');
  assert.ok(r1.latencyMs >= 0 && r1.latencyMs < 5000);
  assert.equal(r2.status, 200);
  assert.deepEqual(seen[0], { url: '/v1/chat/completions', auth: `Bearer ${KEY}`, type: 'application/json', body: '{"model":"m"}' });
  assert.equal(s.connections(), 1, 'sequential requests reuse one kept-alive connection');
});

test('post: 500 → HttpError E_HTTP_5XX with a body excerpt; 400 context → ContextLengthError', async (t) => {
  const s = await serve((req, res) => {
    if (req.url === '/v1/ctx')
      json(res, 400, {
        error: {
          code: 400,
          message: 'request (9000 tokens) exceeds the available context size (2048 tokens), try increasing it',
          type: 'exceed_context_size_error',
        },
      });
    else json(res, 500, { error: { message: 'CUDA out of memory' } });
  });
  const client = new EngineClient({ endpoint: s.url });
  t.after(async () => {
    await client.close();
    await s.close();
  });
  const err = await client.post('/chat/completions', '{}').catch((e: unknown) => e);
  assert.ok(err instanceof HttpError);
  assert.equal(err.code, 'E_HTTP_5XX');
  assert.equal(err.status, 500);
  assert.match(err.message, /CUDA out of memory/);
  assert.equal(classify(err, 1, retryPolicy(), () => 0).retry, true);
  const ctx = await client.post('/ctx', '{}').catch((e: unknown) => e);
  assert.ok(ctx instanceof ContextLengthError);
  assert.equal(ctx.code, 'E_CONTEXT_LENGTH');
  assert.equal(classify(ctx, 1, retryPolicy(), () => 0).retry, false);
});

test('post: 429 with retry-after → HttpError carrying it; classify waits that long', async (t) => {
  const s = await serve((_req, res) => json(res, 429, { error: 'slow down' }, { 'retry-after': '2' }));
  const client = new EngineClient({ endpoint: s.url });
  t.after(async () => {
    await client.close();
    await s.close();
  });
  const err = await client.post('/completions', '{}').catch((e: unknown) => e);
  assert.ok(err instanceof HttpError);
  assert.equal(err.status, 429);
  assert.equal(err.code, 'E_HTTP_4XX');
  assert.equal(err.retryAfter, '2');
  assert.deepEqual({ ...classify(err, 1, retryPolicy(), () => 0) }, { retry: true, delayMs: 2000, outage: false });
});

test('post: a socket closed mid-body and a short body are truncated responses; a whole body that is not JSON is a bad response', async (t) => {
  const s = await serve((req, res) => {
    if (req.url === '/v1/cut-length') {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '1000' });
      res.write('{"choices":[{"message":');
      setImmediate(() => res.socket?.destroy());
    } else if (req.url === '/v1/cut-chunked') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"choices":[');
      setImmediate(() => res.socket?.destroy());
    } else {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"choices":[{"mess');
    }
  });
  const client = new EngineClient({ endpoint: s.url, requestTimeoutMs: 5000 });
  t.after(async () => {
    await client.close();
    await s.close();
  });
  for (const path of ['/cut-length', '/cut-chunked']) {
    const err = await client.post(path, '{}').catch((e: unknown) => e);
    assert.ok(err instanceof TruncatedResponseError, `${path}: ${inspect(err)}`);
    assert.equal(err.code, 'E_RESPONSE_TRUNCATED');
    assert.equal(classify(err, 1, retryPolicy(), () => 0).retry, true);
  }
  const bad = await client.post('/bad-json', '{}').catch((e: unknown) => e);
  assert.ok(bad instanceof BadResponseError, inspect(bad));
  assert.equal(bad.code, 'E_BAD_RESPONSE');
  assert.match(bad.message, /a complete body that is not JSON/);
  assert.equal(classify(bad, 1, retryPolicy(), () => 0).retry, true);
});

test('post: a server that never answers, or stalls mid-body → TimeoutError after requestTimeoutMs', async (t) => {
  const s = await serve((req, res) => {
    if (req.url !== '/v1/stall-body') return; // never answers
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': '100' });
    res.write('{"choices":'); // then stalls
  });
  const client = new EngineClient({ endpoint: s.url, requestTimeoutMs: 150 });
  t.after(async () => {
    await client.close();
    await s.close();
  });
  const t0 = performance.now();
  const err = await client.post('/chat/completions', '{}').catch((e: unknown) => e);
  const took = performance.now() - t0;
  assert.ok(err instanceof TimeoutError, inspect(err));
  assert.equal(err.code, 'E_TIMEOUT');
  assert.ok(took >= 140 && took < 3000, `took ${took}ms`);
  // A per-call timeout overrides the client's.
  const err2 = await client.post('/x', '{}', { timeoutMs: 50 }).catch((e: unknown) => e);
  assert.ok(err2 instanceof TimeoutError);
  assert.equal(err2.timeoutMs, 50);
  // Headers arrived but the body stalls: still a timeout, not a truncation.
  const err3 = await client.post('/stall-body', '{}').catch((e: unknown) => e);
  assert.ok(err3 instanceof TimeoutError, inspect(err3));
});

test('post: connection refused → ConnectError flagged as an outage', async () => {
  const s = await serve(() => {});
  await s.close(); // the port is now closed
  const client = new EngineClient({ endpoint: s.url, apiKey: KEY });
  try {
    const err = await client.post('/chat/completions', '{}').catch((e: unknown) => e);
    assert.ok(err instanceof ConnectError, inspect(err));
    assert.equal(err.code, 'E_CONNECT');
    assert.equal(err.errno, 'ECONNREFUSED');
    assert.match(err.message, new RegExp(`127\\.0\\.0\\.1:${s.port}.*connection refused`));
    assert.equal(classify(err, 1, retryPolicy(), () => 0).outage, true);
    assert.ok(!inspect(err, { depth: 10 }).includes(KEY));
  } finally {
    await client.close();
  }
});

test('post: the socket closed before any response → ConnectError, retried but not an outage', async (t) => {
  const s = await serve((_req, res) => res.socket?.destroy());
  const client = new EngineClient({ endpoint: s.url });
  t.after(async () => {
    await client.close();
    await s.close();
  });
  const err = await client.post('/chat/completions', '{}').catch((e: unknown) => e);
  assert.ok(err instanceof ConnectError, inspect(err));
  const d = classify(err, 1, retryPolicy(), () => 0);
  assert.equal(d.retry, true);
  assert.equal(d.outage, false);
});

test('post: an aborted signal rejects with its reason', async (t) => {
  const s = await serve(() => {});
  const client = new EngineClient({ endpoint: s.url, requestTimeoutMs: 10_000 });
  t.after(async () => {
    await client.close();
    await s.close();
  });
  const ac = new AbortController();
  const pending = client.post('/chat/completions', '{}', ac.signal).catch((e: unknown) => e);
  setImmediate(() => ac.abort(new Error('stop now')));
  const err = await pending;
  assert.ok(err instanceof Error);
  assert.equal(err.message, 'stop now');
  const pre = AbortSignal.abort(new Error('already'));
  await assert.rejects(client.post('/x', '{}', { signal: pre }), /already/);
});

test('the API key never appears in errors or log lines, even when the engine echoes it', async (t) => {
  const s = await serve((req, res) => {
    const auth = req.headers.authorization ?? '';
    if (req.url === '/v1/hang') return;
    json(res, req.url === '/v1/401' ? 401 : 500, { error: { message: `invalid key ${auth}` } });
  });
  const lines: string[] = [];
  const logger = { info: (m: string) => lines.push(m), warn: (m: string) => lines.push(m), debug: (m: string) => lines.push(m) };
  const client = new EngineClient({ endpoint: s.url, apiKey: KEY, requestTimeoutMs: 100, logger });
  t.after(async () => {
    await client.close();
    await s.close();
  });
  const errs = [
    await client.post('/401', '{}').catch((e: unknown) => e),
    await client.post('/500', '{}').catch((e: unknown) => e),
    await client.post('/hang', '{}').catch((e: unknown) => e),
  ];
  assert.ok(errs[0] instanceof HttpError && errs[0].status === 401);
  assert.match((errs[0] as Error).message, /invalid key Bearer \[REDACTED\]/);
  assert.ok(errs[2] instanceof TimeoutError);
  for (const e of errs) {
    const shown = `${String(e)} ${inspect(e, { depth: 10 })} ${JSON.stringify(e)}`;
    assert.ok(!shown.includes(KEY), `key leaked: ${shown}`);
  }
  assert.ok(lines.length >= 1, 'failed attempts are logged at debug level');
  assert.ok(!lines.join('\n').includes(KEY));
  assert.ok(!inspect(client, { depth: 10 }).includes(KEY), 'the key is a private field');
});

test('get: /health and /metrics live at the server root and do not queue behind generation', async (t) => {
  const s = await serve((req, res) => {
    if (req.url === '/health') return json(res, 503, { error: { code: 503, message: 'Loading model', type: 'unavailable_error' } });
    if (req.url === '/metrics') {
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
      return res.end('llamacpp:requests_processing 3\n');
    }
    // /v1/chat/completions: hold the only work connection open
  });
  const client = new EngineClient({ endpoint: `${s.url}/`, connections: 1, requestTimeoutMs: 10_000 });
  const ac = new AbortController();
  t.after(async () => {
    ac.abort();
    await client.close();
    await s.close();
  });
  const busy = client.post('/chat/completions', '{}', ac.signal).catch(() => undefined);
  const health = await client.get('/health');
  assert.equal(health.status, 503);
  assert.deepEqual(health.json, { error: { code: 503, message: 'Loading model', type: 'unavailable_error' } });
  const metrics = await client.get('/metrics');
  assert.equal(metrics.status, 200);
  assert.equal(metrics.text, 'llamacpp:requests_processing 3\n');
  assert.equal(metrics.json, undefined);
  ac.abort();
  await busy;
});

test('options are validated up front; the root URL drops /v1', () => {
  assert.equal(rootUrlOf('http://127.0.0.1:8080/v1'), 'http://127.0.0.1:8080');
  assert.equal(rootUrlOf('http://h:1/v1/'), 'http://h:1');
  assert.equal(rootUrlOf('https://api.example.com/openai/v1'), 'https://api.example.com/openai');
  assert.equal(rootUrlOf('http://h:1'), 'http://h:1');
  assert.throws(() => new EngineClient({ endpoint: 'localhost:8080' }), /`endpoint`.*got `localhost:8080`/);
  assert.throws(() => new EngineClient({ endpoint: 'ftp://h/v1' }), /got `ftp:\/\/h\/v1`/);
  const creds = (() => {
    try {
      new EngineClient({ endpoint: 'http://u:hunter2@h/v1' });
    } catch (e) {
      return e as Error;
    }
  })();
  assert.ok(creds instanceof SpecError);
  assert.doesNotMatch(creds.message, /hunter2/);
  assert.throws(() => new EngineClient({ endpoint: 'http://h/v1', connections: 0 }), /`connections`.*got `0` \(number\)/);
  assert.throws(() => new EngineClient({ endpoint: 'http://h/v1', requestTimeoutMs: -1 }), /`requestTimeoutMs`/);
  assert.throws(() => new EngineClient({ endpoint: 'http://h/v1', apiKey: 'a\nb' }), /`apiKey`/);
});
