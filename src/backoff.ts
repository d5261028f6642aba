/**
 * The one backoff formula: full-jitter exponential with a cap. Used by the engine's retry decision
 * (src/engine/retry.ts), the Kubernetes client's retries (src/k8s/client.ts) and the watch's
 * re-list after a dropped connection (src/k8s/watch.ts). The random source is injected, so tests
 * get exact waits.
 */

/** The two numbers of a backoff: the first step and the largest step before jitter, in ms. */
export interface BackoffSteps {
  /** First backoff step, in ms. */
  baseMs: number;
  /** Largest backoff step before jitter, in ms. */
  capMs: number;
}

/**
 * Full-jitter exponential backoff: uniform in [0, min(capMs, baseMs * 2^(attempt-1))), whole ms.
 * @param attempt the 1-based attempt that just failed (below 1 counts as 1)
 * @param random returns a number in [0, 1); out-of-range values are clamped (default Math.random)
 */
export function backoffMs(attempt: number, steps: BackoffSteps, random: () => number = Math.random): number {
  const exp = Math.min(steps.capMs, steps.baseMs * 2 ** Math.min(Math.max(attempt - 1, 0), 52));
  return Math.floor(unitRandom(random) * exp);
}

/** A draw of `random` kept inside [0, 1), so a bad stub can't produce negative or oversized waits. */
export function unitRandom(random: () => number): number {
  const x = random();
  return Number.isFinite(x) ? Math.min(Math.max(x, 0), 1 - Number.EPSILON) : 0;
}
