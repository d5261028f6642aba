/** The one table of exit codes (docs/architecture.md, "Exit codes"). */
import { SparkinferError } from './errors.ts';

export const EXIT = {
  /** Completed; failed rows within limits.max_failed_fraction. */
  OK: 0,
  /** Runtime failure: engine unreachable, failure budget exceeded, Spark failed, Kubernetes app FAILED. */
  RUNTIME: 1,
  /** Unusable job or input: spec/unit errors, missing columns, duplicate keys, output exists, fingerprint mismatch. */
  UNUSABLE: 2,
  /** Interrupted (Ctrl-C). */
  INTERRUPTED: 130,
} as const;

const UNUSABLE_CODES = new Set(['E_SPEC', 'E_INPUT']);

export function exitCodeFor(err: unknown): number {
  if (err instanceof SparkinferError) return UNUSABLE_CODES.has(err.code) ? EXIT.UNUSABLE : EXIT.RUNTIME;
  return EXIT.RUNTIME;
}
