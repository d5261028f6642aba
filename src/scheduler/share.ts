/**
 * Dividing one engine between the workers that share it (docs/scheduler.md, "Sharing an engine").
 * Each worker's adaptive window hears the same engine signals, and AIMD makes their shares
 * converge, but only after the fact: workers that start together all see the same free slots and
 * all take them (the quickstart, 2 tasks on one 8-slot llama-server, had 50 requests out in its
 * first seconds). So the workers of one host that use one engine keep a board of claims: each one
 * publishes how much it wants and how much it holds, and takes more only out of the room the
 * others leave, under a lock. The sum of what is held never exceeds the engine's bound (its slots
 * plus the queue the window's law allows), from the first request on.
 *
 * - `fairShares`: max-min fair division of a bound among wants (water-filling).
 * - `EngineShare`: one worker's side: its hold, updated at each tick (before the first request,
 *   once a second, and after a drain).
 * - `SharedWindow`: an adaptive window whose limit is also capped by the hold.
 * - Boards: `MemoryBoard` (one process: the simulator, tests) and `FileBoard` in board-file.ts
 *   (the workers of one host: a directory per engine under the temporary directory).
 * Workers on other hosts that use the same endpoint are not on the board: AIMD on the engine's
 * signals shares the engine with them, as before.
 */
import { checkInt } from '../checks.ts';
import { LearnedCapacity, type CapacityState } from './capacity.ts';
import type { AdaptiveWindowLike, CompletionSample, EngineLoadSample } from './signals.ts';

/** One worker's entry on a board. */
export interface Claim {
  /** The worker's id (unique per process and board). */
  id: string;
  /** What its window would like in flight. */
  want: number;
  /** What it may have in flight, or has (requests already sent can't be taken back): at least its in-flight count. */
  hold: number;
  /** Epoch ms of its last update (a heartbeat: a claim not updated for long is dropped). */
  at: number;
  /** Its process, for the liveness check of a file board. */
  pid?: number;
  /**
   * The engine's bound as this worker has it (told by the engine, learned from its metrics, or
   * guessed while learning: capacity.ts), for a newcomer that has only its first guess.
   */
  bound?: number;
  /** Whether `bound` is known (told or learned), not a guess. */
  known?: boolean;
}

/** Where the claims of one engine's workers are kept. */
export interface ShareBoard {
  /**
   * Atomically (no other worker's exchange in between): reads the other live claims, lets
   * `decide` compute this worker's claim from them, and stores it. Undefined when it could not
   * be done atomically this time (the lock stayed taken): `decide` was then not called.
   */
  exchange(id: string, decide: (others: readonly Claim[]) => Claim): Claim | undefined;
  /** Removes this worker's claim (at the end of the task). */
  leave(id: string): void;
}

/** Claims of one process (the simulator, unit tests): exchanges are atomic by construction. */
export class MemoryBoard implements ShareBoard {
  readonly #claims = new Map<string, Claim>();
  exchange(id: string, decide: (others: readonly Claim[]) => Claim): Claim {
    const others = [...this.#claims.values()].filter((c) => c.id !== id);
    const mine = decide(others);
    this.#claims.set(id, mine);
    return mine;
  }
  leave(id: string): void {
    this.#claims.delete(id);
  }
  /** Every claim, for tests. */
  claims(): Claim[] {
    return [...this.#claims.values()];
  }
}

/**
 * Max-min fair division of `bound` among `wants` (water-filling), in whole requests: a want below
 * the equal share is met in full and its rest goes to the others. Every member's target is at
 * least 1 (with more workers than the bound, the sum is then the number of workers; what a
 * worker may actually take is further limited by the room left, see `EngineShare.tick`).
 */
export function fairShares(bound: number, wants: readonly number[]): number[] {
  const n = wants.length;
  const out = new Array<number>(n).fill(1);
  let left = Math.max(0, Math.floor(bound) - n);
  const need = wants.map((w) => Math.max(0, Math.floor(w) - 1));
  // Smallest needs first: each takes at most an equal part of what is left (rounded up, so the
  // first members in `wants` order get the odd units), and what it leaves goes to the rest.
  const order = need.map((_, i) => i).sort((a, b) => (need[a] as number) - (need[b] as number) || a - b);
  for (let k = 0; k < n; k++) {
    const i = order[k] as number;
    const give = Math.min(need[i] as number, Math.ceil(left / (n - k)));
    out[i] = (out[i] as number) + give;
    left -= give;
  }
  return out;
}

export interface EngineShareOptions {
  board: ShareBoard;
  /** This worker's id on the board. */
  id: string;
  /** Epoch ms. Default `Date.now`. */
  now?: () => number;
  /** The worker's process id, stored with its claim. */
  pid?: number;
}

/**
 * The bound a worker that only guesses divides (capacity.ts): a bound another worker of the same
 * engine knows, the largest if several; else the largest guess on the board, its own included. A
 * new task's worker would otherwise probe from its first guess, and find no room under it while
 * the others hold the engine (the chaos soak's 40 tasks ran 1.5x slower that way).
 */
function boundForGuesser(own: number, others: readonly Claim[]): number {
  const bounds = (known: boolean) =>
    others.filter((c) => typeof c.bound === 'number' && (c.known === true) === known).map((c) => c.bound as number);
  const known = bounds(true);
  return known.length > 0 ? Math.max(...known) : Math.max(own, ...bounds(false));
}

/** One worker's side of the board: how much of the engine it may hold. */
export class EngineShare {
  readonly #board: ShareBoard;
  readonly #id: string;
  readonly #now: () => number;
  readonly #pid: number | undefined;
  #bound: number | undefined;
  /** Whether `#bound` is known (told or learned) or a guess; a guesser divides `boundForGuesser`'s bound. */
  #known = true;
  /** The bound the last tick divided: `#bound`, or while this worker guesses, `boundForGuesser`'s. */
  #effective: number | undefined;
  #hold = Number.POSITIVE_INFINITY;
  #left = false;
  #members = 1;
  #want = 0;

  constructor(o: EngineShareOptions) {
    this.#board = o.board;
    this.#id = o.id;
    this.#now = o.now ?? Date.now;
    this.#pid = o.pid;
  }

  /**
   * The engine's bound (slots plus the queue allowed), once known; until then nothing is capped.
   * `known: false` for a guess (capacity.ts, before the engine was seen full): a worker that knows
   * the bound has it published on the board, and a guessing newcomer divides that one instead.
   */
  setBound(bound: number, known = true): void {
    this.#bound = checkInt('bound', bound, 1);
    this.#known = known;
    // Nothing held yet: until an exchange grants a share, send nothing (a tick that finds the lock
    // taken must not leave the worker uncapped).
    if (!Number.isFinite(this.#hold)) this.#hold = 0;
  }

  /** The bound in effect: this worker's own, or while it only guesses, the one it took from the board. */
  get bound(): number | undefined {
    return this.#effective ?? this.#bound;
  }

  /** The most this worker may have in flight: 0 while the engine is full, Infinity while its bound is unknown. */
  hold(): number {
    return this.#bound === undefined ? Number.POSITIVE_INFINITY : this.#hold;
  }

  /** Workers on the board at the last tick, this one included. */
  members(): number {
    return this.#members;
  }

  /**
   * Re-divides the engine: this worker wants `want` and has `inFlight` out. Lowering takes effect
   * at once (the published hold stays at the in-flight count until those requests end); raising
   * takes only the room that the others' published holds leave.
   */
  tick(want: number, inFlight: number): void {
    if (this.#left) return;
    this.#want = Math.max(1, Math.floor(want));
    this.#board.exchange(this.#id, (others) => {
      this.#members = others.length + 1;
      const own = this.#bound;
      const base: Omit<Claim, 'hold'> = {
        id: this.#id,
        want: this.#want,
        at: this.#now(),
        ...(this.#pid !== undefined ? { pid: this.#pid } : {}),
        ...(own !== undefined ? { bound: own, known: this.#known } : {}),
      };
      if (own === undefined) return { ...base, hold: Math.max(this.#want, inFlight) };
      const bound = this.#known ? own : boundForGuesser(own, others);
      this.#effective = bound;
      // Every member computes the same division from the same wants, in the order of their ids.
      const all = [...others, { id: this.#id, want: this.#want }].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
      const mine = all.findIndex((c) => c.id === this.#id);
      const target = fairShares(
        bound,
        all.map((c) => c.want),
      )[mine] as number;
      const current = Number.isFinite(this.#hold) ? this.#hold : 0;
      let hold = target;
      // Raising takes only the room the others' published holds leave: a newcomer to a full engine
      // holds 0 (sends nothing) until the others have come down to their shares and drained.
      if (target > current) hold = Math.max(current, Math.min(target, bound - others.reduce((s, c) => s + c.hold, 0)));
      this.#hold = hold;
      return { ...base, hold: Math.max(hold, inFlight) };
    });
  }

  /** Takes this worker's claim off the board for good: a later tick (a late answer) does not put it back. */
  leave(): void {
    this.#left = true;
    this.#board.leave(this.#id);
  }
}

/**
 * An adaptive window capped by its share of the engine: `limit()` is the smaller of the window's
 * own limit and the hold. It forwards every signal to the inner window, and re-divides the engine
 * at each `tick` (the worker calls it once a second and before its first request) and when the
 * requests above a lowered hold have drained.
 */
export class SharedWindow implements AdaptiveWindowLike {
  readonly inner: AdaptiveWindowLike;
  readonly share: EngineShare;
  /** Room the engine's queue may hold beyond its slots: `bound = slots + queue(slots)`; undefined: never capped. */
  readonly #queue: ((slots: number) => number) | undefined;
  #inFlight = 0;
  #over = false;
  /** The engine told its slots (onEngineCapacity): nothing to learn. */
  #told = false;
  readonly #growListeners: Array<() => void> = [];

  /** Only when the inner window listens: a fixed window starts no metrics polling (worker/load.ts). */
  onEngineLoad?: (load: EngineLoadSample) => void;

  /** The engine's capacity learned from its metrics (vLLM: no slot count), when asked for. */
  readonly #learned: LearnedCapacity | undefined;

  /** Told each time the learned capacity or the guess changes (the worker keeps it for the run's later tasks). */
  readonly #onCapacity: ((state: CapacityState) => void) | undefined;

  /**
   * @param o.learn learn the capacity from the engine's load metrics (capacity.ts) for an engine
   *   that tells no slot count; needs `queue` and an inner window that listens to the metrics.
   * @param o.remembered a capacity an earlier worker of the run learned, or its guess: start from it.
   */
  constructor(
    inner: AdaptiveWindowLike,
    share: EngineShare,
    queue: ((slots: number) => number) | undefined,
    o: { learn?: boolean; remembered?: CapacityState | undefined; onCapacity?: (state: CapacityState) => void } = {},
  ) {
    this.inner = inner;
    this.share = share;
    this.#queue = queue;
    this.#onCapacity = o.onCapacity;
    this.#learned =
      o.learn === true && queue !== undefined && inner.onEngineLoad !== undefined ? new LearnedCapacity(queue, o.remembered) : undefined;
    inner.onGrow?.(() => this.#grew());
    if (inner.onEngineLoad !== undefined)
      this.onEngineLoad = (load) => {
        this.#learn(load);
        inner.onEngineLoad?.(load);
      };
  }

  /**
   * The first sample sets the bound (the worker reads /metrics once before its first request);
   * each later one may raise or settle it. A slot count told by the engine wins over learning.
   */
  #learn(load: EngineLoadSample): void {
    const learned = this.#learned;
    if (learned === undefined || this.#told) return;
    const first = this.share.bound === undefined;
    if (!learned.observe(load) && !first) return;
    const state = learned.state();
    this.share.setBound(learned.bound(), state.phase === 'learned');
    this.#onCapacity?.(state);
    this.tick();
  }

  /** 0 while the engine is full with the others' requests: the pipeline then waits for a tick that grows it. */
  limit(): number {
    return Math.min(this.inner.limit(), this.share.hold());
  }

  onGrow(listener: () => void): void {
    this.#growListeners.push(listener);
  }

  onStart(): void {
    this.#inFlight++;
    this.inner.onStart?.();
  }

  onComplete(sample: CompletionSample): void {
    if (this.#inFlight > 0) this.#inFlight--;
    this.inner.onComplete?.(sample);
    // Requests above a lowered hold have ended: publish the lower hold, so others may take the room.
    if (this.#over && this.#inFlight <= this.share.hold()) {
      this.#over = false;
      this.tick();
    }
  }

  onEngineCapacity(slots: number, busy: number): void {
    const queue = this.#queue;
    if (queue !== undefined && Number.isFinite(slots) && slots >= 1) {
      this.#told = true;
      this.share.setBound(Math.floor(slots) + Math.max(0, Math.floor(queue(Math.floor(slots)))));
    }
    // The bound first (the hold is 0 until a tick grants a share), then the inner window's jump
    // to the free slots, which wakes the pipeline: it must find the cap already in place.
    this.inner.onEngineCapacity?.(slots, busy);
    this.tick();
  }

  /** The inner window's snapshot (its cuts, faults, mode), with this worker's share of the engine. */
  snapshot(): Record<string, unknown> & { cuts?: Record<string, number>; hold: number; members: number } {
    const inner = (this.inner as { snapshot?: () => Record<string, unknown> }).snapshot?.call(this.inner) ?? {};
    const learned = this.#learned !== undefined && !this.#told ? { capacity: this.#learned.state() } : {};
    return { ...inner, limit: this.limit(), hold: this.share.hold(), members: this.share.members(), ...learned };
  }

  /** Re-divides the engine (see `EngineShare.tick`) and wakes the pipeline when the limit grew. */
  tick(): void {
    const before = this.limit();
    this.share.tick(this.inner.limit(), this.#inFlight);
    this.#over = this.#inFlight > this.share.hold();
    if (this.limit() > before) this.#grew();
  }

  #grew(): void {
    for (const l of this.#growListeners) l();
  }
}
