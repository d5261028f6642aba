/**
 * The worker process against a real llama-server: the line protocol Spark feeds it, result lines
 * in completion order, the ledger, the stats file and its own log.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { JobSpec } from '../../src/jobfile/schema.ts';
import type { ResolvedJob } from '../../src/jobfile/resolved.ts';
import { startDemoEngine } from '../helpers/engine.ts';
import { ROOT } from '../helpers/cli.ts';
import { parseLedgerText } from '../../src/rundir/ledger.ts';
import { startCountingProxy } from '../helpers/counting-proxy.ts';
import type { LocalEngine } from '../../src/launch/engine.ts';
import { tempDir } from '../helpers/tmp.ts';
import { startSimServer } from '../../src/sim/server.ts';
import type { WorkerStats } from '../../src/rundir/stats.ts';

let engine: LocalEngine;
before(async () => {
  engine = await startDemoEngine({ parallel: 4 });
});
after(async () => {
  await engine?.stop();
});

function jobFor(runDir: string, endpoint: string, extra: Record<string, unknown> = {}): ResolvedJob {
  const job = JobSpec.parse({
    name: 'w',
    input: { format: 'json', path: 'x' },
    prompt: { user: 'Say {{ word }}.' },
    model: 'smollm2-135m-instruct',
    sampling: { temperature: 0, max_tokens: 4 },
    engine: { endpoint, kind: 'llama-server', concurrency: 4 },
    output: { path: 'o', include_request: true },
    ...extra,
  });
  return {
    ...job,
    run: {
      id: 'w-1',
      dir: runDir,
      root: runDir,
      columns: ['word'],
      endpoint,
      engine_kind: 'llama-server',
      fresh: false,
      retry_errors: false,
      fingerprint: 'f',
    },
  };
}

function runWorker(jobPath: string, input: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((res) => {
    const child = spawn(process.execPath, [join(ROOT, 'dist', 'sparkinfer-worker.mjs'), jobPath], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    child.on('close', (code) => res({ code: code ?? 1, stdout, stderr }));
    child.stdin.end(input);
  });
}

/** Starts 4 workers at once on one job file, `rows` rows each, and checks each answered every row without error. */
async function fourWorkersAnswerAll(jobPath: string, rows: number): Promise<void> {
  const input = (w: number) =>
    `${Array.from({ length: rows }, (_, i) => JSON.stringify({ _k: `w${w}-${i}`, word: `word ${w} ${i}`, _c: '{}' })).join('\n')}\n`;
  const runs = await Promise.all([0, 1, 2, 3].map((w) => runWorker(jobPath, input(w))));
  for (const r of runs) {
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { error_code: string | null });
    assert.equal(lines.length, rows);
    assert.ok(lines.every((l) => l.error_code === null));
  }
}

test('the bundled worker answers every line once, writes the ledger, stats and its log', async () => {
  const runDir = tempDir('worker');
  const jobPath = join(runDir, 'job.json');
  writeFileSync(jobPath, JSON.stringify(jobFor(runDir, engine.endpoint)));
  const words = ['apple', 'tab\there', 'emoji 🚀', null, 'quote " \\ back', ...Array.from({ length: 25 }, (_, i) => `w${i}`)];
  const input = `${words.map((w, i) => JSON.stringify({ _k: `k${i}`, word: w, _c: JSON.stringify({ id: i }) })).join('\n')}\n`;
  const r = await runWorker(jobPath, input);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '');
  const lines = r.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.equal(lines.length, words.length);
  assert.deepEqual(lines.map((l) => l.k).sort(), words.map((_, i) => `k${i}`).sort());
  for (const l of lines) {
    const i = Number(String(l.k).slice(1));
    assert.equal(l.c, JSON.stringify({ id: i }), 'carry echoed unchanged');
    assert.equal(l.error_code, null, String(l.error_message));
    assert.equal(typeof l.text, 'string');
    assert.ok((l.completion_tokens as number) > 0);
    const body = JSON.parse(l.request as string) as { messages: Array<{ role: string; content: string }>; model: string };
    assert.equal(body.model, 'smollm2-135m-instruct');
    assert.equal(body.messages.at(-1)?.content, `Say ${words[i] ?? ''}.`);
  }
  const ledgerFiles = readdirSync(join(runDir, 'ledger'));
  assert.equal(ledgerFiles.length, 1, 'one ledger file per task attempt');
  const ledger = parseLedgerText(readFileSync(join(runDir, 'ledger', ledgerFiles[0] ?? ''), 'utf8'));
  assert.deepEqual(
    ledger.map((x) => x.k),
    lines.map((l) => l.k),
    'ledger holds every result, in output order',
  );
  const stats = readdirSync(join(runDir, 'stats')).filter((f) => f.endsWith('.json'));
  const s = JSON.parse(readFileSync(join(runDir, 'stats', stats[0] ?? ''), 'utf8')) as Record<string, unknown>;
  assert.equal(s.done, true);
  assert.equal(s.rows_done, words.length);
  // Why it was slow (issue 37): a fixed window keeps no cuts; every retry in the budget has a reason.
  assert.deepEqual(s.window_cuts, {}, 'a fixed window (concurrency 4) has no cuts');
  const byReason = s.retries_by_reason as Record<string, number>;
  assert.equal(typeof byReason, 'object');
  const inBudget = Object.entries(byReason).reduce((t, [k, n]) => t + (k === 'outage' ? 0 : n), 0);
  assert.equal(inBudget, s.retries, 'retries_by_reason (but outage requeues) sums to retries');
  assert.ok(readdirSync(join(runDir, 'logs')).some((f) => f.startsWith('worker-')));
});

test('4 workers starting at once on one engine never have more than its slots + queue out (the share board)', async () => {
  // The engine has 4 slots: each worker alone would jump to the 4 free slots (16 out); together
  // they may hold 4 + (1 + 4) = 9 (docs/scheduler.md, "Sharing an engine"), counted at the engine.
  const proxy = await startCountingProxy(engine.endpoint.replace(/\/v1$/, ''));
  const runDir = tempDir('share');
  try {
    const jobPath = join(runDir, 'job.json');
    const job = jobFor(runDir, proxy.endpoint, {});
    writeFileSync(jobPath, JSON.stringify({ ...job, engine: { ...job.engine, concurrency: 'auto' } }));
    await fourWorkersAnswerAll(jobPath, 24);
    assert.equal(proxy.postsTo('/v1/chat/completions'), 96);
    assert.ok(proxy.maxOpen() <= 9, `${proxy.maxOpen()} requests out at once on 4 slots (bound 9)`);
    assert.ok(proxy.maxOpen() >= 4, `only ${proxy.maxOpen()} out at once: the engine was never full`);
  } finally {
    await proxy.close();
  }
});

test('4 workers on a vLLM without a slot count learn its capacity from /metrics and share it (the SIMULATED engine)', async () => {
  // vLLM's max_num_seqs is in none of its endpoints. The simulator stands in for it (its /metrics
  // speaks vLLM's names; 20 sequences at once, no queue limit): the workers learn the capacity,
  // "running while requests wait", and share 20 + (1 + 20/8) = 24 (scheduler/capacity.ts). Before
  // the engine is first seen full the guess may pass the capacity by at most half: 30.
  const sim = await startSimServer({ engine: { slots: 20, maxWaiting: 100_000, baseStepMs: 20, perSeqStepMs: 0.5 }, meanOutputTokens: 48 });
  const proxy = await startCountingProxy(sim.url);
  const runDir = tempDir('share-vllm');
  try {
    const jobPath = join(runDir, 'job.json');
    const job = jobFor(runDir, proxy.endpoint, { sampling: { temperature: 0, max_tokens: 64 } });
    writeFileSync(
      jobPath,
      JSON.stringify({ ...job, engine: { ...job.engine, kind: 'vllm', concurrency: 'auto' }, run: { ...job.run, engine_kind: 'vllm' } }),
    );
    await fourWorkersAnswerAll(jobPath, 60);
    assert.equal(proxy.postsTo('/v1/chat/completions'), 240);
    assert.ok(proxy.maxOpen() <= 30, `${proxy.maxOpen()} requests out at once on a capacity of 20 (probe ceiling 30)`);
    assert.ok(proxy.maxOpen() >= 20, `only ${proxy.maxOpen()} out at once: the engine was never full`);
    const stats = readdirSync(join(runDir, 'stats'))
      .filter((f) => f.endsWith('.json'))
      .map((f) => JSON.parse(readFileSync(join(runDir, 'stats', f), 'utf8')) as WorkerStats);
    assert.equal(stats.length, 4);
    assert.deepEqual(
      stats.map((s) => s.engine_bound),
      [24, 24, 24, 24],
      'every worker learned the capacity 20 and shares 24',
    );
  } finally {
    await proxy.close();
    await sim.close();
  }
});

test('a row whose template fails becomes a per-row E_TEMPLATE error, the rest go on', async () => {
  const runDir = tempDir('worker');
  const jobPath = join(runDir, 'job.json');
  const job = jobFor(runDir, engine.endpoint, { prompt: { user: 'Say {{ word.upper() }}.' } });
  writeFileSync(jobPath, JSON.stringify(job));
  const input = `${[JSON.stringify({ _k: 'a', word: 'ok', _c: null }), JSON.stringify({ _k: 'b', word: 5, _c: null })].join('\n')}\n`;
  const r = await runWorker(jobPath, input);
  assert.equal(r.code, 0, r.stderr);
  const byKey = new Map(
    r.stdout
      .trim()
      .split('\n')
      .map((l) => {
        const o = JSON.parse(l) as Record<string, unknown>;
        return [o.k, o] as const;
      }),
  );
  assert.equal(byKey.get('a')?.error_code, null);
  assert.equal(byKey.get('b')?.error_code, 'E_TEMPLATE');
  assert.equal(byKey.get('b')?.attempts, 0, 'nothing was sent for it');
});

test('a line that is not protocol JSON fails the task (exit non-zero) with a short stderr reason', async () => {
  const runDir = tempDir('worker');
  const jobPath = join(runDir, 'job.json');
  writeFileSync(jobPath, JSON.stringify(jobFor(runDir, engine.endpoint)));
  const r = await runWorker(jobPath, 'not json\n');
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /not JSON/);
  assert.ok(r.stderr.length < 2048);
});

test('prefix_order auto on llama-server: each document stays on its slot, and the stats count what the engine took from its cache', {
  timeout: 600_000,
}, async () => {
  // 4 documents × 4 questions, in the order the prefix plan hands a partition to its worker.
  const run = async (order: 'auto' | 'off'): Promise<{ cached: number; known: number; prompt: number; log: string }> => {
    const runDir = tempDir('worker');
    const jobPath = join(runDir, 'job.json');
    const job = jobFor(runDir, engine.endpoint, {
      prompt: { user: '{{ doc }}\n\nQuestion: {{ q }}' },
      engine: { endpoint: engine.endpoint, kind: 'llama-server', concurrency: 4, prefix_order: order },
    });
    writeFileSync(jobPath, JSON.stringify({ ...job, run: { ...job.run, columns: ['doc', 'q'] } }));
    const doc = (d: number): string =>
      `[${order}] Document ${d}: ${Array.from({ length: 25 }, (_, i) => `fact ${i} about item ${d}.`).join(' ')}`;
    const lines: string[] = [];
    for (let d = 0; d < 4; d++)
      for (let q = 0; q < 4; q++) lines.push(JSON.stringify({ _k: `d${d}q${q}`, doc: doc(d), q: `What is fact ${q}?`, _c: null }));
    const r = await runWorker(jobPath, `${lines.join('\n')}\n`);
    assert.equal(r.code, 0, r.stderr);
    const out = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.deepEqual(out.map((l) => l.k).sort(), lines.map((l) => (JSON.parse(l) as { _k: string })._k).sort());
    assert.ok(out.every((l) => l.error_code === null));
    const stats = readdirSync(join(runDir, 'stats')).filter((f) => f.endsWith('.json'));
    const s = JSON.parse(readFileSync(join(runDir, 'stats', stats[0] ?? ''), 'utf8')) as Record<string, number>;
    const log = readdirSync(join(runDir, 'logs'))
      .filter((f) => f.startsWith('worker-'))
      .map((f) => readFileSync(join(runDir, 'logs', f), 'utf8'))
      .join('');
    return { cached: s.prompt_tokens_cached ?? 0, known: s.prompt_tokens_cache_known ?? 0, prompt: s.prompt_tokens ?? 0, log };
  };
  const off = await run('off');
  const auto = await run('auto');
  assert.match(auto.log, /engine has 4 slots/);
  for (const r of [off, auto]) assert.equal(r.known, r.prompt, 'llama-server reports its cache use on every answer');
  // In this order the FIFO sends one document to all 4 slots at once; slot affinity sends it to one.
  assert.ok(
    auto.known - auto.cached < off.known - off.cached,
    `evaluated prompt tokens: slot affinity ${auto.known - auto.cached}, FIFO ${off.known - off.cached}`,
  );
});
