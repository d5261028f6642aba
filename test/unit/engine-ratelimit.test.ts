/**
 * Rate limits: the headers' parsing (engine/ratelimit.ts), the client exposing them on success and
 * failure, and the rate gate (scheduler/rate.ts) on an injected clock: holds, pacing, AIMD, and
 * several gates sharing one simulated limit.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { isRateLimited, mayCarryRateInfo, parseDuration, rateInfoOf } from '../../src/engine/ratelimit.ts';
import { EngineClient } from '../../src/engine/client.ts';
import { HttpError } from '../../src/engine/errors.ts';
import { RateGate, roomAfterMs } from '../../src/scheduler/rate.ts';
import { serve } from '../helpers/http-server.ts';

const NOW = Date.parse('2026-01-01T00:00:00Z');

test('parseDuration: OpenAI-style durations and plain seconds; anything else undefined', () => {
  assert.equal(parseDuration('1s'), 1000);
  assert.equal(parseDuration('6m0s'), 360_000);
  assert.equal(parseDuration('20ms'), 20);
  assert.equal(parseDuration('0.5s'), 500);
  assert.equal(parseDuration('1m30.5s'), 90_500);
  assert.equal(parseDuration('1h2m3s'), 3_723_000);
  assert.equal(parseDuration('12'), 12_000);
  assert.equal(parseDuration(' 0.25 '), 250);
  for (const bad of ['', 's', '1x', '-1s', '1s garbage', 'abc', '1.s', '1e3', undefined]) {
    assert.equal(parseDuration(bad), undefined, String(bad));
  }
});

test('rateInfoOf: retry-after-ms wins over retry-after; both x-ratelimit triples; garbage ignored', () => {
  const info = rateInfoOf(
    {
      'retry-after-ms': '250',
      'retry-after': '3',
      'x-ratelimit-limit-requests': '60',
      'x-ratelimit-remaining-requests': '0',
      'x-ratelimit-reset-requests': '1m0s',
      'x-ratelimit-limit-tokens': '150000',
      'x-ratelimit-remaining-tokens': '149000',
      'x-ratelimit-reset-tokens': '400ms',
    },
    NOW,
  );
  assert.deepEqual(info, {
    retryAfterMs: 250,
    requests: { limit: 60, remaining: 0, resetMs: 60_000 },
    tokens: { limit: 150_000, remaining: 149_000, resetMs: 400 },
  });
  assert.deepEqual(rateInfoOf({ 'retry-after': '2' }, NOW), { retryAfterMs: 2000 });
  assert.deepEqual(rateInfoOf({ 'retry-after': new Date(NOW + 5000).toUTCString() }, NOW), { retryAfterMs: 5000 });
  // Garbage in one header drops that header only; nothing that parses: undefined.
  assert.deepEqual(rateInfoOf({ 'retry-after-ms': 'soon', 'retry-after': '1', 'x-ratelimit-remaining-requests': 'lots' }, NOW), {
    retryAfterMs: 1000,
  });
  assert.deepEqual(rateInfoOf({ 'x-ratelimit-reset-requests': 'tomorrow', 'x-ratelimit-remaining-requests': '5' }, NOW), {
    requests: { remaining: 5 },
  });
  assert.equal(
    rateInfoOf({ 'retry-after': 'never', 'x-ratelimit-limit-requests': '-1', 'content-type': 'application/json' }, NOW),
    undefined,
  );
  assert.equal(rateInfoOf({}, NOW), undefined);
});

test('mayCarryRateInfo: the cheap scan sees the headers in any case, and not their absence', () => {
  assert.equal(mayCarryRateInfo('Content-Type: application/json\r\nContent-Length: 10'), false);
  assert.equal(mayCarryRateInfo('Content-Type: application/json\r\nX-RateLimit-Remaining-Requests: 3'), true);
  assert.equal(mayCarryRateInfo('Retry-After: 1'), true);
});

test('isRateLimited: a 429 or 503 with rate-limit headers; a plain 429 or a 500 with them is not', () => {
  assert.equal(isRateLimited(429, { retryAfterMs: 100 }), true);
  assert.equal(isRateLimited(503, { requests: { remaining: 0 } }), true);
  assert.equal(isRateLimited(429, undefined), false);
  assert.equal(isRateLimited(500, { retryAfterMs: 100 }), false);
  // A gateway's x-ratelimit-* on every answer: a 503 with budget left is an overloaded backend.
  assert.equal(isRateLimited(503, { requests: { limit: 100, remaining: 40, resetMs: 1000 } }), false);
  assert.equal(isRateLimited(503, { retryAfterMs: 2000 }), true);
  assert.equal(isRateLimited(429, { requests: { limit: 100, remaining: 40, resetMs: 1000 } }), true);
});

function json(res: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

test('client: the rate-limit headers on a 200 (response.rateLimit) and on a 429 (HttpError.rateLimit); none without them', async (t) => {
  let n = 0;
  const s = await serve((_req, res) => {
    n++;
    const limits = { 'X-RateLimit-Limit-Requests': '4', 'X-RateLimit-Remaining-Requests': '0', 'X-RateLimit-Reset-Requests': '250ms' };
    if (n === 1) json(res, 200, { choices: [] }, limits);
    else if (n === 2)
      json(res, 429, { error: { type: 'rate_limit_exceeded' } }, { 'retry-after-ms': '180', 'retry-after': '1', ...limits });
    else json(res, 200, { choices: [] });
  });
  const client = new EngineClient({ endpoint: s.url });
  t.after(async () => {
    await client.close();
    await s.close();
  });
  const ok = await client.post('/chat/completions', '{}');
  assert.deepEqual(ok.rateLimit, { requests: { limit: 4, remaining: 0, resetMs: 250 } });
  const err = await client.post('/chat/completions', '{}').then(
    () => assert.fail('expected a 429'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof HttpError);
  assert.equal(err.status, 429);
  assert.deepEqual(err.rateLimit, { retryAfterMs: 180, requests: { limit: 4, remaining: 0, resetMs: 250 } });
  const plain = await client.post('/chat/completions', '{}');
  assert.equal(plain.rateLimit, undefined);
});

test('roomAfterMs: now when remaining covers the need; else from the refill rate or the reset share', () => {
  assert.equal(roomAfterMs({ limit: 4, remaining: 2, resetMs: 500 }, 1), 0);
  // 4 per second refill: the bucket is full in 900 ms, so one request fits after 900 − 750 = 150 ms.
  assert.equal(roomAfterMs({ limit: 4, remaining: 0, resetMs: 900 }, 1, 4), 150);
  assert.equal(roomAfterMs({ limit: 4, remaining: 0, resetMs: 1000 }, 1), 250);
  assert.equal(roomAfterMs({ remaining: 0, resetMs: 700 }, 1), 700);
  assert.equal(roomAfterMs({ remaining: 0 }, 1), undefined);
});

/** Gate answers for tests. */
const okAnswer = (rateLimit?: object) => ({ ok: true, ...(rateLimit !== undefined ? { rateLimit } : {}) });
const refusal = (rateLimit: object) => ({ ok: false, rateLimit });

test('gate idle: no limit seen or configured, it never holds and answers without headers change nothing', () => {
  const g = new RateGate();
  for (let t = 0; t < 1000; t++) {
    assert.equal(g.delayMs(t), 0);
    g.onSend(t, '{}');
    g.onAnswer(t, '{}', false, okAnswer());
  }
  assert.equal(g.sendRate(), Infinity);
});

test('gate: rate-limited refusals hold all dispatch for the retry-after plus a little jitter, bounded by the cap; scattered ones with only a retry time hold nothing', () => {
  // 2 % of answers refused, a retry time only (random 429s): faults, never a hold.
  const f = new RateGate({ random: () => 0 });
  for (let t = 0; t < 20_000; t += 10) f.onAnswer(t, '{}', t % 500 === 0, t % 500 === 0 ? refusal({ retryAfterMs: 1000 }) : okAnswer());
  assert.equal(f.delayMs(20_000), 0);
  assert.equal(f.sendRate(), Number.POSITIVE_INFINITY);
  const g = new RateGate({ random: () => 0.5, holdCapMs: 5000 });
  g.onSend(0, '{}');
  g.onAnswer(4, '{}', true, refusal({ retryAfterMs: 400 }));
  g.onAnswer(5, '{}', true, refusal({ retryAfterMs: 400 }));
  assert.equal(g.delayMs(5), 0, 'refusals naming only a retry time, not yet a pattern: their rows wait, the others go on');
  g.onAnswer(10, '{}', true, refusal({ retryAfterMs: 400 }));
  const d = g.delayMs(10);
  assert.ok(d >= 400 && d <= 400 + 400 / 10 + 20, `held ${d} ms`);
  assert.ok(g.delayMs(10 + d) === 0);
  const capped = new RateGate({ random: () => 0, holdCapMs: 5000 });
  for (let i = 0; i < 3; i++) capped.onAnswer(0, '{}', true, refusal({ retryAfterMs: 86_400_000 }));
  assert.ok(capped.delayMs(0) <= 5000 + 520 && capped.delayMs(0) >= 5000, `cut to the cap: ${capped.delayMs(0)}`);
  // Without a retry time, the headers' reset says when room comes back.
  const reset = new RateGate({ random: () => 0 });
  reset.onAnswer(0, '{}', true, refusal({ requests: { limit: 10, remaining: 0, resetMs: 2000 } }));
  assert.equal(reset.delayMs(0), 200);
});

test('gate: remaining-requests 0 holds dispatch before any refusal, until room for one comes back', () => {
  const g = new RateGate({ random: () => 0 });
  g.onSend(0, '{}');
  g.onAnswer(100, '{}', false, okAnswer({ requests: { limit: 60, remaining: 0, resetMs: 60_000 } }));
  const d = g.delayMs(100);
  assert.ok(d > 0 && d <= 1000, `held ${d} ms: one request's room of a 60/min limit`);
  // Remaining tokens below the next request's estimate hold too.
  const t = new RateGate({ random: () => 0, tokensPerMinute: 600_000, maxTokens: 100 });
  t.onSend(0, 'x'.repeat(400));
  t.onAnswer(5, 'x'.repeat(400), false, okAnswer({ tokens: { limit: 10_000, remaining: 50, resetMs: 1000 } }));
  assert.ok(t.delayMs(5) > 0, 'held for tokens');
});

test('gate: pacing from the configured limit, divided among the workers sharing it', () => {
  let workers = 1;
  const g = new RateGate({ requestsPerMinute: 120, workers: () => workers });
  // 2 requests/s: sends are 500 ms apart.
  let now = 0;
  const sentAt: number[] = [];
  while (sentAt.length < 5) {
    now += g.delayMs(now);
    sentAt.push(now);
    g.onSend(now, '{}');
  }
  assert.deepEqual(sentAt, [0, 500, 1000, 1500, 2000]);
  workers = 4; // 0.5 requests/s each: the next send after this one waits 2 s
  now += g.delayMs(now);
  g.onSend(now, '{}');
  assert.equal(g.delayMs(now), 2000);
});

test('gate: token pacing estimates chars/4 + max_tokens, then corrects by the usage that comes back', () => {
  const g = new RateGate({ tokensPerMinute: 6000, maxTokens: 50 }); // 100 tokens/s
  const body = 'x'.repeat(200); // 50 + 50 = 100 tokens estimated: one send a second
  g.onSend(0, body);
  assert.equal(g.delayMs(0), 1000);
  for (let i = 0; i < 30; i++) g.onAnswer(1, body, false, { ok: true, fields: { prompt_tokens: 20, completion_tokens: 5 } });
  assert.ok(Math.abs(g.estimateTokens(body) - 25) < 2, `estimate corrected toward the usage: ${g.estimateTokens(body)}`);
});

test('gate: header-derived pacing; a refusal cuts the send rate to 0.7x the recent one, once per interval; success grows it back', () => {
  const g = new RateGate({ random: () => 0 });
  // An OpenAI-like limit of 10/s: 10 − remaining used, back to full in reset.
  g.onAnswer(0, '{}', false, okAnswer({ requests: { limit: 10, remaining: 5, resetMs: 500 } }));
  assert.ok(Math.abs(g.requestCeiling() - 0.95 * 10) < 1e-9, `ceiling ${g.requestCeiling()}`);
  // Ten sends in one second, then refusals naming only a retry time: the first two are faults (no
  // cut); the third makes a pattern and cuts; a fourth within the interval does not cut again.
  for (let i = 0; i < 10; i++) g.onSend(1000 + i * 100, '{}');
  g.onAnswer(1990, '{}', true, refusal({ retryAfterMs: 100 }));
  g.onAnswer(1995, '{}', true, refusal({ retryAfterMs: 100 }));
  assert.equal(g.sendRate(), Number.POSITIVE_INFINITY, 'scattered refusals do not cut');
  g.onAnswer(2000, '{}', true, refusal({ retryAfterMs: 100 }));
  const cut = g.sendRate();
  assert.ok(Math.abs(cut - 0.7 * 10) < 0.8, `cut to ${cut}`);
  g.onAnswer(2010, '{}', true, refusal({ retryAfterMs: 100 }));
  assert.equal(g.sendRate(), cut, 'a second refusal within the interval does not cut again');
  // Successes grow the rate additively (5 % of the ceiling a second) back up to the ceiling.
  g.onAnswer(4100, '{}', false, okAnswer());
  assert.ok(g.sendRate() > cut && g.sendRate() < cut + 2, `grew to ${g.sendRate()}`);
  for (let t = 5000; t < 200_000; t += 1000) g.onAnswer(t, '{}', false, okAnswer());
  assert.ok(Math.abs(g.sendRate() - g.requestCeiling()) < 1e-9);
});

/**
 * A simulated hosted limit (a token bucket of `rate`/s, burst `rate`) shared by `n` gates with
 * unbounded demand and a window of `window` requests in flight each, on a discrete clock of 1 ms
 * steps; answers come back `latencyMs` after the send.
 */
function simulate(n: number, rate: number, seconds: number, latencyMs = 50, window = 8) {
  const inflight = new Array<number>(n).fill(0);
  const gates = Array.from({ length: n }, (_, i) => new RateGate({ random: () => ((i * 7919) % 97) / 97 }));
  let tokens = rate;
  const pending: Array<{ at: number; gate: number; ok: boolean; remaining: number; resetMs: number; retryMs: number }> = [];
  const forwarded = new Array<number>(n).fill(0);
  const late = new Array<number>(n).fill(0);
  let refused = 0;
  let sent = 0;
  for (let now = 0; now < seconds * 1000; now++) {
    tokens = Math.min(rate, tokens + rate / 1000);
    for (let i = pending.length - 1; i >= 0; i--) {
      const p = pending[i];
      if (p === undefined || p.at > now) continue;
      pending.splice(i, 1);
      inflight[p.gate] = (inflight[p.gate] as number) - 1;
      const requests = { limit: rate, remaining: p.remaining, resetMs: p.resetMs };
      const g = gates[p.gate] as RateGate;
      if (p.ok) g.onAnswer(now, '{}', false, okAnswer({ requests }));
      else g.onAnswer(now, '{}', true, refusal({ retryAfterMs: p.retryMs, requests }));
    }
    gates.forEach((g, i) => {
      if ((inflight[i] as number) >= window || g.delayMs(now) > 0) return;
      inflight[i] = (inflight[i] as number) + 1;
      g.onSend(now, '{}');
      sent++;
      const ok = tokens >= 1;
      if (ok) tokens -= 1;
      else refused++;
      if (ok) forwarded[i] = (forwarded[i] as number) + 1;
      if (ok && now >= (seconds * 1000) / 2) late[i] = (late[i] as number) + 1;
      const resetMs = Math.ceil(((rate - tokens) / rate) * 1000);
      const retryMs = Math.max(1, Math.ceil(((1 - tokens) / rate) * 1000));
      pending.push({ at: now + latencyMs, gate: i, ok, remaining: Math.floor(tokens), resetMs, retryMs });
    });
  }
  return { forwarded, late, refused, sent };
}

test('gates sharing one limit converge to fair shares with few refusals, and together use most of it', () => {
  const n = 3;
  const rate = 12;
  const seconds = 120;
  const r = simulate(n, rate, seconds);
  const total = r.forwarded.reduce((a, b) => a + b, 0);
  assert.ok(total >= 0.8 * rate * seconds, `forwarded ${total} of ${rate * seconds} possible`);
  assert.ok(r.refused <= 0.15 * r.sent, `refused ${r.refused} of ${r.sent}`);
  // Over the second half, each gate's share is within 35 % of a fair one.
  const lateTotal = r.late.reduce((a, b) => a + b, 0);
  for (const x of r.late) assert.ok(Math.abs(x / lateTotal - 1 / n) < 0.35 / n, `shares ${r.late.join(', ')}`);
});

test('one gate alone against the limit: the full rate, refusals rare', () => {
  const r = simulate(1, 4, 60);
  assert.ok((r.forwarded[0] as number) >= 0.85 * 4 * 60, `forwarded ${r.forwarded[0]}`);
  assert.ok(r.refused <= 0.05 * r.sent, `refused ${r.refused} of ${r.sent}`);
});
