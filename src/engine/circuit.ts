/**
 * A small circuit breaker for engine outages (DESIGN.md "Reliability model", 2). It opens at once
 * on connection refused, or after `failureThreshold` consecutive engine failures. While it is open
 * the worker requeues in-flight rows without spending their retry budget and waits on /health for
 * up to `outage_timeout`; when /health answers it calls `halfOpen()` and sends one probe request:
 * success closes the circuit, failure opens it again.
 */
import { ConnectError, HttpError, TimeoutError, TruncatedResponseError, BadResponseError } from './errors.ts';
import { isOutage, isRetryableStatus } from './retry.ts';

export type CircuitState = 'closed' | 'open' | 'half-open';

/** `outage`: nothing is listening (opens at once). `error`: the engine failed this request. */
export type FailureKind = 'outage' | 'error';

export interface CircuitBreakerOptions {
  /** Consecutive `error` failures that open the circuit. Default 10. */
  failureThreshold?: number;
  /** Clock in ms. Default `performance.now`. */
  now?: () => number;
  /** Called on every state change, e.g. to log it. */
  onStateChange?: (from: CircuitState, to: CircuitState, reason: string) => void;
}

/**
 * What a failed attempt means for the circuit, or undefined when it says nothing about the engine
 * being down: a row's own 4xx, a context-length error, or backpressure (429, 503, 408, 409), which
 * proves the engine is alive and is the in-flight window's business, not the breaker's.
 */
export function failureKindOf(error: unknown): FailureKind | undefined {
  if (error instanceof ConnectError) return isOutage(error) ? 'outage' : 'error';
  if (error instanceof TimeoutError || error instanceof TruncatedResponseError || error instanceof BadResponseError) return 'error';
  if (error instanceof HttpError) {
    const backpressure = error.status === 429 || error.status === 503 || error.status === 408 || error.status === 409;
    return !backpressure && isRetryableStatus(error.status) ? 'error' : undefined;
  }
  return undefined;
}

export class CircuitBreaker {
  readonly failureThreshold: number;
  readonly #now: () => number;
  readonly #onStateChange: CircuitBreakerOptions['onStateChange'];
  #state: CircuitState = 'closed';
  #consecutive = 0;
  #openedAt: number | undefined;

  constructor(options: CircuitBreakerOptions = {}) {
    const t = options.failureThreshold ?? 10;
    if (typeof t !== 'number' || !Number.isInteger(t) || t < 1) {
      throw new TypeError(`Expected \`failureThreshold\` to be a whole number from 1 and up, got \`${String(t)}\` (${typeof t})`);
    }
    this.failureThreshold = t;
    this.#now = options.now ?? (() => performance.now());
    this.#onStateChange = options.onStateChange;
  }

  get state(): CircuitState {
    return this.#state;
  }

  /** Consecutive failures since the last success. */
  get consecutiveFailures(): number {
    return this.#consecutive;
  }

  /** How long the circuit has been away from `closed` (open or half-open), in ms; 0 when closed. */
  get outageMs(): number {
    return this.#openedAt === undefined ? 0 : this.#now() - this.#openedAt;
  }

  /** False while open: the worker holds rows back and waits on /health instead. */
  get allowsRequests(): boolean {
    return this.#state !== 'open';
  }

  /** Any answer from the engine proves it is up: closes the circuit and resets the count. */
  recordSuccess(): void {
    this.#consecutive = 0;
    if (this.#state !== 'closed') {
      this.#openedAt = undefined;
      this.#set('closed', 'a request succeeded');
    }
  }

  recordFailure(kind: FailureKind): void {
    if (kind !== 'outage' && kind !== 'error') throw new TypeError(`Expected failure kind \`outage\` or \`error\`, got \`${String(kind)}\``);
    this.#consecutive++;
    if (this.#state === 'open') return;
    if (this.#state === 'half-open') return this.#open('the probe request failed');
    if (kind === 'outage') return this.#open('connection refused');
    if (this.#consecutive >= this.failureThreshold) this.#open(`${this.#consecutive} consecutive failures`);
  }

  /** /health answered 200 while open: allow one probe request. */
  halfOpen(): void {
    if (this.#state === 'open') this.#set('half-open', 'health check passed');
  }

  #open(reason: string): void {
    this.#openedAt ??= this.#now();
    this.#set('open', reason);
  }

  #set(to: CircuitState, reason: string): void {
    const from = this.#state;
    this.#state = to;
    this.#onStateChange?.(from, to, reason);
  }
}
