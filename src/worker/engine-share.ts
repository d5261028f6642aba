/**
 * The worker's side of sharing its engine with the other workers of this host
 * (scheduler/share.ts): an adaptive window is capped by its share of the engine, on the file
 * board of the worker's endpoint, and re-divided once a second. A fixed window
 * (`engine.concurrency: N`) is the user's own choice: it joins the board (its members divide a
 * rate limit) but is not capped.
 */
import { FileBoard, boardDirFor } from '../scheduler/board-file.ts';
import { EngineShare, SharedWindow } from '../scheduler/share.ts';
import type { AdaptiveWindowLike } from '../scheduler/signals.ts';

export interface WorkerShare {
  window: AdaptiveWindowLike;
  /** Workers on this engine's board at the last tick, this one included (1 without a board). */
  members(): number;
  /** Stops the ticks and takes this worker's claim off the board. */
  leave(): void;
}

/**
 * @param noQueue true when the slot-affinity queue runs (prefix plan on llama-server): requests
 *   beyond the slots would take any slot and evict its cached prefix, so the bound is the slots.
 *   Otherwise the window's own law for a slot engine: `1 + slots` queued beyond the slots.
 */
export function shareEngine(
  window: AdaptiveWindowLike,
  o: { adaptive: boolean; endpoint: string; id: string; noQueue: boolean; log: (m: string) => void },
): WorkerShare {
  const board = new FileBoard(boardDirFor(o.endpoint), { warn: o.log });
  board.sweepSiblings();
  const share = new EngineShare({ board, id: o.id, pid: process.pid });
  // A fixed window still joins the board, uncapped: the rate gate divides a rate limit by its members.
  const queue = o.noQueue ? () => 0 : (slots: number) => 1 + slots;
  const shared = new SharedWindow(window, share, o.adaptive ? queue : undefined);
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
    },
  };
}
