/** What every scenario gets from the harness, and what it gives back. */
import type { ChartSpec } from '../../src/report/chart.ts';
import type { BenchEngine } from './engines.ts';
import type { CpuSeconds } from './proc.ts';

export interface BenchContext {
  quick: boolean;
  /** `--smoke`: tiny sizes that only check the plumbing; its numbers mean nothing. */
  smoke: boolean;
  /** `--g-shared-only`: scenario g runs only its shared-engine layouts (at the run's sizes). */
  gSharedOnly?: boolean;
  /** `YYYY-MM-DD`, the results' file prefix. */
  date: string;
  resultsDir: string;
  /** Scratch space for inputs, outputs and run directories (removed at the end). */
  workDir: string;
  /** The exact command that produced this run. */
  command: string;
  /** Progress to stderr (stdout is for the one JSON object). */
  log(message: string): void;
  /** The shared warm llama-server (started on first use). */
  llama(): Promise<BenchEngine>;
  /** The engine of scenarios a–c: llama-server, or vLLM with `--engine vllm` (started on first use). */
  engine(): Promise<BenchEngine>;
  /** Results one scenario leaves for another (a → b). */
  shared: Map<string, unknown>;
}

export type KeyValue = number | string | boolean | null;

export interface ScenarioResult {
  /** The reported figures (flat; these go into the one JSON object). */
  keys: Record<string, KeyValue>;
  /** Everything else worth keeping: arms, sizes, settings. */
  details: Record<string, unknown>;
  /** CPU seconds per process class, per arm. */
  cpu: Record<string, CpuSeconds>;
  /** Commands (argv joined) each arm ran, besides the bench command itself. */
  commands: string[];
  chart: ChartSpec;
  /** How to read the numbers; goes into the results file. */
  notes: string[];
  /**
   * Checks that failed (rows not ok …): the keys and details are still written, but the scenario
   * counts as failed (`_meta.errors`, exit code 1).
   */
  problems?: string[];
}

export interface Scenario {
  /** `a` … `h`. */
  id: string;
  /** File name part: `a-ceiling`. */
  name: string;
  title: string;
  /** Scenario ids whose results this one reads (run first when selected alone). */
  needs?: string[];
  /** Left out of a whole `--quick` run (its budget is 10 minutes); `--only` still runs it. */
  fullOnly?: boolean;
  run(ctx: BenchContext): Promise<ScenarioResult>;
}

export const round = (v: number, digits = 3): number => (Number.isFinite(v) ? Number(v.toFixed(digits)) : Number.NaN);
