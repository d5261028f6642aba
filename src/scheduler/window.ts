/**
 * The in-flight window: how many requests a worker keeps at the engine. `FixedWindow` (here) is
 * `engine.concurrency: N`; `AdaptiveWindow` (adaptive.ts) is `auto`; `makeWindow` picks one for a
 * job. The worker's dispatch loop asks `limit()` before each send and reports every start and
 * completion (signals.ts); a metrics poller (poller.ts) reports the engine's own load.
 */
import { SpecError } from '../errors.ts';
import { checkInt } from '../checks.ts';
import { AdaptiveWindow, type AdaptiveWindowOptions } from './adaptive.ts';
import type { AdaptiveWindowLike } from './signals.ts';

/** `engine.concurrency: N`: always N in flight. */
export class FixedWindow implements AdaptiveWindowLike {
  readonly #n: number;
  constructor(n: number) {
    this.#n = checkInt('concurrency', n, 1);
  }
  limit(): number {
    return this.#n;
  }
  onStart(): void {}
  onComplete(): void {}
}

/** The part of `engine` in the job spec that picks the window. */
export interface WindowSpec {
  concurrency: 'auto' | number;
  concurrency_min?: number | undefined;
  concurrency_max?: number | undefined;
}

/** `concurrency: N` → FixedWindow(N); `auto` → AdaptiveWindow within [concurrency_min, concurrency_max]. */
export function makeWindow(spec: WindowSpec, deps: Pick<AdaptiveWindowOptions, 'now' | 'logger'> = {}): AdaptiveWindowLike {
  if (spec === null || typeof spec !== 'object') throw new SpecError(`Expected an engine spec object, got \`${String(spec)}\``);
  if (spec.concurrency === 'auto') {
    return new AdaptiveWindow({
      ...(spec.concurrency_min !== undefined ? { min: spec.concurrency_min } : {}),
      ...(spec.concurrency_max !== undefined ? { max: spec.concurrency_max } : {}),
      ...deps,
    });
  }
  if (typeof spec.concurrency !== 'number')
    throw new SpecError(
      `Expected \`concurrency\` to be "auto" or a number from 1 and up, got \`${String(spec.concurrency)}\` (${typeof spec.concurrency})`,
    );
  return new FixedWindow(spec.concurrency);
}
