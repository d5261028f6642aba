/**
 * The batch capacity of an engine that publishes no slot count (vLLM), learned from its load
 * metrics, so that the workers sharing it have a never-flood bound too (docs/scheduler.md,
 * "Sharing an engine"). llama-server says its slots (`GET /slots`); vLLM's `max_num_seqs` is in
 * none of its endpoints, and what really fits also depends on the KV cache, which vLLM reports in
 * tokens, not requests. What its metrics do say, every poll: how many requests run and how many
 * wait. A request waits only when no more fit, so **the running count while some wait is what
 * fits**: the capacity, whether the scheduler's sequence limit or the KV cache set it.
 *
 * Until the engine has been seen full, the capacity is a guess that starts at PROBE_START and
 * grows by half whenever the engine runs nearly all of it with nothing waiting (a shared slow start:
 * the guess bounds the sum over all workers, where each window's own slow start would multiply
 * by the number of workers). Once learned it only rises, to a higher running count seen while
 * requests wait or with nothing waiting: what ran, fit.
 */
import { checkInt } from '../checks.ts';
import type { EngineLoadSample } from './signals.ts';

/** The first guess, in requests: small enough for any engine, seven steps from vLLM's default 256. */
export const PROBE_START = 16;
/**
 * Growth of the guess per poll while the engine runs (nearly) all of it: the next guess is this
 * times what ran. What ran fits, so a guess may pass the real capacity by at most half of it, for
 * a poll or two, before the engine is seen full; doubling would allow a whole capacity's worth of
 * queue, and a smaller step takes longer to reach the engine's size (16 to 256: 7 polls at 1.5,
 * 4 at 2, 24 at 1.125).
 */
export const PROBE_GROWTH = 1.5;
/**
 * The guess grows once the engine runs this share of it. The workers' sum in flight never quite
 * reaches the guess: answers on their way back, requests on their way out, and requests lost on
 * the way (a timeout) that the engine never saw. A probe that waited for all of it stalled below a
 * 64-sequence engine in the simulator, and at 85 % the chaos soak's timeouts stalled it. A lower
 * share costs no safety: the guess grows from what ran, so it stays within PROBE_GROWTH times the
 * capacity; it only grows when the workers did not need it.
 */
export const PROBE_FULL = 0.7;

export interface CapacityState {
  /** The capacity in effect: the learned one, or the guess while probing. */
  slots: number;
  /** `probe`: not yet seen full; `learned`: seen full at least once. */
  phase: 'probe' | 'learned';
}

export class LearnedCapacity {
  readonly #queue: (slots: number) => number;
  #slots: number;
  #phase: CapacityState['phase'] = 'probe';
  /** The previous sample's counts: "full" needs two samples in a row (below). */
  #previous: { running: number; waiting: number } | undefined;

  /**
   * @param queue the queue the bound allows beyond `slots` (the window's queue target for this engine).
   * @param remembered a capacity learned earlier in the run (a worker of an earlier task): start from it, learned.
   */
  constructor(queue: (slots: number) => number, remembered?: CapacityState) {
    this.#queue = queue;
    this.#slots = PROBE_START;
    if (remembered !== undefined) {
      const slots = checkInt('remembered.slots', remembered.slots, 1);
      // A learned capacity is taken as it is; a guess goes on from where the earlier task left it.
      this.#slots = remembered.phase === 'learned' ? slots : Math.max(PROBE_START, slots);
      this.#phase = remembered.phase;
    }
  }

  state(): CapacityState {
    return { slots: this.#slots, phase: this.#phase };
  }

  /**
   * The bound the engine's workers share: the capacity plus the queue allowed beyond it; while
   * probing, the guess alone (a guess above the capacity is already a queue).
   */
  bound(): number {
    return this.#phase === 'probe' ? this.#slots : this.#slots + Math.max(0, Math.floor(this.#queue(this.#slots)));
  }

  /** Takes one metrics sample; true when the bound changed. */
  observe(load: EngineLoadSample): boolean {
    const running = load.running;
    const waiting = load.waiting;
    if (running === undefined || waiting === undefined || !Number.isFinite(running) || !Number.isFinite(waiting)) return false;
    const before = this.bound();
    const previous = this.#previous;
    this.#previous = { running, waiting };
    if (waiting > 0) {
      // Requests also wait for a moment while the engine admits a burst (a step prefills only so
      // many tokens), with fewer running than fit. Full is a queue that stays while the running
      // count does not grow: then what runs is what fits. While probing, the guess may have been
      // above it: the learned capacity replaces it, lower or higher.
      if (previous === undefined || previous.waiting === 0 || running > previous.running || running < 1) return false;
      this.#slots = this.#phase === 'probe' ? Math.floor(running) : Math.max(this.#slots, Math.floor(running));
      this.#phase = 'learned';
    } else if (waiting === 0 && this.#phase === 'probe' && running >= PROBE_FULL * this.#slots) {
      // (Nearly) everything we may send runs, nothing waits: the engine may hold more. Grown from
      // what ran, which fits, so a guess is never above PROBE_GROWTH times the capacity.
      this.#slots = Math.max(this.#slots + 1, Math.ceil(PROBE_GROWTH * running));
    } else if (waiting === 0 && running > this.#slots) {
      // More runs than we believed fits, with nothing waiting (the KV cache holds more of the
      // current rows than of the earlier ones, or "full" was seen mid-admission): that fits. The
      // bound's queue lets it rise by up to a queue's worth per poll, never past what ran.
      this.#slots = Math.floor(running);
    }
    return this.bound() !== before;
  }
}
