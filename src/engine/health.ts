/**
 * Waiting for an engine's `/health`: at start (startup_timeout) and after an outage
 * (outage_timeout). llama-server answers 503 while it loads the model; vLLM refuses connections
 * until it is ready. Both answer 200 when they can serve.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { EngineClient, type EngineLogger } from './client.ts';
import { ConnectError, EngineOutageError, TimeoutError, excerpt } from './errors.ts';
import { badArgument, checkNumber } from '../checks.ts';

export interface WaitForHealthOptions {
  /** The client to poll with (its control pool). Exclusive with `rootUrl`. */
  client?: EngineClient | undefined;
  /** Server root (`http://127.0.0.1:8080`) or endpoint (`…/v1`); a private client is made and closed. */
  rootUrl?: string | undefined;
  /** Give up after this long, in ms. */
  timeoutMs: number;
  /** Pause between polls, in ms. Default 500. */
  intervalMs?: number;
  /** Limit per poll, in ms. The last poll may overrun `timeoutMs` by up to this much. Default 5_000. */
  pollTimeoutMs?: number;
  /** Log a progress line at most this often, in ms. Default 5_000. */
  logEveryMs?: number;
  /** Stops waiting; the call then rejects with the signal's reason. */
  signal?: AbortSignal | undefined;
  logger?: EngineLogger | undefined;
  /** Clock in ms. Default `performance.now`. */
  now?: () => number;
  /** Sleep that honours the signal. Default `timers/promises` setTimeout. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

export interface HealthResult {
  /** How long the wait took, in ms. */
  waitedMs: number;
  /** Number of polls, including the successful one. */
  polls: number;
}

const defaultSleep = (ms: number, signal?: AbortSignal): Promise<void> => delay(ms, undefined, signal ? { signal } : {});

function nonNegative(name: string, v: unknown, fallback?: number): number {
  return checkNumber(name, v ?? fallback, 0);
}

/** A short human description of one failed poll. */
export function describeHealthFailure(outcome: { status: number; text: string } | unknown): string {
  if (outcome instanceof ConnectError) return outcome.errno === 'ECONNREFUSED' ? 'connection refused' : `cannot connect (${outcome.errno})`;
  if (outcome instanceof TimeoutError) return `no answer within ${outcome.timeoutMs}ms`;
  if (typeof outcome === 'object' && outcome !== null && 'status' in outcome && typeof outcome.status === 'number') {
    const text = 'text' in outcome && typeof outcome.text === 'string' ? excerpt(healthMessage(outcome.text)).slice(0, 120) : '';
    const kind = outcome.status === 503 ? ' (loading)' : '';
    return `HTTP ${outcome.status}${kind}${text ? `: ${text}` : ''}`;
  }
  return outcome instanceof Error ? outcome.message : String(outcome);
}

/** llama-server wraps its message as {"error":{"message":"Loading model"}}; show just the message. */
function healthMessage(text: string): string {
  try {
    const j = JSON.parse(text) as { error?: { message?: unknown } };
    if (typeof j.error?.message === 'string') return j.error.message;
  } catch {
    /* not JSON: show the text */
  }
  return text;
}

/** One `/health` answer: `ok` on 200; otherwise `state` says what was seen (`connection refused`, `HTTP 503 (loading): Loading model`). */
export interface ProbeResult {
  ok: boolean;
  state: string;
}

/**
 * GET `/health` once through `client`'s control pool. Never rejects on an engine's failure (a
 * refused connection or a timeout is an answer too); rejects only with `signal`'s reason.
 */
export async function probeHealth(client: EngineClient, timeoutMs: number, signal?: AbortSignal): Promise<ProbeResult> {
  try {
    const res = await client.get('/health', { signal, timeoutMs: Math.max(1, Math.ceil(timeoutMs)) });
    return res.status === 200 ? { ok: true, state: 'ok' } : { ok: false, state: describeHealthFailure(res) };
  } catch (err) {
    if (signal?.aborted) throw signal.reason;
    if (!(err instanceof Error)) throw err;
    return { ok: false, state: describeHealthFailure(err) };
  }
}

/**
 * Polls `/health` (probeHealth) until it answers 200. Logs `waiting for engine at URL (15s of 600s): STATE`
 * about every `logEveryMs`.
 * @throws EngineOutageError naming the URL and the last observed state when `timeoutMs` passes
 */
export async function waitForHealth(options: WaitForHealthOptions): Promise<HealthResult> {
  if ((options.client === undefined) === (options.rootUrl === undefined)) {
    throw badArgument('Expected exactly one of `client` or `rootUrl`');
  }
  const timeoutMs = nonNegative('timeoutMs', options.timeoutMs);
  const intervalMs = nonNegative('intervalMs', options.intervalMs, 500);
  const pollTimeoutMs = nonNegative('pollTimeoutMs', options.pollTimeoutMs, 5_000);
  const logEveryMs = nonNegative('logEveryMs', options.logEveryMs, 5_000);
  const now = options.now ?? (() => performance.now());
  const sleep = options.sleep ?? defaultSleep;
  const { signal, logger } = options;
  const client =
    options.client ?? new EngineClient({ endpoint: options.rootUrl ?? '', controlTimeoutMs: Math.max(1, Math.ceil(pollTimeoutMs)) });
  const url = `${client.rootUrl}/health`;
  const started = now();
  let lastLog = -Infinity;
  let lastState = 'not polled yet';
  let polls = 0;
  try {
    for (;;) {
      signal?.throwIfAborted();
      polls++;
      const probe = await probeHealth(client, pollTimeoutMs, signal);
      if (probe.ok) {
        if (polls > 1) logger?.info(`engine at ${url} healthy after ${seconds(now() - started)}`);
        return { waitedMs: now() - started, polls };
      }
      lastState = probe.state;
      const after = now() - started;
      if (after >= timeoutMs) throw new EngineOutageError(url, lastState, after);
      if (after - lastLog >= logEveryMs) {
        lastLog = after;
        logger?.info(`waiting for engine at ${url} (${seconds(after)} of ${seconds(timeoutMs)}): ${lastState}`);
      }
      await sleep(Math.min(intervalMs, timeoutMs - after), signal);
    }
  } finally {
    if (options.client === undefined) await client.close();
  }
}

function seconds(ms: number): string {
  return `${Math.round(ms / 1000)}s`;
}
