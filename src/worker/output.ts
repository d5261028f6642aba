/**
 * Result lines → ledger, then stdout, in batches. Lines finished in the same event-loop turn (the
 * answers of every socket that was readable at once) are joined and written with one ledger
 * `write(2)` and then one stdout write, at `setImmediate`. The contract stays per line: no line
 * reaches stdout before it is in the ledger (docs/reliability.md "The ledger").
 *
 * Backpressure: `emit` returns false while stdout wants a pause (its buffer is over the high-water
 * mark after an earlier batch); lines emitted meanwhile (the in-flight rows finishing) still join
 * the next batch, so what waits here is bounded by the in-flight window.
 */

/** Where a batch goes first: the ledger (see ledger.ts). */
export interface BatchLedger {
  /** Appends text made of whole lines, each ending in `\n`, with one write(2). */
  appendLines(text: string): void;
}

/** The part of a Writable (process.stdout) the writer uses. */
export interface BatchSink {
  write(chunk: string): boolean;
  readonly writableNeedDrain: boolean;
  once(event: 'drain', listener: () => void): unknown;
}

/** A batch is written at once when it grows past this many UTF-16 units. */
const MAX_BATCH_CHARS = 1 << 20;

export class ResultWriter {
  readonly #ledger: BatchLedger;
  readonly #out: BatchSink;
  readonly #batched: boolean;
  readonly #afterLine: ((linesWritten: number) => void) | undefined;
  readonly #onFatal: ((err: unknown) => void) | undefined;
  /** The ledger failed: nothing more is reported (a line not in the ledger must not reach stdout). */
  #failed = false;
  #pending = '';
  #pendingLines = 0;
  #written = 0;
  #scheduled = false;
  readonly #flushCb = (): void => {
    this.#scheduled = false;
    this.flush();
  };

  /**
   * @param batched false writes each line at once (ledger, then stdout), as the fault hook needs
   * @param afterLine called after each line went to stdout, with the count so far (the fault hook)
   * @param onFatal called once when the ledger write fails (the worker exits there); without it
   *   the error is thrown from `flush`
   */
  constructor(
    ledger: BatchLedger,
    out: BatchSink,
    options: {
      batched?: boolean;
      afterLine?: ((linesWritten: number) => void) | undefined;
      onFatal?: ((err: unknown) => void) | undefined;
    } = {},
  ) {
    this.#ledger = ledger;
    this.#out = out;
    this.#batched = options.batched ?? true;
    this.#afterLine = options.afterLine;
    this.#onFatal = options.onFatal;
  }

  /** Queues one line (without newline). Returns false when stdout wants a pause (see `drained`). */
  emit(line: string): boolean {
    this.#pending += `${line}\n`;
    this.#pendingLines++;
    if (!this.#batched || this.#pending.length >= MAX_BATCH_CHARS) this.flush();
    else if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(this.#flushCb);
    }
    return !this.#out.writableNeedDrain;
  }

  /** Writes the queued lines now: ledger first, then stdout. */
  flush(): void {
    if (this.#pendingLines === 0 || this.#failed) return;
    const text = this.#pending;
    const n = this.#pendingLines;
    this.#pending = '';
    this.#pendingLines = 0;
    try {
      this.#ledger.appendLines(text);
    } catch (err) {
      this.#failed = true;
      if (this.#onFatal === undefined) throw err;
      this.#onFatal(err);
      return;
    }
    this.#out.write(text);
    if (this.#afterLine !== undefined) {
      for (let i = 0; i < n; i++) this.#afterLine(++this.#written);
    } else this.#written += n;
  }

  /** Resolves once stdout has drained (call after `emit` returned false). */
  drained(): Promise<void> {
    if (!this.#out.writableNeedDrain) return Promise.resolve();
    return new Promise((res) => {
      this.#out.once('drain', () => res());
    });
  }

  /** Lines handed to stdout so far. */
  get written(): number {
    return this.#written;
  }
}
