/** Waiting on a condition in tests: poll it, bounded in time, and name it when it never holds. */
import { setTimeout as delay } from 'node:timers/promises';

/** Polls `pred` every `everyMs` until it holds; throws after `timeoutMs` naming `what`. */
export async function waitFor(what: string, pred: () => boolean, timeoutMs: number, everyMs = 50): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await delay(everyMs);
  }
}
