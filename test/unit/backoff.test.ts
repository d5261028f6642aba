/**
 * The one backoff formula (src/backoff.ts) and its users beside the engine's retry decision
 * (test/unit/engine-retry.test.ts has the formula's exact steps): the Kubernetes client's retries
 * wait what the helper says, with the injected random source.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { backoffMs, unitRandom } from '../../src/backoff.ts';
import { KubeClient } from '../../src/k8s/client.ts';

test('backoffMs: the default random source stays within [0, step); unitRandom clamps a bad source', () => {
  for (let i = 0; i < 200; i++) {
    const d = backoffMs(3, { baseMs: 100, capMs: 1000 });
    assert.ok(Number.isInteger(d) && d >= 0 && d < 400, `delay ${d}`);
  }
  assert.equal(
    unitRandom(() => -1),
    0,
  );
  assert.equal(
    unitRandom(() => Number.POSITIVE_INFINITY),
    0,
  );
  assert.ok(unitRandom(() => 2) < 1);
});

test('KubeClient: an idempotent call retried on 503 waits full-jitter steps of 250 ms doubling, from the injected random', async (t) => {
  let hits = 0;
  const server = createServer((_req, res) => {
    hits++;
    if (hits < 3) {
      res.writeHead(503, { 'content-type': 'application/json' });
      res.end('{"kind":"Status","reason":"ServiceUnavailable","message":"busy"}');
    } else {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"ok":true}');
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => server.close());
  const waits: number[] = [];
  const client = new KubeClient(
    {
      server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      namespace: 'default',
      context: undefined,
      source: 'test',
      tls: { insecureSkipVerify: false },
      auth: { kind: 'none' },
    },
    { sleep: async (ms) => void waits.push(ms), random: () => 0.5 },
  );
  t.after(() => client.close());
  assert.deepEqual(await client.call('GET', '/api/v1/namespaces/default/configmaps/x'), { ok: true });
  assert.deepEqual(waits, [backoffMs(1, { baseMs: 250, capMs: 4000 }, () => 0.5), backoffMs(2, { baseMs: 250, capMs: 4000 }, () => 0.5)]);
  assert.deepEqual(waits, [125, 250]);
});
