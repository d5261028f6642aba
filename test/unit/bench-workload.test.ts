/**
 * The GPU bench's varied workload (bench/lib/workload.ts): the worker must send each OpenAI Batch
 * line's body as written (with the job's model), so both arms generate the same tokens.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { batchLineRows, bodiesFor, protocolLine, questionRows, resolvedJob } from '../../bench/lib/workload.ts';
import { parseInputLine } from '../../src/worker/input.ts';

const opts = {
  name: 'w',
  endpoint: 'http://127.0.0.1:1/v1',
  engineKind: 'llama-server' as const,
  maxTokens: 64,
  concurrency: 'auto' as const,
  model: 'm',
  inputPath: '/tmp/unused',
  outputPath: '/tmp/unused-out',
  runDir: '/tmp/unused-run',
  openaiBatch: true,
};

test('batchLineRows: seeded lengths in [lo, hi] with the requested mean; the worker sends each body as written', () => {
  const rows = batchLineRows(questionRows(2000, 3), 'm', 16, 112);
  const lengths = rows.map((r) => (JSON.parse(r._line as string) as { body: { max_tokens: number } }).body.max_tokens);
  assert.ok(lengths.every((n) => n >= 16 && n <= 112));
  assert.equal(new Set(lengths).size > 90, true, 'lengths spread over the range');
  const mean = lengths.reduce((a, b) => a + b, 0) / lengths.length;
  assert.ok(Math.abs(mean - 64) < 3, `mean ${mean}`);
  assert.deepEqual(batchLineRows(questionRows(5, 3), 'm', 16, 112), batchLineRows(questionRows(5, 3), 'm', 16, 112));

  const job = resolvedJob(opts);
  assert.deepEqual(job.run.columns, ['_line']);
  const { path, bodies } = bodiesFor(job, rows.slice(0, 50));
  assert.equal(path, '/v1/chat/completions');
  for (const [i, body] of bodies.entries()) {
    const sent = JSON.parse(body) as Record<string, unknown>;
    const line = JSON.parse(rows[i]?._line as string) as { body: Record<string, unknown> };
    assert.equal(sent.ignore_eos, true);
    assert.deepEqual(sent, { ...line.body, model: 'm' });
  }
  // The protocol line round-trips the raw line the worker reads.
  const parsed = parseInputLine(protocolLine(rows[0] ?? {}, job.run.columns, 'k0'));
  assert.equal(parsed.row._line, rows[0]?._line);
});
