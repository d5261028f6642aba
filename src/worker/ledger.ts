/**
 * The ledger: every finished result, appended before it is written to stdout, one file per task
 * attempt (`<run>/ledger/<worker id>.jsonl`).
 *
 * Durability policy: each line is handed to the OS with one write(2) before its result goes to
 * stdout, so a killed process (SIGKILL included) loses nothing it has reported. The worker writes
 * the lines finished in one event-loop turn together (output.ts, `appendLines`): one write(2) for
 * the batch, before any line of it goes to stdout. fsync(2) runs at most
 * every `fsyncIntervalMs` (default 1 s) and at close, which bounds what a machine crash can lose.
 * Readers tolerate a torn last line (see parseLedgerText in src/rundir/ledger.ts).
 */
import { closeSync, fsyncSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { errnoText, SparkinferError } from '../errors.ts';

/**
 * A write or sync of the ledger failed (a full disk, an I/O error, a quota). Fatal for the worker:
 * a result that is not in the ledger must not be reported. The message names the file and the
 * cause, for the user: `cannot append to the ledger /runs/…/w.jsonl: no space left on device (ENOSPC)`.
 */
export class LedgerWriteError extends SparkinferError {
  readonly code = 'E_RUNTIME';
  readonly errno: string;
  constructor(path: string, action: string, err: unknown) {
    super(`cannot ${action} the ledger ${path}: ${errnoText(err)}`, { cause: err });
    const code = (err as NodeJS.ErrnoException | undefined)?.code;
    this.errno = typeof code === 'string' ? code : 'EIO';
  }
}

export interface LedgerOptions {
  /** Sync to disk at most this often, in ms. Default 1000. */
  fsyncIntervalMs?: number;
  now?: () => number;
}

export class LedgerWriter {
  readonly path: string;
  #fd: number;
  #lastSync: number;
  #dirty = false;
  readonly #interval: number;
  readonly #now: () => number;

  constructor(path: string, options: LedgerOptions = {}) {
    this.path = path;
    this.#interval = options.fsyncIntervalMs ?? 1000;
    this.#now = options.now ?? Date.now;
    mkdirSync(dirname(path), { recursive: true });
    this.#fd = openSync(path, 'a');
    this.#lastSync = this.#now();
  }

  /** Appends one JSON line (without newline). */
  append(line: string): void {
    this.appendLines(`${line}\n`);
  }

  /** Appends whole lines (each ending in `\n`) with one write(2), repeated only after a short write. */
  appendLines(text: string): void {
    if (text === '') return;
    const buf = Buffer.from(text, 'utf8');
    try {
      let off = writeSync(this.#fd, buf, 0, buf.length);
      while (off < buf.length) off += writeSync(this.#fd, buf, off, buf.length - off);
    } catch (err) {
      // What was written stays: at worst a torn last line, which readers skip.
      throw new LedgerWriteError(this.path, 'append to', err);
    }
    this.#dirty = true;
    const t = this.#now();
    if (t - this.#lastSync >= this.#interval) this.sync(t);
  }

  sync(t = this.#now()): void {
    if (this.#dirty) {
      try {
        fsyncSync(this.#fd);
      } catch (err) {
        throw new LedgerWriteError(this.path, 'sync', err);
      }
    }
    this.#dirty = false;
    this.#lastSync = t;
  }

  close(): void {
    if (this.#fd < 0) return;
    try {
      this.sync();
    } finally {
      closeSync(this.#fd); // once, even when the sync failed: a second close() returns here
      this.#fd = -1;
    }
  }
}
