/**
 * Named SIMULATED engine profiles, shared by the unit tests, the benchmarks and docs/scheduler.md,
 * so that the numbers quoted there come from the same model. Times are simulated ms.
 */
import type { SimEngineOptions } from '../../src/sim/engine-sim.ts';

export interface SimProfile {
  /** What it stands for. */
  description: string;
  engine: Omit<SimEngineOptions, 'clock'>;
  /** Prompt tokens per request, uniform [min, max]. */
  promptTokens: readonly [number, number];
  /** Output tokens per request, uniform [min, max]. */
  outputTokens: readonly [number, number];
}

export const PROFILES = {
  /**
   * Batch-limited: 32 slots and a KV cache that always fits them; a bounded queue of 64 answers
   * 503 past it. Throughput is flat from 32 in flight on, and only latency grows.
   */
  'slot-limited': {
    description: '32 slots, KV cache never full, queue of 64 (503 past it), step 20 ms + 0.25 ms/seq',
    engine: { slots: 32, maxWaiting: 64, baseStepMs: 20, perSeqStepMs: 0.25, prefillMsPerToken: 0.02 },
    promptTokens: [100, 300],
    outputTokens: [100, 300],
  },
  /**
   * KV-limited: 256 slots (vLLM's default max_num_seqs) but a KV cache of 30,000 tokens, which
   * holds about 50 of these requests when they have grown. Admission only checks the prompt, so
   * beyond ~50 in flight the engine preempts and recomputes; recompute is priced on the expensive
   * side (0.25 ms per token), which makes over-subscription cost about 10% of throughput.
   */
  'kv-limited': {
    description: '256 slots, 30k-token KV cache (~50 grown requests), queue of 512, recompute 0.25 ms/token',
    engine: { slots: 256, kvCapacityTokens: 30_000, maxWaiting: 512, baseStepMs: 20, perSeqStepMs: 0.25, prefillMsPerToken: 0.25 },
    promptTokens: [100, 500],
    outputTokens: [200, 800],
  },
} as const satisfies Record<string, SimProfile>;

export type SimProfileName = keyof typeof PROFILES;
