/** The driver's progress line (python/sparkinfer/watch.py) is what `sparkinfer logs` parses (src/k8s/logs.ts). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../helpers/cli.ts';
import { parseProgressLine } from '../../src/k8s/logs.ts';
import { tempDir } from '../helpers/tmp.ts';

test('a driver progress line round-trips into the CLI progress', () => {
  const run = tempDir('progress');
  mkdirSync(join(run, 'stats'));
  writeFileSync(join(run, 'plan.json'), JSON.stringify({ rows_total: 40 }));
  writeFileSync(
    join(run, 'stats', 'a.json'),
    JSON.stringify({ rows_done: 12, rows_failed: 1, prompt_tokens: 100, completion_tokens: 48, inflight: 4, done: false }),
  );
  writeFileSync(
    join(run, 'stats', 'b.json'),
    JSON.stringify({ rows_done: 8, rows_failed: 0, prompt_tokens: 60, completion_tokens: 32, inflight: 3, done: true }),
  );
  const r = spawnSync(
    join(ROOT, '.venv/bin/python'),
    ['-c', 'import sys; sys.path.insert(0, "python"); from sparkinfer import watch; watch.emit_progress(sys.argv[1], 30.0)', run],
    { cwd: ROOT, encoding: 'utf8' },
  );
  assert.equal(r.status, 0, r.stderr);
  const p = parseProgressLine(r.stderr.trim());
  assert.ok(p !== undefined, r.stderr);
  assert.equal(p.rowsDone, 20);
  assert.equal(p.rowsFailed, 1);
  assert.equal(p.completionTokens, 80);
  assert.equal(p.inflight, 4, 'finished workers hold nothing in flight');
  assert.equal(p.rowsTotal, 40);
  assert.equal(p.elapsedMs, 30_000);
});
