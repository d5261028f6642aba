import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  BadResponseError,
  ConnectError,
  ContextLengthError,
  EngineOutageError,
  HttpError,
  TimeoutError,
  TruncatedResponseError,
  errorFromStatus,
} from '../../src/engine/errors.ts';
import { classify, parseRetryAfter, retryPolicy } from '../../src/engine/retry.ts';
import { backoffMs } from '../../src/backoff.ts';
import { SparkinferError } from '../../src/errors.ts';

const policy = retryPolicy({ maxRetries: 4 });
const half = (): number => 0.5;
const NOW = Date.parse('2025-01-01T00:00:00Z');

test('errorFromStatus maps status classes to codes', () => {
  const cases: Array<[number, string]> = [
    [400, 'E_HTTP_4XX'],
    [401, 'E_HTTP_4XX'],
    [404, 'E_HTTP_4XX'],
    [422, 'E_HTTP_4XX'],
    [429, 'E_HTTP_4XX'],
    [500, 'E_HTTP_5XX'],
    [503, 'E_HTTP_5XX'],
    [599, 'E_HTTP_5XX'],
    [302, 'E_HTTP_4XX'],
  ];
  for (const [status, code] of cases) {
    const e = errorFromStatus(status, 'oops');
    assert.ok(e instanceof HttpError, `${status}`);
    assert.ok(e instanceof SparkinferError);
    assert.equal(e.code, code, `${status}`);
    assert.equal(e.status, status);
    assert.match(e.message, new RegExp(`HTTP ${status}`));
  }
  assert.throws(() => errorFromStatus(200, ''), { code: 'E_RUNTIME' });
  assert.throws(() => errorFromStatus(42, ''), /got `42`/);
});

test('errorFromStatus recognises context-length bodies of llama-server and vLLM', () => {
  const llama = JSON.stringify({
    error: {
      code: 400,
      message: 'request (4105 tokens) exceeds the available context size (2048 tokens), try increasing it',
      type: 'exceed_context_size_error',
      n_prompt_tokens: 4105,
      n_ctx: 2048,
    },
  });
  const vllm = JSON.stringify({
    object: 'error',
    message:
      "This model's maximum context length is 2048 tokens. However, you requested 4200 tokens (4000 in the messages, 200 in the completion).",
    type: 'BadRequestError',
    param: null,
    code: 400,
  });
  const vllmNew = JSON.stringify({
    error: {
      message: 'The decoder prompt (length 5000) is longer than the maximum model length of 4096.',
      type: 'BadRequestError',
      code: 400,
    },
  });
  for (const body of [llama, vllm, vllmNew]) {
    const e = errorFromStatus(400, body);
    assert.ok(e instanceof ContextLengthError, body);
    assert.equal(e.code, 'E_CONTEXT_LENGTH');
  }
  // The same words on a 500 are the engine's failure, not the row's.
  assert.equal(errorFromStatus(500, llama).code, 'E_HTTP_5XX');
  assert.equal(errorFromStatus(400, '{"error":{"message":"bad temperature"}}').code, 'E_HTTP_4XX');
});

test('errorFromStatus cuts long bodies to a one-line excerpt and keeps retry-after', () => {
  const e = errorFromStatus(503, `<html>\n${'x'.repeat(5000)}\n</html>`, '7');
  assert.ok(e instanceof HttpError);
  assert.ok(e.message.length < 400);
  assert.doesNotMatch(e.message, /\n/);
  assert.equal(e.retryAfter, '7');
});

test('classify: the retry table', () => {
  const rows: Array<[string, unknown, boolean, boolean]> = [
    // name, outcome, retry, outage
    ['408', errorFromStatus(408, ''), true, false],
    ['409', errorFromStatus(409, ''), true, false],
    ['429', errorFromStatus(429, ''), true, false],
    ['500', errorFromStatus(500, ''), true, false],
    ['502', errorFromStatus(502, ''), true, false],
    ['503', errorFromStatus(503, ''), true, false],
    ['504', errorFromStatus(504, ''), true, false],
    ['501', errorFromStatus(501, ''), false, false],
    ['400', errorFromStatus(400, 'bad'), false, false],
    ['401', errorFromStatus(401, ''), false, false],
    ['404', errorFromStatus(404, ''), false, false],
    ['413', errorFromStatus(413, ''), false, false],
    ['422', errorFromStatus(422, ''), false, false],
    ['context', errorFromStatus(400, 'maximum context length is 10'), false, false],
    ['refused', new ConnectError('ECONNREFUSED', 'x'), true, true],
    ['unreachable', new ConnectError('EHOSTUNREACH', 'x'), true, true],
    ['reset', new ConnectError('ECONNRESET', 'x'), true, false],
    ['socket', new ConnectError('UND_ERR_SOCKET', 'x'), true, false],
    ['timeout', new TimeoutError('headers', 10), true, false],
    ['truncated', new TruncatedResponseError('x'), true, false],
    ['bad shape', new BadResponseError('x'), true, false],
    ['outage', new EngineOutageError('http://h/health', 'connection refused', 1000), false, false],
    ['abort', new DOMException('aborted', 'AbortError'), false, false],
    ['bug', new TypeError('x is undefined'), false, false],
    ['non-error', 'weird', false, false],
  ];
  for (const [name, outcome, retry, outage] of rows) {
    const d = classify(outcome, 1, policy, half, NOW);
    assert.equal(d.retry, retry, `${name}: retry`);
    assert.equal(d.outage, outage, `${name}: outage`);
    if (!retry) assert.equal(d.delayMs, 0, `${name}: delay`);
  }
});

test('classify stops after maxRetries, except for outages', () => {
  const e = errorFromStatus(500, '');
  assert.equal(classify(e, 4, policy, half, NOW).retry, true);
  assert.equal(classify(e, 5, policy, half, NOW).retry, false);
  assert.equal(classify(e, 1, retryPolicy({ maxRetries: 0 }), half, NOW).retry, false);
  const refused = new ConnectError('ECONNREFUSED', 'x');
  assert.deepEqual({ ...classify(refused, 50, policy, () => 0, NOW) }, { retry: true, delayMs: 0, outage: true });
  assert.throws(() => classify(e, 0, policy, half, NOW), /`attempt`.*got `0`/);
});

test('backoff doubles, is capped, and full jitter stays within [0, step)', () => {
  const p = retryPolicy({ baseMs: 250, capMs: 30_000 });
  const top = (): number => 0.999999;
  assert.equal(
    backoffMs(1, p, () => 0),
    0,
  );
  assert.equal(backoffMs(1, p, top), 249);
  assert.equal(backoffMs(2, p, top), 499);
  assert.equal(backoffMs(3, p, top), 999);
  assert.equal(backoffMs(8, p, top), 29_999); // 250 * 128 = 32_000 → capped
  assert.equal(backoffMs(1000, p, top), 29_999);
  assert.equal(backoffMs(3, p, half), 500);
  // A broken random source can't produce negative or oversized waits.
  assert.equal(
    backoffMs(3, p, () => -5),
    0,
  );
  assert.equal(
    backoffMs(3, p, () => 7),
    999,
  );
  assert.equal(
    backoffMs(3, p, () => Number.NaN),
    0,
  );
  for (let i = 0; i < 200; i++) {
    const d = classify(new TimeoutError('request', 1), 6, retryPolicy({ maxRetries: 10 }), Math.random, NOW).delayMs;
    assert.ok(d >= 0 && d < 8000, `delay ${d}`);
  }
});

test('retry-after in seconds and as an HTTP date replaces backoff; huge values are capped', () => {
  const secs = classify(errorFromStatus(429, '', '3'), 1, policy, () => 0, NOW);
  assert.deepEqual({ ...secs }, { retry: true, delayMs: 3000, outage: false });
  // Jitter adds at most baseMs on top of retry-after.
  assert.equal(classify(errorFromStatus(503, '', '3'), 1, policy, half, NOW).delayMs, 3125);
  const date = new Date(NOW + 45_000).toUTCString();
  assert.equal(classify(errorFromStatus(503, '', date), 1, policy, () => 0, NOW).delayMs, 45_000);
  // Above capMs (30s) but within retryAfterCapMs (120s): honoured.
  assert.equal(classify(errorFromStatus(503, '', '90'), 1, policy, () => 0, NOW).delayMs, 90_000);
  assert.equal(classify(errorFromStatus(503, '', '86400'), 1, policy, () => 0, NOW).delayMs, 120_000);
  // Garbage falls back to backoff.
  assert.equal(classify(errorFromStatus(503, '', 'soon'), 2, policy, half, NOW).delayMs, 250);
  // A retry-after on a non-retryable status does not make it retryable.
  assert.equal(classify(errorFromStatus(400, '', '1'), 1, policy, half, NOW).retry, false);
});

test('parseRetryAfter', () => {
  assert.equal(parseRetryAfter('0', NOW), 0);
  assert.equal(parseRetryAfter(' 12 ', NOW), 12_000);
  assert.equal(parseRetryAfter('1.5', NOW), 1500);
  assert.equal(parseRetryAfter('Wed, 01 Jan 2025 00:00:10 GMT', NOW), 10_000);
  assert.equal(parseRetryAfter('Tue, 31 Dec 2024 23:00:00 GMT', NOW), 0); // in the past
  assert.equal(parseRetryAfter(undefined, NOW), undefined);
  assert.equal(parseRetryAfter('', NOW), undefined);
  assert.equal(parseRetryAfter('-1', NOW), undefined);
  assert.equal(parseRetryAfter('2025', NOW), 2_025_000);
  assert.equal(parseRetryAfter('not a date', NOW), undefined);
});

test('retryPolicy validates its options', () => {
  assert.throws(() => retryPolicy({ maxRetries: -1 }), /`maxRetries`.*got `-1`/);
  assert.throws(() => retryPolicy({ maxRetries: 1.5 }), /`maxRetries`/);
  assert.throws(() => retryPolicy({ baseMs: Number.NaN }), /`baseMs`/);
  assert.throws(() => retryPolicy({ baseMs: 100, capMs: 10 }), /`capMs`/);
  assert.deepEqual({ ...retryPolicy() }, { baseMs: 250, capMs: 30_000, maxRetries: 4, retryAfterCapMs: 120_000 });
});
