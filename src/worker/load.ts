/**
 * Feeds the engine's own load metrics (/metrics) to the adaptive window. An engine without metrics
 * (a generic OpenAI server) simply leaves the window on latency and error signals. For
 * llama-server it first asks /slots for the slot count (the window's starting point, see
 * `AdaptiveWindow.onEngineCapacity`). For vLLM it first reads /metrics once: a shared window sets
 * its learned bound from that sample (scheduler/capacity.ts). Any other engine just starts slowly.
 */
import type { EngineClient } from '../engine/client.ts';
import { engineLoad } from '../engine/prometheus.ts';
import { loadFromLlamaSlots, pollEngineLoad } from '../scheduler/poller.ts';
import type { AdaptiveWindowLike } from '../scheduler/signals.ts';

export interface LoadPolling {
  /** Stops polling. */
  stop(): void;
  /**
   * Settles once the engine's capacity is known or known to be unknown (/slots answered or
   * failed; at once for engines without /slots): the worker sends its first request after it, so
   * that a shared window divides the engine from the first request on (scheduler/share.ts).
   */
  capacity: Promise<void>;
}

export function startLoadPolling(
  client: EngineClient,
  window: AdaptiveWindowLike,
  signal: AbortSignal,
  log: (m: string) => void,
  engineKind?: string,
  onSlots?: (slots: number) => void,
): LoadPolling {
  const ac = new AbortController();
  const both = AbortSignal.any([signal, ac.signal]);
  const stop = (): void => ac.abort();
  let capacity: Promise<void> = Promise.resolve();
  // onSlots: the slot count for the slot-affinity queue (slot-affinity.ts), with a fixed window too.
  if (engineKind === 'llama-server' && (window.onEngineCapacity !== undefined || onSlots !== undefined)) {
    capacity = client.get('/slots', { signal: both }).then(
      (res) => {
        const slots = res.status === 200 ? loadFromLlamaSlots(res.text) : undefined;
        if (slots === undefined) return log(`engine capacity unknown (/slots answered ${res.status}): slow start from the initial window`);
        log(`engine has ${slots.slots} slots, ${slots.running} busy`);
        onSlots?.(slots.slots);
        window.onEngineCapacity?.(slots.slots, slots.running);
      },
      (err: unknown) => {
        if (!both.aborted) log(`engine capacity unknown (/slots: ${String(err)}): slow start from the initial window`);
      },
    );
  }
  if (engineKind === 'vllm' && window.onEngineLoad !== undefined) {
    capacity = client.get('/metrics', { signal: both }).then(
      (res) => {
        const load = res.status === 200 ? engineLoad(res.text) : undefined;
        if (load?.running === undefined || load.waiting === undefined)
          return log(`engine load unknown (/metrics answered ${res.status}): no shared bound until metrics come`);
        log(`engine runs ${load.running} requests, ${load.waiting} waiting`);
        window.onEngineLoad?.(load);
      },
      (err: unknown) => {
        if (!both.aborted) log(`engine load unknown (/metrics: ${String(err)}): no shared bound until metrics come`);
      },
    );
  }
  if (window.onEngineLoad === undefined) return { stop, capacity };
  void pollEngineLoad({
    // A transport error is rethrown (the poller retries); only a non-200 answer means "no metrics".
    fetchMetrics: async () => {
      const res = await client.get('/metrics', { signal: both });
      return res.status === 200 ? res.text : undefined;
    },
    parse: engineLoad,
    intervalMs: 1000,
    signal: both,
    onLoad: (load) => window.onEngineLoad?.(load),
  }).catch((err: unknown) => {
    if (!both.aborted) log(`metrics polling stopped: ${String(err)}`);
  });
  return { stop, capacity };
}
