/**
 * The worker's side of sharing its engine with the other workers of this host
 * (scheduler/share.ts): an adaptive window is capped by its share of the engine, on the file
 * board of the worker's endpoint, and re-divided once a second. A fixed window
 * (`engine.concurrency: N`) is the user's own choice: it joins the board (its members divide a
 * rate limit) but is not capped.
 */
import { FileBoard, boardDirFor } from '../scheduler/board-file.ts';
import { readEngineCapacity, writeEngineCapacity } from '../rundir/engine-capacity.ts';
import { EngineShare, SharedWindow } from '../scheduler/share.ts';
import type { AdaptiveWindowLike } from '../scheduler/signals.ts';
import type { CapacityState } from '../scheduler/capacity.ts';

export interface WorkerShare {
  window: AdaptiveWindowLike;
  /** Workers on this engine's board at the last tick, this one included (1 without a board). */
  members(): number;
  /** Stops the ticks and takes this worker's claim off the board. */
  leave(): void;
}

/**
 * The queue a bound allows beyond the engine's slots: the window's own queue target for the kind.
 * - A slot engine (llama-server): `1 + slots`, a batch-long queue. With the slot-affinity queue
 *   (`noQueue`: prefix plan on llama-server) none: requests beyond the slots would take any slot
 *   and evict its cached prefix.
 * - vLLM: `1 + slots / 8`, the window's queue target for an engine that admits a waiting request
 *   as soon as its prompt fits (scheduler/adaptive.ts, `queueTarget`).
 */
export function boundQueue(engineKind: string | undefined, noQueue: boolean): (slots: number) => number {
  if (noQueue) return () => 0;
  return engineKind === 'vllm' ? (slots) => 1 + Math.ceil(slots / 8) : (slots) => 1 + slots;
}

/**
 * vLLM tells no slot count: its workers learn the capacity from its metrics (scheduler/capacity.ts)
 * and share that bound. Other engines without a slot count (a generic OpenAI server) have no
 * bound: AIMD on latency and errors shares them.
 */
export function shareEngine(
  window: AdaptiveWindowLike,
  o: { adaptive: boolean; endpoint: string; id: string; engineKind?: string; noQueue: boolean; runDir?: string; log: (m: string) => void },
): WorkerShare {
  const board = new FileBoard(boardDirFor(o.endpoint), { warn: o.log });
  board.sweepSiblings();
  const share = new EngineShare({ board, id: o.id, pid: process.pid });
  // A fixed window still joins the board, uncapped: the rate gate divides a rate limit by its members.
  const queue = boundQueue(o.engineKind, o.noQueue);
  const learn = o.engineKind === 'vllm';
  // What an earlier task of the run learned or guessed (rundir/engine-capacity.ts): this one goes on from it.
  const remembered = learn && o.runDir !== undefined ? readEngineCapacity(o.runDir, o.endpoint) : undefined;
  if (remembered !== undefined) o.log(`engine capacity ${remembered.slots} (${remembered.phase}), from earlier in this run`);
  let last: CapacityState | undefined;
  const keep = (state: CapacityState): void => {
    if (o.runDir !== undefined) writeEngineCapacity(o.runDir, o.endpoint, state);
  };
  const shared = new SharedWindow(window, share, o.adaptive ? queue : undefined, {
    learn,
    remembered,
    onCapacity: (state) => {
      if (state.slots !== last?.slots || state.phase !== last.phase) keep(state);
      last = state;
    },
  });
  // Joined at once: the rate gate's member count holds before the first request, on any engine.
  shared.tick();
  const timer = setInterval(() => shared.tick(), 1000);
  timer.unref();
  return {
    window: shared,
    members: () => share.members(),
    leave: () => {
      clearInterval(timer);
      share.leave();
      if (last !== undefined) keep(last); // fresh for the next task
    },
  };
}
