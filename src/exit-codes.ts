/**
 * The one table of exit codes (docs/architecture.md, "Exit codes"). The Python driver gets the same
 * numbers from python/sparkinfer/error_codes.py, generated from this file (scripts/gen-contract.ts).
 */
import { type ErrorCode, SparkinferError } from './errors.ts';

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

const UNUSABLE_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>(['E_SPEC', 'E_INPUT']);

/** The exit code of a failure with this code: 2 for an unusable job or input, else 1. */
export function exitCodeOfCode(code: ErrorCode): number {
  return UNUSABLE_CODES.has(code) ? EXIT.UNUSABLE : EXIT.RUNTIME;
}

export function exitCodeFor(err: unknown): number {
  if (err instanceof SparkinferError) return exitCodeOfCode(err.code);
  return EXIT.RUNTIME;
}
