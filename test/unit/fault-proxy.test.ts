/**
 * test/helpers/fault-proxy.ts: the `503` fault and the per-request random mode (`randomPlan`),
 * which bench h (bench/scenarios/faults.ts) uses. The target is a plain node:http server on
 * loopback that answers every POST 200.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomPlan, startFaultProxy, type Fault, type FaultRequest } from '../helpers/fault-proxy.ts';
import { serve } from '../helpers/http-server.ts';

const req = (n: number, seen = 0): FaultRequest => ({ body: `b${n}`, seen, n });

test('randomPlan faults about `rate` of the requests, every kind, the same draws for the same seed', () => {
  const kinds: Fault[] = ['5xx', '503', '429', 'reset', 'truncate', 'timeout'];
  const a = randomPlan({ rate: 0.05, kinds, seed: 7 });
  const b = randomPlan({ rate: 0.05, kinds, seed: 7 });
  const drawsA = Array.from({ length: 20_000 }, (_, i) => a(req(i)));
  const drawsB = Array.from({ length: 20_000 }, (_, i) => b(req(i)));
  assert.deepEqual(drawsA, drawsB);
  const faults = drawsA.filter((f) => f !== undefined);
  assert.ok(faults.length > 850 && faults.length < 1150, `expected ~1,000 faults in 20,000, got ${faults.length}`);
  for (const k of kinds) assert.ok(faults.filter((f) => f === k).length > 100, `kind ${k} drawn too rarely`);
});

test('randomPlan with firstAttemptsOnly never faults a retry; without it, retries draw too', () => {
  const only = randomPlan({ rate: 0.99, kinds: ['5xx'], seed: 1, firstAttemptsOnly: true });
  assert.equal(only(req(0, 1)), undefined);
  assert.equal(only(req(0, 0)), '5xx');
  const every = randomPlan({ rate: 0.99, kinds: ['5xx'], seed: 1 });
  assert.equal(every(req(0, 3)), '5xx');
});

test('randomPlan rejects a rate outside [0, 1) and an empty kind list', () => {
  assert.throws(() => randomPlan({ rate: 1, kinds: ['5xx'], seed: 1 }), RangeError);
  assert.throws(() => randomPlan({ rate: 0.1, kinds: [], seed: 1 }), RangeError);
});

test('the 503 fault answers 503 without retry-after and without asking the engine', async (t) => {
  let engineHits = 0;
  const engine = await serve((_req, res) => {
    engineHits++;
    res.end('{"ok":true}');
  });
  const proxy = await startFaultProxy(engine.url.replace(/\/v1$/, ''), { plan: () => '503' });
  t.after(async () => {
    await proxy.close();
    await engine.close();
  });
  const res = await fetch(`${proxy.endpoint}/chat/completions`, { method: 'POST', body: '{}' });
  assert.equal(res.status, 503);
  assert.equal(res.headers.get('retry-after'), null);
  assert.match(await res.text(), /fault proxy/);
  assert.equal(engineHits, 0);
  assert.equal(proxy.injected()['503'], 1);
});

test('a proxy with randomPlan answers each POST as drawn: injected() counts what the client saw', async (t) => {
  const engine = await serve((_req, res) => res.end('{"ok":true}'));
  const proxy = await startFaultProxy(engine.url.replace(/\/v1$/, ''), {
    plan: randomPlan({ rate: 0.5, kinds: ['5xx', '503', '429'], seed: 3 }),
  });
  t.after(async () => {
    await proxy.close();
    await engine.close();
  });
  const statuses: number[] = [];
  for (let i = 0; i < 60; i++) {
    const res = await fetch(`${proxy.endpoint}/chat/completions`, { method: 'POST', body: `{"i":${i}}` });
    await res.arrayBuffer();
    statuses.push(res.status);
  }
  const inj = proxy.injected();
  assert.equal(statuses.filter((s) => s === 500).length, inj['5xx']);
  assert.equal(statuses.filter((s) => s === 503).length, inj['503']);
  assert.equal(statuses.filter((s) => s === 429).length, inj['429']);
  assert.equal(statuses.filter((s) => s === 200).length, proxy.forwarded());
  assert.equal(proxy.posts(), 60);
});
