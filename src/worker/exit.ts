/**
 * The worker's exit codes, one table (src/worker/main.ts's header says when each happens).
 */
export const WORKER_EXIT = { OK: 0, OUTAGE: 3, PROTOCOL: 4, LEDGER: 5, CANCELLED: 6 } as const;
