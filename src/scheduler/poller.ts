/**
 * Polls the engine's own load metrics for the adaptive window. It knows nothing about HTTP or
 * metric names: the caller injects `fetchMetrics` (GET /metrics) and `parse` (Prometheus text →
 * load), so the same loop serves vLLM, llama-server and the simulator.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { SpecError } from '../errors.ts';
import { checkAbove, checkFunction } from '../checks.ts';
import type { EngineLoadSample, WindowLogger } from './signals.ts';

export interface PollOptions {
  /**
   * Fetches the metrics text. Resolve `undefined` when the engine has none (404, metrics off);
   * throw on a transport failure (the poll is then retried next period).
   */
  fetchMetrics: (signal: AbortSignal) => Promise<string | undefined>;
  /** Extracts the load; a result without `waiting`, `running` or `kvUsage` means "no metrics". */
  parse: (text: string) => EngineLoadSample | undefined;
  /** Poll period in ms. */
  intervalMs: number;
  /** Stops the loop. */
  signal: AbortSignal;
  onLoad: (load: EngineLoadSample) => void;
  /** Called once when polling stops for lack of metrics. */
  onNoMetrics?: () => void;
  /** Sleep that rejects when aborted. Default: node:timers/promises setTimeout. */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  logger?: WindowLogger | undefined;
}

export interface PollOutcome {
  /** `aborted`: the signal fired; `no-metrics`: the engine has no usable metrics. */
  reason: 'aborted' | 'no-metrics';
  /** Polls that delivered a load. */
  loads: number;
}

const usable = (l: EngineLoadSample | undefined): l is EngineLoadSample =>
  l !== undefined && [l.waiting, l.running, l.kvUsage].some((x) => typeof x === 'number' && Number.isFinite(x));

/**
 * Runs until `signal` aborts. An engine that answers without usable metrics before it ever had
 * some (404, metrics disabled, a generic server) stops the loop with `no-metrics`: the window then
 * runs on latency and errors. Once metrics have been seen, a missing answer is an engine hiccup
 * (a restart), not a lack of metrics, so polling goes on; the window ignores stale loads anyway.
 */
export async function pollEngineLoad(options: PollOptions): Promise<PollOutcome> {
  const o = options;
  if (o === null || typeof o !== 'object') throw new SpecError(`Expected poll options to be an object, got \`${String(o)}\``);
  checkFunction('fetchMetrics', o.fetchMetrics);
  checkFunction('parse', o.parse);
  checkFunction('onLoad', o.onLoad);
  checkAbove('intervalMs', o.intervalMs, 0);
  if (!(o.signal instanceof AbortSignal)) throw new SpecError(`Expected \`signal\` to be an AbortSignal, got \`${String(o.signal)}\``);
  const sleep = o.sleep ?? ((ms: number, signal: AbortSignal) => delay(ms, undefined, { signal }));
  let loads = 0;
  let failures = 0;
  while (!o.signal.aborted) {
    let load: EngineLoadSample | undefined;
    let missing = false;
    try {
      const text = await o.fetchMetrics(o.signal);
      if (text === undefined) missing = true;
      else {
        load = o.parse(text);
        missing = !usable(load);
      }
      failures = 0;
    } catch (err) {
      if (o.signal.aborted) break;
      // Transport trouble: say so once per streak, then keep trying at the same pace.
      if (failures++ === 0) o.logger?.debug?.(`metrics poll failed: ${(err as Error)?.message ?? String(err)}`);
    }
    if (o.signal.aborted) break;
    if (missing && loads === 0) {
      o.logger?.info?.('engine has no usable load metrics: the window runs on latency and errors');
      o.onNoMetrics?.();
      return { reason: 'no-metrics', loads };
    }
    if (load !== undefined && !missing) {
      loads++;
      o.onLoad(load);
    }
    try {
      await sleep(o.intervalMs, o.signal);
    } catch {
      break;
    }
  }
  return { reason: 'aborted', loads };
}

/**
 * llama-server's `GET /slots` (enabled by default; `--no-slots` turns it off) lists every slot
 * with `is_processing`. Busy slots are the running requests and the slot count is the batch
 * ceiling. The waiting queue is not in it: take `llamacpp:requests_deferred` from /metrics.
 * Returns undefined for anything that is not a slot list.
 */
export function loadFromLlamaSlots(text: string): { running: number; slots: number } | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!Array.isArray(parsed) || parsed.length === 0) return undefined;
  let running = 0;
  for (const slot of parsed) {
    if (slot === null || typeof slot !== 'object') return undefined;
    const busy = (slot as Record<string, unknown>).is_processing;
    if (typeof busy !== 'boolean') return undefined;
    if (busy) running++;
  }
  return { running, slots: parsed.length };
}
