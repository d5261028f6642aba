/**
 * Sharing one engine between workers (src/scheduler/share.ts, board-file.ts): the fair division,
 * the hold's rules, the file board across real processes, and the never-flood bound with 32
 * workers on the SIMULATED engine from the first request on.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { EngineShare, fairShares, MemoryBoard, SharedWindow } from '../../src/scheduler/share.ts';
import { boardDirFor, FileBoard } from '../../src/scheduler/board-file.ts';
import { AdaptiveWindow } from '../../src/scheduler/adaptive.ts';
import { boundQueue } from '../../src/worker/engine-share.ts';
import { PROBE_GROWTH } from '../../src/scheduler/capacity.ts';
import { windowCuts } from '../../src/worker/stats.ts';
import { runClosedLoop, type ClosedLoopOptions } from '../../bench/sim/closed-loop.ts';
import { PROFILES } from '../../bench/sim/profiles.ts';
import { tempDir } from '../helpers/tmp.ts';

const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);

test('fairShares: max-min fair, whole requests, at least one each, never above the bound', () => {
  assert.deepEqual(fairShares(17, [8, 8]), [8, 8]);
  assert.deepEqual(fairShares(17, [100, 100]), [9, 8]);
  assert.deepEqual(fairShares(17, [2, 100]), [2, 15], 'a small want is met and its rest goes to the other');
  assert.deepEqual(fairShares(10, [100, 100, 100]), [4, 3, 3]);
  assert.deepEqual(fairShares(3, [5, 5, 5, 5, 5]), [1, 1, 1, 1, 1], 'more workers than the bound: one each');
  for (const [bound, wants] of [
    [65, Array.from({ length: 32 }, (_, i) => (i * 7) % 13)],
    [17, [1, 1, 1]],
    [9, [4, 30, 2, 9]],
  ] as Array<[number, number[]]>) {
    const s = fairShares(bound, wants);
    assert.ok(sum(s) <= Math.max(bound, wants.length), `${sum(s)} > ${bound}`);
    for (const [i, x] of s.entries()) assert.ok(x >= 1 && x <= Math.max(1, wants[i] as number), `share ${x} for want ${wants[i]}`);
  }
});

test('EngineShare: once the bound is known nothing is sent until an exchange grants a share (a lock that stays taken)', () => {
  const stuck = { exchange: () => undefined, leave: () => {} };
  const share = new EngineShare({ board: stuck, id: 'x' });
  assert.equal(share.hold(), Number.POSITIVE_INFINITY);
  share.setBound(17);
  share.tick(8, 0);
  assert.equal(share.hold(), 0);
});

test('EngineShare: a newcomer takes only the room left; a lowered hold is published at the in-flight count until it drains', () => {
  const board = new MemoryBoard();
  const a = new EngineShare({ board, id: 'a' });
  const b = new EngineShare({ board, id: 'b' });
  assert.equal(a.hold(), Number.POSITIVE_INFINITY, 'no bound known: nothing capped');
  a.setBound(17);
  b.setBound(17);
  a.tick(17, 0);
  assert.equal(a.hold(), 17, 'alone, it may take the whole bound');
  b.tick(17, 0);
  assert.equal(b.hold(), 0, 'the other holds everything: the newcomer waits');
  a.tick(17, 17); // a sees b: its fair share is 8 (b's id sorts after a's: a gets the odd unit, 9)
  assert.equal(a.hold(), 9);
  assert.deepEqual(
    board.claims().map((c) => [c.id, c.hold]),
    [
      ['a', 17],
      ['b', 0],
    ],
    'a still has 17 out: its published hold stays at 17',
  );
  b.tick(17, 0);
  assert.equal(b.hold(), 0, 'no room yet');
  a.tick(17, 9); // drained to its share
  b.tick(17, 0);
  assert.equal(b.hold(), 8);
  assert.ok(sum(board.claims().map((c) => c.hold)) <= 17);
  a.leave();
  b.tick(17, 8);
  assert.equal(b.hold(), 17, 'the other left: the whole bound again');
  a.tick(17, 0);
  assert.deepEqual(
    board.claims().map((c) => c.id),
    ['b'],
    'a tick after leaving (a late answer) does not put the claim back',
  );
});

test('EngineShare: a worker that only guesses divides the bound another one knows, else the largest guess', () => {
  const board = new MemoryBoard();
  const knows = new EngineShare({ board, id: 'a' });
  const guesses = new EngineShare({ board, id: 'b' });
  const guessesMore = new EngineShare({ board, id: 'c' });
  guesses.setBound(16, false);
  guessesMore.setBound(54, false);
  guesses.tick(40, 0);
  guessesMore.tick(40, 0);
  guesses.tick(40, 0);
  assert.equal(guesses.bound, 54, 'no one knows: the largest guess on the board');
  knows.setBound(73);
  knows.tick(40, 0);
  guesses.tick(40, 0);
  assert.equal(guesses.bound, 73, 'a known bound wins over every guess');
  guessesMore.tick(40, 0);
  assert.equal(guessesMore.bound, 73, 'also over a guess above it');
  assert.equal(knows.bound, 73, 'a worker that knows keeps its own');
  assert.ok(sum(board.claims().map((c) => c.hold)) <= 73);
});

test('SharedWindow: the limit is the smaller of the window and the hold; the slots plus the queue make the bound', () => {
  const board = new MemoryBoard();
  const mk = (id: string) => new SharedWindow(new AdaptiveWindow({ now: () => 0 }), new EngineShare({ board, id }), (s) => 1 + s);
  const w1 = mk('w1');
  const w2 = mk('w2');
  let grew = 0;
  w2.onGrow(() => grew++);
  w1.onEngineCapacity(8, 0); // jumps to the 8 free slots; bound 8 + 9
  assert.equal(w1.share.bound, 17);
  assert.equal(w1.limit(), 8);
  for (let i = 0; i < 8; i++) w1.onStart();
  w2.onEngineCapacity(8, 8); // no free slot: starts from 4
  assert.equal(w2.limit(), 4);
  for (let i = 0; i < 4; i++) w2.onStart();
  assert.ok(sum(board.claims().map((c) => c.hold)) <= 17);
  assert.equal(grew, 1, 'the bound held w2 at 0 until its tick granted the share, which woke the pipeline');
  // The worker's stats read the cuts through the shared window: three 503s at once are a pattern.
  for (let i = 0; i < 3; i++) w2.onComplete({ latencyMs: 1, ok: false, status: 503 });
  assert.deepEqual(windowCuts(w2), { overload: 1 });
  assert.deepEqual(
    { hold: w1.snapshot().hold, members: w1.snapshot().members, limit: w1.snapshot().limit },
    { hold: 8, members: 1, limit: 8 },
    'w1 last ticked before w2 joined',
  );
});

test('FileBoard: claims of another process are read; a dead process and a stale claim are dropped', async () => {
  const dir = tempDir('share-board');
  const board = new FileBoard(dir);
  // A process that has exited: its claim must go.
  const child = spawn(process.execPath, ['-e', '']);
  const pid = child.pid as number;
  await new Promise((r) => child.on('exit', r));
  writeFileSync(join(dir, 'dead.json'), JSON.stringify({ id: 'dead', want: 9, hold: 9, at: Date.now(), pid }));
  writeFileSync(join(dir, 'old.json'), JSON.stringify({ id: 'old', want: 9, hold: 9, at: Date.now() - 60_000, pid: process.pid }));
  writeFileSync(join(dir, 'torn.json'), '{"id":"torn","wa');
  writeFileSync(join(dir, 'live.json'), JSON.stringify({ id: 'live', want: 3, hold: 3, at: Date.now(), pid: process.pid }));
  let seen: string[] = [];
  board.exchange('me', (others) => {
    seen = others.map((c) => c.id);
    return { id: 'me', want: 1, hold: 1, at: Date.now(), pid: process.pid };
  });
  assert.deepEqual(seen, ['live']);
  assert.deepEqual(readdirSync(dir).sort(), ['live.json', 'me.json']);
  board.leave('me');
  assert.deepEqual(readdirSync(dir), ['live.json']);
  assert.match(boardDirFor('http://127.0.0.1:8080', '/x'), /^\/x\/sparkinfer-engines\/[0-9a-f]{16}$/);
  assert.notEqual(boardDirFor('http://127.0.0.1:8080'), boardDirFor('http://127.0.0.1:8081'));
});

test('FileBoard: joining sweeps the claims of dead processes from other boards, and the boards left empty', async () => {
  const root = tempDir('share-sweep');
  const child = spawn(process.execPath, ['-e', '']);
  const dead = child.pid as number;
  await new Promise((r) => child.on('exit', r));
  const old = Date.now() - 60_000;
  const boardOf = (name: string) => join(root, 'sparkinfer-engines', name);
  for (const [name, claims] of [
    ['gone', [{ id: 'a', pid: dead, at: old }]],
    ['live', [{ id: 'b', pid: process.pid, at: old }]],
    ['fresh', [{ id: 'c', pid: dead, at: Date.now() }]],
  ] as const) {
    mkdirSync(boardOf(name), { recursive: true });
    for (const c of claims) writeFileSync(join(boardOf(name), `${c.id}.json`), JSON.stringify({ ...c, want: 1, hold: 1 }));
  }
  new FileBoard(boardDirFor('http://127.0.0.1:1', root)).sweepSiblings();
  assert.ok(!existsSync(boardOf('gone')), 'a dead, stale claim and its empty board are removed');
  assert.ok(existsSync(join(boardOf('live'), 'b.json')), 'a live process keeps its claim');
  assert.ok(existsSync(join(boardOf('fresh'), 'c.json')), 'a claim updated lately is left to its own board');
});

test('FileBoard: 6 processes re-dividing at once never hold more than the bound together', async () => {
  // A board below the test's own folder: the last worker to leave removes the board and its parent
  // when empty (in production `<tmpdir>/sparkinfer-engines`), which must not be the temporary directory.
  const dir = join(tempDir('share-race'), 'board');
  const bound = 17;
  // Each process ticks 150 times with changing wants and in-flight counts, and checks the sum of
  // every published hold (its own new one included) inside the lock.
  const script = `
    import { EngineShare } from ${JSON.stringify(new URL('../../src/scheduler/share.ts', import.meta.url).href)};
    import { FileBoard } from ${JSON.stringify(new URL('../../src/scheduler/board-file.ts', import.meta.url).href)};
    const board = new FileBoard(process.argv[1]);
    const id = 'w' + process.pid;
    let violations = 0, max = 0;
    const checked = { exchange: (me, decide) => board.exchange(me, (others) => {
      const mine = decide(others);
      const total = others.reduce((s, c) => s + c.hold, 0) + mine.hold;
      max = Math.max(max, total);
      if (total > ${bound}) violations++;
      return mine;
    }), leave: (me) => board.leave(me) };
    const share = new EngineShare({ board: checked, id, pid: process.pid });
    share.setBound(${bound});
    let inFlight = 0;
    for (let i = 0; i < 150; i++) {
      share.tick(1 + ((i * 7 + process.pid) % 20), inFlight);
      inFlight = Math.min(share.hold(), (i * 3 + process.pid) % 12);
    }
    share.leave();
    console.log(JSON.stringify({ violations, max }));
  `;
  const runs = await Promise.all(
    Array.from({ length: 6 }, () => {
      const p = spawn(process.execPath, ['--input-type=module', '-e', script, dir], { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      p.stdout.on('data', (d: Buffer) => {
        out += d.toString();
      });
      return new Promise<{ violations: number; max: number }>((resolve, reject) =>
        p.on('exit', (code) =>
          code === 0 ? resolve(JSON.parse(out) as { violations: number; max: number }) : reject(new Error(`exit ${code}`)),
        ),
      );
    }),
  );
  assert.equal(sum(runs.map((r) => r.violations)), 0, JSON.stringify(runs));
  assert.ok(Math.max(...runs.map((r) => r.max)) >= bound - 4, 'the processes did compete for the bound');
  assert.ok(!existsSync(dir), 'the last worker to leave removed the board (every claim gone, the lock released)');
});

const SLOT = PROFILES['slot-limited'];
const SLOTS = SLOT.engine.slots;
/** The slot-limited engine's bound with a batch-long queue: what a llama-server worker gets. */
const BOUND = SLOTS + 1 + SLOTS;

function thirtyTwo(shared: boolean, extra: Partial<ClosedLoopOptions> = {}) {
  const board = new MemoryBoard();
  return runClosedLoop({
    ...SLOT,
    durationMs: 120_000,
    warmupMs: 30_000,
    reportCapacity: true,
    workers: Array.from({ length: 32 }, (_, i) => ({
      window: (now: () => number) => {
        const inner = new AdaptiveWindow({ now });
        return shared
          ? new SharedWindow(inner, new EngineShare({ board, id: `w${String(i).padStart(2, '0')}`, now }), (s) => 1 + s)
          : inner;
      },
    })),
    ...extra,
  });
}

test('never flood: 32 workers starting at once on one slot engine stay within slots + queue from the first request', () => {
  const shared = thirtyTwo(true);
  assert.ok(shared.peakTotalInFlight <= BOUND, `peak ${shared.peakTotalInFlight} in flight > ${BOUND} (slots + queue)`);
  assert.equal(
    shared.workers.reduce((s, w) => s + w.rejected, 0),
    0,
    'no 503 from a full queue',
  );
  assert.ok(shared.totalInFlight.min >= SLOTS, `the engine ran below its slots (${shared.totalInFlight.min} in flight)`);
  const fullTps = shared.tokensPerS;
  // Without the board the same start floods the engine: the windows each jump to the free slots.
  const alone = thirtyTwo(false);
  assert.ok(alone.peakTotalInFlight > BOUND, `without sharing the peak was ${alone.peakTotalInFlight}: the test would not see a flood`);
  assert.ok(fullTps >= 0.97 * alone.tokensPerS, `sharing lost throughput: ${fullTps.toFixed(0)} vs ${alone.tokensPerS.toFixed(0)} tok/s`);
  // Every worker gets a fair part of the engine.
  const done = shared.workers.map((w) => w.completed);
  assert.ok(Math.min(...done) >= 0.5 * (sum(done) / done.length), `shares ${Math.min(...done)}..${Math.max(...done)}`);
});

/** vLLM started with `--max-num-seqs 64`, a KV cache that never fills and no queue limit: its metrics say no slot count. */
const VLLM64 = { slots: 64, maxWaiting: 100_000, baseStepMs: 20, perSeqStepMs: 0.25, prefillMsPerToken: 0.02 };

function thirtyTwoOnVllm(learn: boolean) {
  const board = new MemoryBoard();
  return runClosedLoop({
    engine: VLLM64,
    durationMs: 120_000,
    warmupMs: 30_000,
    // As the worker does with vLLM's /metrics before its first request (worker/load.ts).
    reportLoadFirst: true,
    workers: Array.from({ length: 32 }, (_, i) => ({
      window: (now: () => number) => {
        const inner = new AdaptiveWindow({ now });
        return learn
          ? new SharedWindow(inner, new EngineShare({ board, id: `w${String(i).padStart(2, '0')}`, now }), boundQueue('vllm', false), {
              learn: true,
            })
          : inner;
      },
    })),
  });
}

test('never flood on vLLM: 32 workers learn the capacity from the metrics; before, the guess passes it by half at most, after, capacity + queue', () => {
  const bound = VLLM64.slots + boundQueue('vllm', false)(VLLM64.slots);
  const learned = thirtyTwoOnVllm(true);
  // Until the engine is first seen full, the shared guess may pass the capacity by half (capacity.ts).
  const probe = Math.ceil(PROBE_GROWTH * VLLM64.slots);
  assert.ok(learned.peakTotalInFlight <= probe, `peak ${learned.peakTotalInFlight} in flight > ${probe} (the probe's ceiling)`);
  assert.ok(learned.peakAfterWarmup <= bound, `peak ${learned.peakAfterWarmup} in flight after warm-up > ${bound} (capacity + queue)`);
  assert.ok(learned.totalInFlight.min >= VLLM64.slots, `the engine ran below its capacity (${learned.totalInFlight.min} in flight)`);
  const alone = thirtyTwoOnVllm(false);
  assert.ok(alone.peakTotalInFlight > probe, `without learning the peak was ${alone.peakTotalInFlight}: the test would not see a flood`);
  assert.ok(
    learned.tokensPerS >= 0.97 * alone.tokensPerS,
    `learning lost throughput: ${learned.tokensPerS.toFixed(0)} vs ${alone.tokensPerS.toFixed(0)} tok/s`,
  );
  const done = learned.workers.map((w) => w.completed);
  assert.ok(Math.min(...done) >= 0.5 * (sum(done) / done.length), `shares ${Math.min(...done)}..${Math.max(...done)}`);
});

test('vLLM tasks that come and go (2 at a time, 40 in all) lose no throughput to learning: a new task takes what the board knows', () => {
  const engine = { slots: 64, maxWaiting: 100_000, baseStepMs: 4, perSeqStepMs: 0.02, prefillMsPerToken: 0.001 };
  const run = (learn: boolean) => {
    const board = new MemoryBoard();
    const shares: EngineShare[] = [];
    const start = (i: number) => Math.floor(i / 2) * 10_000 + (i % 2) * 5000;
    return runClosedLoop({
      engine,
      durationMs: 200_000,
      warmupMs: 5_000,
      reportLoadFirst: true,
      promptTokens: [20, 40],
      outputTokens: [10, 30],
      workers: Array.from({ length: 40 }, (_, i) => ({
        startAtMs: start(i),
        stopAtMs: start(i) + 10_000,
        onStop: () => shares[i]?.leave(),
        window: (now: () => number) => {
          const share = new EngineShare({ board, id: `w${String(i).padStart(2, '0')}`, now });
          shares[i] = share;
          const inner = new AdaptiveWindow({ now });
          return learn ? new SharedWindow(inner, share, boundQueue('vllm', false), { learn: true }) : inner;
        },
      })),
    });
  };
  const learned = run(true);
  const alone = run(false);
  // The chaos soak's 40 tasks ran 1.5x slower when each new task's worker probed from its first guess.
  assert.ok(
    learned.requestsPerS >= 0.97 * alone.requestsPerS,
    `${learned.requestsPerS.toFixed(0)} vs ${alone.requestsPerS.toFixed(0)} requests/s`,
  );
  assert.ok(learned.peakTotalInFlight <= Math.ceil(PROBE_GROWTH * engine.slots), `peak ${learned.peakTotalInFlight}`);
  assert.ok(alone.peakTotalInFlight > Math.ceil(PROBE_GROWTH * engine.slots), `without learning the peak was ${alone.peakTotalInFlight}`);
});

test('faults are not congestion: at 5 % random faults (503, 500/reset, timeout) the windows do not collapse', () => {
  const run = (faultRate: number) =>
    runClosedLoop({
      ...SLOT,
      durationMs: 300_000,
      warmupMs: 60_000,
      requestTimeoutMs: 20_000,
      faultRate,
      workers: Array.from({ length: 4 }, (_, i) => ({ window: (now) => new AdaptiveWindow({ now }), startAtMs: i * 1000 })),
    });
  const clean = run(0);
  const faulty = run(0.05);
  assert.ok(faulty.faults > 50, `only ${faulty.faults} faults injected`);
  const limit = (r: typeof clean) => sum(r.workers.map((w) => w.meanLimit));
  assert.ok(limit(faulty) >= 0.85 * limit(clean), `windows fell from ${limit(clean).toFixed(1)} to ${limit(faulty).toFixed(1)}`);
  assert.ok(faulty.tokensPerS >= 0.9 * clean.tokensPerS, `${faulty.tokensPerS.toFixed(0)} vs ${clean.tokensPerS.toFixed(0)} tok/s`);
});
