/**
 * The partition pipeline with an in-process engine stand-in (the attempt function): window bound,
 * retries, the outage circuit and stdout backpressure. The engine itself is tested elsewhere.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runPipeline, FREE_RATE_LIMITED, FREE_RATE_LIMITED_MS, type Attempt } from '../../src/worker/pipeline.ts';
import { OutageTimeout } from '../../src/engine/errors.ts';
import { RateGate } from '../../src/scheduler/rate.ts';
import { makeWindow } from '../../src/scheduler/window.ts';
import { parseInputLine, readLineBatches } from '../../src/worker/input.ts';
import type { ResultLine } from '../../src/worker/protocol.ts';
import { linesOf, pipelineDeps } from '../helpers/pipeline.ts';

const deps = pipelineDeps;

const ok = (text: string): Attempt => ({
  ok: true,
  latencyMs: 1,
  fields: { text, finish_reason: 'stop', prompt_tokens: 3, completion_tokens: 2 },
});

test('every row once, in-flight never above the window', async () => {
  const out: ResultLine[] = [];
  let inflight = 0;
  let peak = 0;
  const c = await runPipeline(
    deps(
      {
        attempt: async (p) => {
          inflight++;
          peak = Math.max(peak, inflight);
          await new Promise((r) => setImmediate(r));
          inflight--;
          return ok(p.body);
        },
      },
      out,
    ),
  );
  assert.equal(out.length, 50);
  assert.equal(new Set(out.map((r) => r.k)).size, 50);
  assert.ok(peak <= 4 && peak >= 2, `peak ${peak}`);
  assert.equal(c.completionTokens, 100);
  assert.equal(c.rowsOk, 50);
});

test('retryable errors are retried within the budget; others become the row error', async () => {
  const out: ResultLine[] = [];
  const tries = new Map<string, number>();
  await runPipeline(
    deps(
      {
        attempt: async (p) => {
          const n = (tries.get(p.body) ?? 0) + 1;
          tries.set(p.body, n);
          if (p.body.includes('"q1"') && n === 1)
            return { ok: false, latencyMs: 1, error: { code: 'E_HTTP_5XX', message: '500', status: 500 } };
          if (p.body.includes('"q2"')) return { ok: false, latencyMs: 1, error: { code: 'E_HTTP_4XX', message: 'bad', status: 400 } };
          if (p.body.includes('"q3"')) return { ok: false, latencyMs: 1, error: { code: 'E_HTTP_5XX', message: 'always', status: 500 } };
          return ok('x');
        },
      },
      out,
    ),
  );
  const by = new Map(out.map((r) => [r.k, r]));
  assert.equal(by.get('k1')?.error_code, null);
  assert.equal(by.get('k1')?.attempts, 2);
  assert.equal(by.get('k2')?.error_code, 'E_HTTP_4XX');
  assert.equal(by.get('k2')?.attempts, 1);
  assert.equal(by.get('k3')?.error_code, 'E_HTTP_5XX');
  assert.equal(by.get('k3')?.attempts, 4, 'first try + 3 retries');
  assert.equal(out.length, 50);
});

test('an outage requeues in-flight rows without spending their budget, then resumes', async () => {
  const out: ResultLine[] = [];
  let down = true;
  let healthWaits = 0;
  await runPipeline(
    deps(
      {
        attempt: async () => (down ? { ok: false, latencyMs: 1, error: { code: 'E_CONNECT', message: 'ECONNREFUSED' } } : ok('y')),
        waitHealthy: async () => {
          healthWaits++;
          await new Promise((r) => setTimeout(r, 5));
          down = false;
          return true;
        },
      },
      out,
    ),
  );
  assert.equal(out.length, 50);
  assert.ok(
    out.every((r) => r.error_code === null && r.attempts === 1),
    'outage attempts do not count',
  );
  assert.ok(healthWaits >= 1);
});

test('an outage past outage_timeout fails the task', async () => {
  const out: ResultLine[] = [];
  await assert.rejects(
    runPipeline(
      deps(
        {
          attempt: async () => ({ ok: false, latencyMs: 1, error: { code: 'E_CONNECT', message: 'ECONNREFUSED' } }),
          waitHealthy: async () => false,
        },
        out,
      ),
    ),
    OutageTimeout,
  );
  assert.equal(out.length, 0, 'no row is reported as failed because of an outage');
});

test('stdout backpressure pauses dispatch until drained', async () => {
  const out: ResultLine[] = [];
  let blocked = false;
  let sentWhileBlocked = 0;
  let release: () => void = () => {};
  await runPipeline(
    deps(
      {
        attempt: async () => {
          if (blocked) sentWhileBlocked++;
          await new Promise((r) => setImmediate(r));
          return ok('z');
        },
        emit: (r) => {
          out.push(r);
          if (out.length === 10) {
            blocked = true;
            setTimeout(() => {
              blocked = false;
              release();
            }, 20);
            return false;
          }
          return true;
        },
        drained: () =>
          new Promise<void>((r) => {
            release = r;
          }),
      },
      out,
    ),
  );
  assert.equal(out.length, 50);
  assert.equal(sentWhileBlocked, 0);
});

test('a window that grows on a metrics poll is filled at once, not at the next answer', async () => {
  const out: ResultLine[] = [];
  let limit = 2;
  let grow: () => void = () => {};
  const pending: Array<() => void> = [];
  let started = 0;
  let startedWhenGrown = -1;
  const run = runPipeline(
    deps(
      {
        lines: linesOf(8),
        window: {
          limit: () => limit,
          onGrow: (l) => {
            grow = l;
          },
        },
        attempt: (p) => {
          started++;
          return new Promise<Attempt>((r) => {
            pending.push(() => r(ok(p.body)));
          });
        },
      },
      out,
    ),
  );
  try {
    // Both slots of the first window are taken and no answer has come back.
    while (started < 2) await new Promise((r) => setImmediate(r));
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    assert.equal(started, 2);
    limit = 6;
    grow();
    startedWhenGrown = started;
    assert.equal(startedWhenGrown, 6, 'the grown window filled synchronously on the growth event');
    assert.equal(out.length, 0, 'no answer was needed to fill it');
  } finally {
    // Answer everything, so that the pipeline ends whatever the assertions said.
    while (out.length < 8) {
      pending.shift()?.();
      await new Promise((r) => setImmediate(r));
    }
    await run;
  }
  assert.equal(new Set(out.map((r) => r.k)).size, 8);
});

test('parseInputLine: the row keeps every column but the key and carry, in order, as own plain values', () => {
  const r = parseInputLine('{"_k":"k1","b":2,"__proto__":{"x":1},"a":"s","big":12345678901234567890,"_c":"{\\"c\\":1}"}');
  assert.equal(r.key, 'k1');
  assert.equal(r.carry, '{"c":1}');
  assert.deepEqual(Object.keys(r.row), ['b', '__proto__', 'a', 'big']);
  assert.ok(Object.hasOwn(r.row, '__proto__'));
  // biome-ignore lint/suspicious/noProto: the test reads an own property named __proto__ from the data.
  assert.deepEqual(r.row.__proto__, { x: 1 });
  assert.equal(Object.getPrototypeOf(r.row), Object.prototype);
  assert.equal(r.row.big, '12345678901234567890');
  assert.equal(parseInputLine('{"_k":"k2","q":null}').carry, null);
  assert.throws(() => parseInputLine('{"q":1}'), /no string _k/);
  assert.throws(() => parseInputLine('{"_k":"k","_c":5}'), /non-string _c/);
});

test('batched input lines: every row once, parsed no further ahead than the high-water mark', async () => {
  const out: ResultLine[] = [];
  let parsed = 0;
  let peakAhead = 0;
  async function* batches(): AsyncGenerator<string[]> {
    // 1000 rows in batches of 250: far more than the high-water mark (64) at once.
    for (let b = 0; b < 4; b++) yield Array.from({ length: 250 }, (_, i) => JSON.stringify({ _k: `k${b * 250 + i}`, q: 'x', _c: null }));
  }
  const c = await runPipeline(
    deps(
      {
        lines: batches(),
        parse: (line) => {
          parsed++;
          peakAhead = Math.max(peakAhead, parsed - out.length);
          return parseInputLine(line);
        },
        attempt: async (p) => {
          await new Promise((r) => setImmediate(r));
          return ok(p.body);
        },
      },
      out,
    ),
  );
  assert.equal(c.rowsOk, 1000);
  assert.equal(new Set(out.map((r) => r.k)).size, 1000);
  assert.ok(peakAhead <= 64 + 4 + 1, `rows parsed ahead of their results: ${peakAhead}`);
});

test('readLineBatches: lines across chunks, empty lines dropped, a character split across chunks kept whole', async () => {
  const text = '{"q":"été"}\n\n{"q":"世界 🌍"}\n{"q":"end"}';
  const bytes = Buffer.from(text);
  async function* chunks(): AsyncGenerator<Buffer> {
    // Cut every 3 bytes: through the middle of every multibyte character and line end.
    for (let i = 0; i < bytes.length; i += 3) yield bytes.subarray(i, i + 3);
  }
  const lines: string[] = [];
  for await (const batch of readLineBatches(chunks())) lines.push(...batch);
  assert.deepEqual(lines, ['{"q":"été"}', '{"q":"世界 🌍"}', '{"q":"end"}']);
  const whole: string[][] = [];
  for await (const batch of readLineBatches(
    (async function* () {
      yield 'a\nb\nc';
    })(),
  ))
    whole.push(batch);
  assert.deepEqual(whole, [['a', 'b'], ['c']], 'one batch per chunk, then the unterminated last line');
});

test('stopDispatch: nothing more is sent, the requests in flight finish and are emitted, then it returns', async () => {
  const out: ResultLine[] = [];
  const stop = new AbortController();
  let sent = 0;
  let inflightAtStop = -1;
  let inflight = 0;
  const c = await runPipeline(
    deps(
      {
        stopDispatch: stop.signal,
        emit: (r) => {
          out.push(r);
          // A budget reached at the 10th result, as the worker's spend check does.
          if (out.length === 10) {
            inflightAtStop = inflight;
            stop.abort();
          }
          return true;
        },
        attempt: async (p) => {
          sent++;
          inflight++;
          await new Promise((r) => setTimeout(r, 2));
          inflight--;
          return ok(p.body);
        },
      },
      out,
    ),
  );
  assert.ok(inflightAtStop >= 0 && inflightAtStop <= 4, `in flight when stopped: ${inflightAtStop}`);
  assert.equal(sent, out.length, 'every request sent came back as a result');
  assert.equal(out.length, 10 + inflightAtStop, 'the stopped run finished exactly the requests in flight');
  assert.ok(out.length < 50);
  assert.equal(c.rowsDone, out.length);
  assert.equal(c.inflight, 0);
});

// --- rate limits (docs/scheduler.md, "Rate limits"): the pipeline with a real RateGate and a real adaptive window ---

const limited = (retryAfterMs: number): Attempt => ({
  ok: false,
  latencyMs: 1,
  error: { code: 'E_HTTP_4XX', message: 'HTTP 429: rate_limit_exceeded', status: 429 },
  rateLimit: { retryAfterMs, requests: { limit: 1000, remaining: 0, resetMs: 1000 } },
});

/** The window's kinds as heard, and its limit: a real adaptive window. */
function observedWindow(): { window: ReturnType<typeof makeWindow>; kinds: string[] } {
  const window = makeWindow({ concurrency: 'auto', concurrency_min: 1, concurrency_max: 64 });
  const kinds: string[] = [];
  const complete = window.onComplete?.bind(window);
  window.onComplete = (s) => {
    kinds.push(s.kind ?? '');
    complete?.(s);
  };
  return { window, kinds };
}

test('rate limit: a 429 with rate-limit headers spends no retry budget, is a ratelimit completion, and leaves the window alone', async () => {
  const out: ResultLine[] = [];
  const tries = new Map<string, number>();
  const { window, kinds } = observedWindow();
  const before = window.limit();
  const c = await runPipeline(
    deps(
      {
        lines: linesOf(8),
        window,
        gate: new RateGate({ random: () => 0 }),
        // Each row is refused 5 times (more than the helper's budget of 3) before it is answered.
        attempt: async (p) => {
          const n = (tries.get(p.body) ?? 0) + 1;
          tries.set(p.body, n);
          return n <= 5 ? limited(2) : ok('x');
        },
      },
      out,
    ),
  );
  assert.equal(out.length, 8);
  assert.ok(
    out.every((r) => r.error_code === null && r.attempts === 1),
    'every row ok, and its refusals did not count as attempts',
  );
  assert.equal(c.retries, 40);
  assert.equal(kinds.filter((k) => k === 'ratelimit').length, 40);
  assert.ok(!kinds.includes('overload'));
  assert.ok(window.limit() >= before, `window ${before} → ${window.limit()}: not cut`);
});

test('rate limit: the gate holds ALL dispatch until the retry time has passed', async () => {
  const out: ResultLine[] = [];
  const sends: number[] = [];
  let refusedAt: number | undefined;
  await runPipeline(
    deps(
      {
        lines: linesOf(12),
        gate: new RateGate({ random: () => 0 }),
        attempt: async () => {
          const now = Date.now();
          sends.push(now);
          if (refusedAt === undefined && sends.length === 3) {
            refusedAt = now;
            return limited(120);
          }
          await new Promise((r) => setImmediate(r));
          return ok('x');
        },
      },
      out,
    ),
  );
  assert.equal(out.length, 12);
  assert.ok(out.every((r) => r.error_code === null));
  const after = sends.filter((t) => t > (refusedAt as number));
  assert.ok(after.length >= 9, `${after.length} sends after the refusal`);
  // Sends already on their way in the same tick aside, none goes out before the retry time.
  const early = after.filter((t) => t < (refusedAt as number) + 120);
  assert.equal(early.length, 0, `sends within the hold: ${early.map((t) => t - (refusedAt as number)).join(', ')} ms after it`);
});

test('rate limit: a refusal naming only a retry time, not part of a pattern, holds its row, not the others', async () => {
  const out: ResultLine[] = [];
  const sends: number[] = [];
  let refusedAt: number | undefined;
  const c = await runPipeline(
    deps(
      {
        lines: linesOf(12),
        gate: new RateGate({ random: () => 0 }),
        decide: () => ({ retry: true, delayMs: 300, outage: false }),
        attempt: async () => {
          const now = Date.now();
          sends.push(now);
          if (refusedAt === undefined && sends.length === 3) {
            refusedAt = now;
            return {
              ok: false,
              latencyMs: 1,
              error: { code: 'E_HTTP_4XX', message: 'HTTP 429', status: 429 },
              rateLimit: { retryAfterMs: 300 },
            };
          }
          await new Promise((r) => setTimeout(r, 5));
          return ok('x');
        },
      },
      out,
    ),
  );
  assert.equal(out.length, 12);
  assert.ok(out.every((r) => r.error_code === null && r.attempts === 1));
  assert.deepEqual(c.retriesByReason, { rate_limit: 1 });
  const during = sends.filter((t) => t > (refusedAt as number) && t < (refusedAt as number) + 250);
  assert.ok(during.length >= 5, `only ${during.length} sends while the refused row waited: the others were held`);
});

test('rate limit: a plain 429 (no rate-limit headers) stays overload and spends the budget; without a gate, so does one with headers', async () => {
  for (const withGate of [true, false]) {
    const out: ResultLine[] = [];
    const { window, kinds } = observedWindow();
    await runPipeline(
      deps(
        {
          lines: linesOf(3),
          window,
          ...(withGate ? { gate: new RateGate() } : {}),
          attempt: async () =>
            withGate ? { ok: false, latencyMs: 1, error: { code: 'E_HTTP_4XX', message: 'HTTP 429', status: 429 } } : limited(1),
        },
        out,
      ),
    );
    assert.ok(
      out.every((r) => r.error_code === 'E_HTTP_4XX' && r.attempts === 1),
      `withGate ${withGate}: the helper's decide does not retry a 4XX`,
    );
    assert.deepEqual(kinds, ['overload', 'overload', 'overload']);
  }
});

test(`rate limit: a row refused more than ${FREE_RATE_LIMITED} times spends its budget after all (a quota that never comes back)`, async () => {
  const out: ResultLine[] = [];
  let n = 0;
  await runPipeline(
    deps(
      {
        lines: linesOf(1),
        gate: new RateGate({ random: () => 0 }),
        attempt: async () => {
          n++;
          return limited(0);
        },
      },
      out,
    ),
  );
  assert.equal(out.length, 1);
  assert.equal(out[0]?.error_code, 'E_HTTP_4XX');
  assert.equal(n, FREE_RATE_LIMITED + 1);
});

test('rate limit: with no successful answer for FREE_RATE_LIMITED_MS, refusals spend the budget (an exhausted quota fails rows)', async () => {
  const out: ResultLine[] = [];
  let n = 0;
  let t = 0;
  await runPipeline(
    deps(
      {
        lines: linesOf(1),
        gate: new RateGate({ random: () => 0 }),
        // Every look at the clock is 11 minutes later: no answer succeeded within FREE_RATE_LIMITED_MS.
        now: () => {
          t += FREE_RATE_LIMITED_MS + 60_000;
          return t;
        },
        attempt: async () => {
          n++;
          return limited(0);
        },
      },
      out,
    ),
  );
  assert.equal(out[0]?.error_code, 'E_HTTP_4XX');
  assert.equal(n, 1, 'the refusal was not free: the helper decide does not retry a 4XX');
});

test('retriesByReason: each resend counted once by reason; all but outage requeues are the retries', async () => {
  const out: ResultLine[] = [];
  const tries = new Map<string, number>();
  let down = false;
  const c = await runPipeline(
    deps(
      {
        lines: linesOf(6),
        window: { limit: () => 1 },
        decide: (e, n) => ({ retry: e.status !== 400 && e.code !== 'E_CONNECT' && n <= 3, delayMs: 1, outage: e.code === 'E_CONNECT' }),
        attempt: async (p) => {
          const n = (tries.get(p.body) ?? 0) + 1;
          tries.set(p.body, n);
          if (p.body.includes('"q1"') && n <= 2)
            return { ok: false, latencyMs: 1, error: { code: 'E_HTTP_5XX', message: '500', status: 500 } };
          if (p.body.includes('"q2"') && n === 1)
            return { ok: false, latencyMs: 1, error: { code: 'E_HTTP_4XX', message: '429', status: 429 } };
          if (p.body.includes('"q3"') && n === 1) return { ok: false, latencyMs: 1, error: { code: 'E_TIMEOUT', message: 'slow' } };
          if (p.body.includes('"q4"') && n === 1) {
            down = true;
            return { ok: false, latencyMs: 1, error: { code: 'E_CONNECT', message: 'ECONNREFUSED' } };
          }
          if (p.body.includes('"q5"')) return { ok: false, latencyMs: 1, error: { code: 'E_HTTP_4XX', message: 'bad', status: 400 } };
          return ok('x');
        },
        waitHealthy: async () => {
          down = false;
          return true;
        },
      },
      out,
    ),
  );
  assert.equal(down, false);
  assert.equal(out.length, 6);
  assert.deepEqual(c.retriesByReason, { http_5xx: 2, overload: 1, timeout: 1, outage: 1 }, 'the 400 is not retried: not counted');
  const total = Object.values(c.retriesByReason).reduce((a, b) => a + (b ?? 0), 0);
  assert.equal(total - (c.retriesByReason.outage ?? 0), c.retries);
});
