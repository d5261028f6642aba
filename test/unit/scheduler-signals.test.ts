/**
 * scheduler/signals.ts: `retryReason`, the one mapping from a failed attempt to why it was sent
 * again (the summary's `retries_by_reason`), built on `completionKind`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { completionKind, retryReason } from '../../src/scheduler/signals.ts';

/** The reason of a failed attempt with this status, error code and rate-limit flag. */
const reasonOf = (status: number | undefined, code: string, rateLimited = false, outage = false): string =>
  retryReason({ kind: completionKind({ ok: false, status, code, rateLimited }), code, outage });

test('retryReason: overload, rate limits and timeouts follow completionKind', () => {
  assert.equal(reasonOf(429, 'E_HTTP_4XX'), 'overload', 'a 429 without rate-limit headers');
  assert.equal(reasonOf(503, 'E_HTTP_5XX'), 'overload', 'a 503 is overload, not a 5xx fault');
  assert.equal(reasonOf(429, 'E_HTTP_4XX', true), 'rate_limit', 'a 429 with rate-limit headers');
  assert.equal(reasonOf(undefined, 'E_TIMEOUT'), 'timeout');
  assert.equal(reasonOf(504, 'E_HTTP_5XX'), 'timeout');
  assert.equal(reasonOf(408, 'E_HTTP_4XX'), 'timeout');
});

test('retryReason: faults by error code', () => {
  assert.equal(reasonOf(500, 'E_HTTP_5XX'), 'http_5xx');
  assert.equal(reasonOf(502, 'E_HTTP_5XX'), 'http_5xx');
  assert.equal(reasonOf(409, 'E_HTTP_4XX'), 'http_4xx');
  assert.equal(reasonOf(undefined, 'E_CONNECT'), 'connection', 'a reset, not an outage');
  assert.equal(reasonOf(undefined, 'E_RESPONSE_TRUNCATED'), 'truncated');
  assert.equal(reasonOf(undefined, 'E_BAD_RESPONSE'), 'bad_response');
  assert.equal(reasonOf(undefined, 'E_RESPONSE_TOO_LARGE'), 'bad_response');
  assert.equal(reasonOf(undefined, 'E_SOMETHING_NEW'), 'other');
});

test('retryReason: an outage requeue wins over what the attempt looked like', () => {
  assert.equal(reasonOf(undefined, 'E_CONNECT', false, true), 'outage');
  assert.equal(reasonOf(503, 'E_HTTP_5XX', false, true), 'outage');
});
