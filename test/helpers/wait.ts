/**
 * The one way tests wait: poll a condition, bounded in time, and name it when it never holds.
 * Never sleep for a guessed time before an assertion; wait for what the assertion needs.
 */
import { setTimeout as delay } from 'node:timers/promises';

/**
 * Polls `pred` every `everyMs` until it holds; throws after `timeoutMs` naming `what`. `pred` may
 * be async (a fetch, a port probe) and may throw to stop the wait at once (a daemon that exited).
 */
export async function waitFor(what: string, pred: () => boolean | Promise<boolean>, timeoutMs: number, everyMs = 50): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await pred())) {
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await delay(everyMs);
  }
}
