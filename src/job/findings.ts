/** What the pre-run checks found (src/job/preflight.ts): error lines (exit 2), warnings, and notes on what was not checked. */
export interface Findings {
  errors: string[];
  warnings: string[];
  notes: string[];
}
