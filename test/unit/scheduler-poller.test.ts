import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadFromLlamaSlots, pollEngineLoad, type PollOptions } from '../../src/scheduler/poller.ts';
import type { EngineLoadSample } from '../../src/scheduler/signals.ts';

/** A scripted engine: each poll takes the next answer (a string, undefined, or an Error to throw). */
function scripted(answers: Array<string | undefined | Error>, extra: Partial<PollOptions> = {}) {
  const ac = new AbortController();
  const loads: EngineLoadSample[] = [];
  const sleeps: number[] = [];
  let polls = 0;
  let noMetrics = 0;
  const done = pollEngineLoad({
    fetchMetrics: async () => {
      const a = answers[polls++];
      if (a instanceof Error) throw a;
      return a;
    },
    parse: (text) => {
      const m = /waiting (\d+) running (\d+)/.exec(text);
      return m === null ? {} : { waiting: Number(m[1]), running: Number(m[2]) };
    },
    intervalMs: 250,
    signal: ac.signal,
    onLoad: (l) => loads.push(l),
    onNoMetrics: () => noMetrics++,
    sleep: async (ms) => {
      sleeps.push(ms);
      if (polls >= answers.length) {
        ac.abort();
        throw new Error('aborted');
      } // the script is over
    },
    ...extra,
  });
  return {
    done,
    loads,
    sleeps,
    get polls() {
      return polls;
    },
    get noMetrics() {
      return noMetrics;
    },
  };
}

test('delivers every load until aborted, sleeping the interval between polls', async () => {
  const s = scripted(['waiting 1 running 8', 'waiting 3 running 8', 'waiting 0 running 7']);
  const out = await s.done;
  assert.deepEqual(out, { reason: 'aborted', loads: 3 });
  assert.deepEqual(s.loads, [
    { waiting: 1, running: 8 },
    { waiting: 3, running: 8 },
    { waiting: 0, running: 7 },
  ]);
  assert.deepEqual(s.sleeps, [250, 250, 250]);
});

test('no metrics on first contact (404 or nothing parseable) stops polling', async () => {
  for (const first of [undefined, '# HELP nothing useful\n']) {
    const s = scripted([first, 'waiting 1 running 1']);
    assert.deepEqual(await s.done, { reason: 'no-metrics', loads: 0 });
    assert.equal(s.polls, 1);
    assert.equal(s.noMetrics, 1);
  }
});

test('after metrics were seen, a missing answer or a transport error is a hiccup, not the end', async () => {
  const s = scripted([new Error('ECONNREFUSED'), 'waiting 2 running 4', undefined, new Error('reset'), 'waiting 0 running 4']);
  assert.deepEqual(await s.done, { reason: 'aborted', loads: 2 });
  assert.equal(s.noMetrics, 0);
  assert.deepEqual(s.loads, [
    { waiting: 2, running: 4 },
    { waiting: 0, running: 4 },
  ]);
});

test('an abort during the sleep ends the loop at once', async () => {
  const ac = new AbortController();
  let polls = 0;
  const done = pollEngineLoad({
    fetchMetrics: async () => {
      polls++;
      return 'x';
    },
    parse: () => ({ waiting: 0 }),
    intervalMs: 60_000,
    signal: ac.signal,
    onLoad: () => ac.abort(),
  });
  assert.deepEqual(await done, { reason: 'aborted', loads: 1 });
  assert.equal(polls, 1);
});

test('options are validated up front', async () => {
  const base: PollOptions = {
    fetchMetrics: async () => undefined,
    parse: () => undefined,
    intervalMs: 10,
    signal: new AbortController().signal,
    onLoad: () => {},
  };
  await assert.rejects(pollEngineLoad({ ...base, intervalMs: 0 }), /Expected `intervalMs` to be a number above 0, got `0` \(number\)/);
  await assert.rejects(
    pollEngineLoad({ ...base, parse: 'vllm' as unknown as PollOptions['parse'] }),
    /`parse` to be a function, got `vllm` \(string\)/,
  );
  await assert.rejects(pollEngineLoad({ ...base, signal: {} as AbortSignal }), /`signal` to be an AbortSignal/);
});

test('loadFromLlamaSlots counts busy slots', () => {
  const slots = JSON.stringify([
    { id: 0, is_processing: true },
    { id: 1, is_processing: false },
    { id: 2, is_processing: true },
  ]);
  assert.deepEqual(loadFromLlamaSlots(slots), { running: 2, slots: 3 });
  assert.equal(loadFromLlamaSlots('{"error":"slots disabled"}'), undefined);
  assert.equal(loadFromLlamaSlots('[{"id":0}]'), undefined);
  assert.equal(loadFromLlamaSlots('not json'), undefined);
  assert.equal(loadFromLlamaSlots('[]'), undefined);
});
