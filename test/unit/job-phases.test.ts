/**
 * The phases of a local run that hold logic of their own, without Spark or an engine: the resolve
 * phase's local paths and input identity (src/job/resolve.ts), the one run block and run id of
 * every target (src/plan/run-block.ts), and the commit phase's verdict from what the driver left
 * in the run directory (src/job/commit.ts).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseJobText } from '../../src/validate/job.ts';
import { inputIdentity, withLocalPaths } from '../../src/job/resolve.ts';
import { newRunId, planFingerprint, resolvedJob } from '../../src/plan/run-block.ts';
import { failureVerdict, judgeOutcome } from '../../src/job/commit.ts';
import { resolveJobForK8s } from '../../src/k8s/cli.ts';
import { resultColumns } from '../../src/plan/output-columns.ts';
import { InputError } from '../../src/errors.ts';

const JOB = `
name: t
input: { format: json, path: in.jsonl }
prompt: { api: chat, messages: [{ role: user, content: "{{ q }} {{ ctx }}" }] }
model: m
engine: { endpoint: "http://127.0.0.1:1/v1" }
output: { format: parquet, path: s3a://bucket/out }
limits: { min_rows_for_budget: 10, max_failed_fraction: 0.1 }
`;
const job = parseJobText(JOB, 'job.yaml', []);

function withRunDir(fn: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'phases-'));
  try {
    fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('resolve: local paths against the job folder, URIs kept; the identity follows the input file', () => {
  const local = withLocalPaths(job, '/jobs');
  assert.equal(local.input.path, '/jobs/in.jsonl');
  assert.equal(local.output.path, 's3a://bucket/out');
  assert.equal(job.input.path, 'in.jsonl', 'the job itself is not changed');
  withRunDir((dir) => {
    assert.equal(inputIdentity(job, dir), `json:${join(dir, 'in.jsonl')}:missing`);
    writeFileSync(join(dir, 'in.jsonl'), '{"q":1}\n');
    assert.match(inputIdentity(job, dir), new RegExp(`^json:${join(dir, 'in.jsonl')}:8:\\d+$`));
  });
});

test('plan: one run id shape and one run block for the local and the Kubernetes target', () => {
  assert.match(newRunId('t', new Date('2026-01-02T03:04:05Z')), /^t-20260102030405-[0-9a-f]{4}$/);
  const fp = planFingerprint(job, 'json:s3a://x', undefined);
  const local = resolvedJob(job, { id: 'r', dir: '/d/r', root: '/d', endpoint: 'e', engineKind: 'openai', fingerprint: fp, startedAt: 5 });
  assert.deepEqual(local.run, {
    id: 'r',
    dir: '/d/r',
    root: '/d',
    columns: ['q', 'ctx'],
    result_columns: resultColumns(job),
    endpoint: 'e',
    engine_kind: 'openai',
    fresh: false,
    retry_errors: false,
    fingerprint: fp,
    started_at: 5,
  });
  const k8s = resolveJobForK8s(job, { runId: 'r', limit: 3 });
  assert.deepEqual(Object.keys(k8s.run).sort(), [
    'columns',
    'dir',
    'endpoint',
    'engine_kind',
    'fingerprint',
    'fresh',
    'id',
    'limit',
    'result_columns',
    'retry_errors',
    'root',
  ]);
  assert.deepEqual(k8s.run.columns, local.run.columns);
});

test('commit: the driver summary within the budget succeeds; over it, an error file or nothing fails', () => {
  withRunDir((dir) => {
    assert.deepEqual(judgeOutcome({ kind: 'abort' }, dir, job.limits).exitCode, 130);
    assert.deepEqual(judgeOutcome({ kind: 'engine', message: 'gone' }, dir, job.limits), {
      status: 'failed',
      exitCode: 1,
      message: 'gone',
    });
    assert.match(judgeOutcome({ kind: 'exit', code: 1 }, dir, job.limits).message ?? '', /spark-submit exited with 1/);
    writeFileSync(join(dir, 'driver_error.json'), JSON.stringify({ exit_code: 2, message: 'no column q' }));
    assert.deepEqual(judgeOutcome({ kind: 'exit', code: 1 }, dir, job.limits), { status: 'failed', exitCode: 2, message: 'no column q' });
    writeFileSync(join(dir, 'driver_summary.json'), JSON.stringify({ rows_in: 20, rows_failed: 2 }));
    const ok = judgeOutcome({ kind: 'exit', code: 0 }, dir, job.limits);
    assert.deepEqual([ok.status, ok.exitCode, ok.message], ['succeeded', 0, undefined]);
    writeFileSync(join(dir, 'driver_summary.json'), JSON.stringify({ rows_in: 20, rows_failed: 3 }));
    const over = judgeOutcome({ kind: 'exit', code: 0 }, dir, job.limits);
    assert.deepEqual([over.status, over.exitCode], ['failed', 1]);
  });
});

test('commit: a thrown failure becomes its exit code; an unwritable file is named; anything else is rethrown', () => {
  assert.deepEqual(failureVerdict(new InputError('bad')), { status: 'failed', exitCode: 2, message: 'bad' });
  const enospc = Object.assign(new Error('no space'), { code: 'ENOSPC', path: '/r/job.json' });
  assert.match(failureVerdict(enospc).message ?? '', /^cannot write \/r\/job\.json: .*free space/);
  assert.throws(() => failureVerdict(new TypeError('bug')), TypeError);
});
