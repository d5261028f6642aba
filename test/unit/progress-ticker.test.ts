/** The CLI's progress ticker: lines on its cadence, and Spark's REST API asked only when a line needs it. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PROGRESS_LINE_MS, ProgressTicker, TASKS_POLL_MS, type TaskCounts } from '../../src/spark/progress.ts';
import { tempDir } from '../helpers/tmp.ts';

function runDir(): string {
  const dir = tempDir('ticker');
  mkdirSync(join(dir, 'stats'));
  writeFileSync(join(dir, 'plan.json'), JSON.stringify({ rows_total: 100 }));
  writeFileSync(
    join(dir, 'stats', 'w1.json'),
    JSON.stringify({ rows_done: 30, rows_failed: 2, prompt_tokens: 10, completion_tokens: 300, inflight: 5, done: false }),
  );
  return dir;
}

async function drive(
  tty: boolean,
  answers: Array<TaskCounts | undefined>,
  seconds: number,
): Promise<{ lines: string[]; fetches: number[] }> {
  const fetches: number[] = [];
  let now = 0;
  const ticker = new ProgressTicker({
    runDir: runDir(),
    tty,
    startedMs: 0,
    fetchTasks: () => {
      fetches.push(now);
      return Promise.resolve(answers[Math.min(fetches.length - 1, answers.length - 1)]);
    },
  });
  const lines: string[] = [];
  for (now = 1000; now <= seconds * 1000; now += 1000) {
    const line = await ticker.tick(now);
    if (line !== undefined) lines.push(line);
  }
  return { lines, fetches };
}

test('without a terminal, one line per PROGRESS_LINE_MS and one REST round trip per line', async () => {
  const { lines, fetches } = await drive(false, [{ done: 1, active: 2, total: 4 }], 60);
  assert.equal(PROGRESS_LINE_MS, 10_000);
  assert.deepEqual(fetches, [1000, 11_000, 21_000, 31_000, 41_000, 51_000]);
  assert.equal(lines.length, 6);
  assert.match(lines[0] ?? '', /^30\/100 rows, 2 failed, 300\.0 tok\/s eta .* tasks 1\/4 \(2 running\) \[1\.0s\]$/);
});

test('on a terminal, a bar every tick but task counts at most every TASKS_POLL_MS, the last answer kept', async () => {
  const { lines, fetches } = await drive(true, [{ done: 1, active: 2, total: 4 }, undefined, { done: 3, active: 1, total: 4 }], 12);
  assert.equal(lines.length, 12);
  assert.deepEqual(fetches, [1000, 1000 + TASKS_POLL_MS, 1000 + 2 * TASKS_POLL_MS]);
  assert.match(lines[0] ?? '', /^\[#+\.+\] 30\/100 rows.* tasks 1\/4 \(2 running\)/);
  // The second answer failed (undefined): the bar keeps the first counts until the third.
  assert.match(lines[9] ?? '', /tasks 1\/4 \(2 running\)/);
  assert.match(lines[10] ?? '', /tasks 3\/4 \(1 running\)/);
});

test('no line before the plan or any worker exists, and no REST fetch when there is no UI', async () => {
  const dir = tempDir('ticker');
  const ticker = new ProgressTicker({ runDir: dir, tty: false, startedMs: 0 });
  assert.equal(await ticker.tick(1000), undefined);
  writeFileSync(join(dir, 'plan.json'), JSON.stringify({ rows_total: 7 }));
  assert.equal(await ticker.tick(5000), undefined, 'not due yet');
  assert.equal(await ticker.tick(11_000), '0/7 rows, 0 failed, 0.0 tok/s [11.0s]');
});
