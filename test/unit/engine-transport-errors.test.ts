/**
 * mapTransportError (src/engine/exchange.ts): Node's system error codes and undici's become engine
 * errors; sparkinfer's own errors, whose codes also start with `E` (`E_TIMEOUT`, `E_RUNTIME`), pass
 * through with their class and code, in either phase.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isSystemErrorCode, mapTransportError } from '../../src/engine/exchange.ts';
import { BadResponseError, ConnectError, RequestAbortedError, TimeoutError, TruncatedResponseError } from '../../src/engine/errors.ts';
import { RuntimeFailure, SpecError } from '../../src/errors.ts';

const at = (phase: 'headers' | 'body') => ({ phase, url: 'http://h:1/v1/chat/completions', timeoutMs: 1000, redact: (t: string) => t });
const sys = (code: string): Error => Object.assign(new Error(`${code}: boom`), { code });

test("Node's system error codes, and only those, are system codes", () => {
  for (const c of ['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH']) {
    assert.ok(isSystemErrorCode(c), c);
  }
  for (const c of ['E_TIMEOUT', 'E_RUNTIME', 'E_CONNECT', 'E_', 'E', 'Econnreset', 'UND_ERR_SOCKET', 'HPE_INVALID_CONSTANT']) {
    assert.ok(!isSystemErrorCode(c), c);
  }
});

test('system and undici codes become connect errors before the head, truncations in the body', () => {
  const refused = mapTransportError(sys('ECONNREFUSED'), at('headers'));
  assert.ok(refused instanceof ConnectError);
  assert.equal(refused.errno, 'ECONNREFUSED');
  assert.match(refused.message, /connection refused \(ECONNREFUSED\)/);
  assert.ok(mapTransportError(sys('EAI_AGAIN'), at('headers')) instanceof ConnectError);
  assert.ok(mapTransportError(sys('UND_ERR_SOCKET'), at('headers')) instanceof ConnectError);
  assert.ok(mapTransportError(sys('ECONNRESET'), at('body')) instanceof TruncatedResponseError);
  assert.ok(mapTransportError(sys('HPE_INVALID_CONSTANT'), at('headers')) instanceof BadResponseError);
  assert.ok(mapTransportError(sys('UND_ERR_HEADERS_TIMEOUT'), at('headers')) instanceof TimeoutError);
});

test('our own errors keep their class and code, in either phase', () => {
  for (const phase of ['headers', 'body'] as const) {
    for (const own of [
      new TimeoutError('request', 1000),
      new RuntimeFailure('no'),
      new SpecError('bad'),
      new RequestAbortedError('the engine client is closed'),
    ]) {
      assert.equal(mapTransportError(own, at(phase)), own, `${own.name} in the ${phase}`);
    }
  }
  // A code of ours on a plain object (not a SparkinferError) is not a system code either.
  const plain = Object.assign(new Error('x'), { code: 'E_TIMEOUT' });
  assert.equal(mapTransportError(plain, at('headers')), plain);
});
