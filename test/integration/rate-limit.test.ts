/**
 * A hosted provider's rate limit, for real: the worker process (from source) against a real
 * llama-server behind the rate-limiting proxy (test/helpers/rate-limit-proxy.ts) at 4 requests/s.
 * Before the rate gate this job failed: most requests were refused and rows ended E_HTTP_4XX. Now
 * every row succeeds, refusals stay rare and the worker uses most of the limit.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { JobSpec } from '../../src/jobfile/schema.ts';
import type { ResolvedJob } from '../../src/jobfile/resolved.ts';
import type { LocalEngine } from '../../src/launch/engine.ts';
import { startDemoEngine } from '../helpers/engine.ts';
import { startRateLimitProxy, type RateLimitProxy } from '../helpers/rate-limit-proxy.ts';
import { ROOT, runCommand } from '../helpers/cli.ts';
import { tempDir } from '../helpers/tmp.ts';

const RPS = 4;
const ROWS = 120;

let engine: LocalEngine;
let proxy: RateLimitProxy;
before(async () => {
  // One thread: on a shared CI box a spinning thread pool makes the engine, not the limit, the bottleneck.
  engine = await startDemoEngine({ parallel: 4, args: ['--threads', '1', '--threads-batch', '1'] });
  proxy = await startRateLimitProxy(engine.endpoint.replace(/\/v1$/, ''), { requestsPerSecond: RPS });
});
after(async () => {
  await proxy?.close();
  await engine?.stop();
});

function jobFor(runDir: string, endpoint: string): ResolvedJob {
  const job = JobSpec.parse({
    name: 'rate',
    input: { format: 'json', path: 'x' },
    prompt: { user: 'Say {{ word }}.' },
    model: 'smollm2-135m-instruct',
    sampling: { temperature: 0, max_tokens: 4 },
    engine: { endpoint, kind: 'openai' },
    output: { path: 'o' },
  });
  const run = { id: 'rate-1', dir: runDir, root: runDir, columns: ['word'], endpoint, engine_kind: 'openai' as const };
  return { ...job, run: { ...run, fresh: false, retry_errors: false, fingerprint: 'f' } };
}

test(`${ROWS} short rows at ${RPS} requests/s: every row ok, few refusals, most of the limit used`, { timeout: 120_000 }, async () => {
  const runDir = tempDir('rate');
  const jobPath = join(runDir, 'job.json');
  writeFileSync(jobPath, JSON.stringify(jobFor(runDir, proxy.endpoint)));
  const input = join(runDir, 'input.jsonl');
  writeFileSync(input, `${Array.from({ length: ROWS }, (_, i) => JSON.stringify({ _k: `k${i}`, word: `w${i}`, _c: null })).join('\n')}\n`);
  const started = Date.now();
  const r = await runCommand('bash', ['-c', `exec "${process.execPath}" "${join(ROOT, 'src/worker/main.ts')}" "${jobPath}" < "${input}"`], {
    timeoutMs: 110_000,
  });
  const wallS = (Date.now() - started) / 1000;
  const logs = join(runDir, 'logs');
  const log = readdirSync(logs)
    .map((f) => readFileSync(join(logs, f), 'utf8'))
    .join('');
  assert.equal(r.code, 0, `${r.stderr}\n${log.slice(-3000)}`);
  const results = r.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { k: string; error_code: string | null });
  assert.equal(results.length, ROWS);
  assert.equal(new Set(results.map((x) => x.k)).size, ROWS, 'every row once');
  assert.deepEqual(
    results.filter((x) => x.error_code !== null).map((x) => x.error_code),
    [],
    'every row ok: none ended E_HTTP_4XX',
  );
  const s = proxy.stats();
  const all = s.forwarded + s.refused;
  const spanS = ((s.lastAt ?? 0) - (s.firstAt ?? 0)) / 1000;
  const rate = s.forwarded / spanS;
  process.stderr.write(
    `rate limit: ${s.forwarded} forwarded, ${s.refused} refused (${((100 * s.refused) / all).toFixed(1)} %), ${rate.toFixed(2)} requests/s over ${spanS.toFixed(1)} s (limit ${RPS}/s), worker wall ${wallS.toFixed(1)} s\n`,
  );
  assert.equal(s.forwarded, ROWS, 'each row forwarded once');
  assert.ok(s.refused <= 0.15 * all, `refused ${s.refused} of ${all} requests`);
  assert.ok(rate >= 0.85 * RPS, `achieved ${rate.toFixed(2)}/s, below ${0.85 * RPS}/s`);
});
