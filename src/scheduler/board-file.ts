/**
 * The share board of the workers of one host (share.ts): a directory per engine, one small JSON
 * file per worker's claim, and a lock directory that makes an exchange atomic (`mkdir` either
 * creates it or fails, on every local filesystem). A worker's claim is dropped when its process is
 * gone (a SIGKILLed task) or when it has not been updated for `staleMs` (a process in another pid
 * namespace, a hung one). An exchange holds the lock for one directory read and one file write.
 *
 * The directory: `<tmpdir>/sparkinfer-engines/<sha256 of the endpoint, 16 hex>/`. On Kubernetes
 * each executor pod has its own /tmp and its own engine sidecar, so the board is the pod's; in
 * local mode every task of the job, and of any other job on this host using the same endpoint,
 * shares it, which is what should happen.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, rmdirSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Claim, ShareBoard } from './share.ts';
import { processAlive } from '../process-alive.ts';

export interface FileBoardOptions {
  /** A claim not updated for this long is dropped, in ms. Default 15_000. */
  staleMs?: number;
  /** A lock older than this is taken as left by a dead worker and broken, in ms. Default 2_000. */
  lockStaleMs?: number;
  /** Longest wait for the lock before exchanging without it, in ms. Default 1_000. */
  lockWaitMs?: number;
  /** Epoch ms. Default `Date.now`. */
  now?: () => number;
  /** Whether a process exists. Default: `process.kill(pid, 0)`. */
  alive?: (pid: number) => boolean;
  /** Told once when the board can't be used (a read-only or full temporary directory). */
  warn?: (message: string) => void;
}

/** The board directory for an endpoint under `root` (default: the temporary directory). */
export function boardDirFor(endpoint: string, root: string = tmpdir()): string {
  const h = createHash('sha256').update(endpoint).digest('hex').slice(0, 16);
  return join(root, 'sparkinfer-engines', h);
}

const pause = new Int32Array(new SharedArrayBuffer(4));

export class FileBoard implements ShareBoard {
  readonly dir: string;
  readonly #lock: string;
  readonly #staleMs: number;
  readonly #lockStaleMs: number;
  readonly #lockWaitMs: number;
  readonly #now: () => number;
  readonly #alive: (pid: number) => boolean;
  readonly #warn: ((message: string) => void) | undefined;
  #broken = false;

  constructor(dir: string, o: FileBoardOptions = {}) {
    this.dir = dir;
    this.#lock = join(dir, '.lock');
    this.#staleMs = o.staleMs ?? 15_000;
    this.#lockStaleMs = o.lockStaleMs ?? 2_000;
    this.#lockWaitMs = o.lockWaitMs ?? 1_000;
    this.#now = o.now ?? Date.now;
    this.#alive = o.alive ?? processAlive;
    this.#warn = o.warn;
  }

  exchange(id: string, decide: (others: readonly Claim[]) => Claim): Claim | undefined {
    if (this.#broken) return decide([]);
    let locked = false;
    try {
      mkdirSync(this.dir, { recursive: true });
      locked = this.#acquire();
      // Without the lock, another worker may be raising its hold right now: skip this round.
      if (!locked) return undefined;
      const mine = decide(this.#others(id));
      writeFileSync(this.#file(id), JSON.stringify(mine));
      return mine;
    } catch (err) {
      // Sharing is an optimisation: a board that can't be written leaves each worker on its own window.
      this.#broken = true;
      this.#warn?.(
        `engine share board ${this.dir} unusable (${(err as Error).message}): this worker shares the engine through its signals only`,
      );
      return decide([]);
    } finally {
      if (locked) this.#release();
    }
  }

  /**
   * Removes the claims of dead processes from every board beside this one, and the boards left
   * empty: a SIGKILLed worker cannot remove its own claim, and no other worker may ever use its
   * endpoint again (a test's engine on a random port). Called once, when a worker joins.
   */
  sweepSiblings(): void {
    const root = join(this.dir, '..');
    let boards: string[];
    try {
      boards = readdirSync(root);
    } catch {
      return;
    }
    for (const name of boards) {
      const dir = join(root, name);
      if (dir === this.dir) continue;
      try {
        for (const f of readdirSync(dir)) {
          if (!f.endsWith('.json')) continue;
          const c = JSON.parse(readFileSync(join(dir, f), 'utf8')) as Partial<Claim>;
          const stale = typeof c.at !== 'number' || this.#now() - c.at > this.#staleMs;
          if (stale && (typeof c.pid !== 'number' || !this.#alive(c.pid))) unlinkSync(join(dir, f));
        }
        rmdirSync(dir); // only when empty
      } catch {
        // a live claim, a board in use, or one another worker removed first
      }
    }
  }

  /** Removes this worker's claim, and the board when it was the last one (nothing left in /tmp). */
  leave(id: string): void {
    try {
      unlinkSync(this.#file(id));
    } catch {
      // already gone
    }
    try {
      rmdirSync(this.dir);
      rmdirSync(join(this.dir, '..'));
    } catch {
      // other workers' claims (or boards) are still there
    }
  }

  #file(id: string): string {
    return join(this.dir, `${id.replace(/[^A-Za-z0-9_.-]/g, '_')}.json`);
  }

  /** The live claims of the other workers; dead and stale ones are removed. */
  #others(id: string): Claim[] {
    const out: Claim[] = [];
    const now = this.#now();
    for (const name of readdirSync(this.dir)) {
      if (!name.endsWith('.json')) continue;
      const path = join(this.dir, name);
      let c: Claim | undefined;
      try {
        c = JSON.parse(readFileSync(path, 'utf8')) as Claim;
      } catch {
        c = undefined; // half-written by a worker that died mid-write
      }
      if (c !== undefined && c.id === id) continue;
      const dead =
        c === undefined ||
        typeof c.hold !== 'number' ||
        typeof c.at !== 'number' ||
        now - c.at > this.#staleMs ||
        (typeof c.pid === 'number' && !this.#alive(c.pid));
      if (dead || c === undefined) {
        try {
          unlinkSync(path);
        } catch {
          // another worker removed it first
        }
        continue;
      }
      out.push(c);
    }
    return out;
  }

  /** Takes the lock, waiting up to lockWaitMs; false when it could not. */
  #acquire(): boolean {
    const until = this.#now() + this.#lockWaitMs;
    for (;;) {
      try {
        mkdirSync(this.#lock);
        return true;
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        // ENOENT: the last worker to leave removed the empty board just now.
        if (code === 'ENOENT') mkdirSync(this.dir, { recursive: true });
        else if (code !== 'EEXIST') throw err;
      }
      try {
        // Break a stale lock by renaming it to a name of our own: of two waiters that both found it
        // stale, only one rename succeeds, so the other cannot remove the lock the first then takes.
        if (this.#now() - statSync(this.#lock).mtimeMs > this.#lockStaleMs) {
          const broken = `${this.#lock}.broken-${process.pid}-${Math.random().toString(36).slice(2)}`;
          renameSync(this.#lock, broken);
          rmdirSync(broken);
        }
      } catch {
        // released meanwhile, or another waiter broke it first
      }
      if (this.#now() > until) return false;
      Atomics.wait(pause, 0, 0, 1);
    }
  }

  #release(): void {
    try {
      rmdirSync(this.#lock);
    } catch {
      // broken as stale by another worker: nothing to release
    }
  }
}
