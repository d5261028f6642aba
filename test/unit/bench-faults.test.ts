/**
 * Bench h and g's issue-37 pieces: the rate-limited arm's limit (bench/scenarios/faults.ts), the
 * job's request timeout and retries reaching the resolved job, and the shuffled random-word
 * document table (bench/lib/workload.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rateLimitFor } from '../../bench/scenarios/faults.ts';
import { randomWordDocQaRows, resolvedJob } from '../../bench/lib/workload.ts';

test('rateLimitFor: 4/s on a fast engine, below the engine where it is slower than 1.5x that, at least 1', () => {
  assert.equal(rateLimitFor(9), 4);
  assert.equal(rateLimitFor(6), 4);
  assert.equal(rateLimitFor(5.9), 3);
  assert.equal(rateLimitFor(2), 1);
  assert.equal(rateLimitFor(0.2), 1);
});

test('the job carries request_timeout and retries when given, the defaults otherwise', () => {
  const base = {
    name: 'h',
    endpoint: 'http://127.0.0.1:1/v1',
    engineKind: 'llama-server' as const,
    maxTokens: 8,
    concurrency: 'auto' as const,
    inputPath: '/tmp/unused',
    outputPath: '/tmp/unused-out',
    runDir: '/tmp/unused-run',
  };
  const job = resolvedJob({ ...base, requestTimeout: '10s', retries: 6 });
  assert.equal(job.engine.request_timeout, 10_000);
  assert.equal(job.engine.retries, 6);
  const plain = resolvedJob(base);
  assert.equal(plain.engine.request_timeout, 600_000);
  assert.equal(plain.engine.retries, 4);
});

test('randomWordDocQaRows: docs x questions rows, unique ids, each document `questions` times, words as asked, shuffled, seeded', () => {
  const rows = randomWordDocQaRows(16, 6, 700);
  assert.equal(rows.length, 96);
  assert.equal(new Set(rows.map((r) => r.id)).size, 96);
  const byDoc = new Map<string, number>();
  for (const r of rows) byDoc.set(String(r.doc), (byDoc.get(String(r.doc)) ?? 0) + 1);
  assert.equal(byDoc.size, 16);
  for (const n of byDoc.values()) assert.equal(n, 6);
  const words = String(rows[0]?.doc).split(' ').length;
  assert.equal(words, 702); // "Document N:" + 700 words
  const firstDocs = rows.slice(0, 6).map((r) => r.doc);
  assert.ok(new Set(firstDocs).size > 1, 'rows are shuffled');
  assert.deepEqual(randomWordDocQaRows(16, 6, 700), rows);
});
