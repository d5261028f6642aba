/** The whole-second timer (src/rundir/second-timer.ts): ticks land on the wall clock's seconds, and stop stops them. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { onEachSecond } from '../../src/rundir/second-timer.ts';

test('onEachSecond: each tick within a few ms after a whole second; none after stop', async () => {
  const offsets: number[] = [];
  let resolveTwo: () => void = () => {};
  const two = new Promise<void>((r) => {
    resolveTwo = r;
  });
  const stop = onEachSecond(() => {
    offsets.push(Date.now() % 1000);
    if (offsets.length === 2) resolveTwo();
  });
  await two;
  stop();
  const after = offsets.length;
  await new Promise((r) => setTimeout(r, 1100));
  assert.equal(offsets.length, after, 'no tick after stop');
  for (const o of offsets) assert.ok(o < 100, `tick ${o} ms after the second`);
});

test('onEachSecond with an offset: ticks half-way between the seconds', async () => {
  const offsets: number[] = [];
  await new Promise<void>((resolve) => {
    const stop = onEachSecond(() => {
      offsets.push(Date.now() % 1000);
      stop();
      resolve();
    }, 500);
  });
  assert.ok(offsets[0] !== undefined && offsets[0] >= 500 && offsets[0] < 600, `tick at ${offsets[0]} ms`);
});
