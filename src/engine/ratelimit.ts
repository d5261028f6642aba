/**
 * What a hosted endpoint's rate limiter says in its response headers, parsed into one `RateInfo`.
 * The worker's rate gate (scheduler/rate.ts) paces sends by it; the pipeline calls a refusal that
 * carries it a rate limit (back-pressure), not a row's failure. Headers read:
 *   - `retry-after` (RFC 9110 §10.2.3: delta-seconds or an HTTP date; parsed by retry.ts's
 *     `parseRetryAfter`);
 *   - `retry-after-ms` (milliseconds; OpenAI and Azure OpenAI send it with a 429);
 *   - `x-ratelimit-limit-requests`, `x-ratelimit-remaining-requests`, `x-ratelimit-reset-requests`
 *     and the same three for `-tokens` (OpenAI's rate-limit headers, also sent by vLLM-based and
 *     other OpenAI-compatible hosts): the limit, what is left of it, and the time until it is back
 *     to its initial state, as a Go-style duration (`1s`, `6m0s`, `20ms`, `0.5s`, `1m30.5s`) or,
 *     from some hosts, plain seconds.
 * Garbage in any header is ignored, never an error: the answer it came with still counts.
 */
import type { RateBudget, RateInfo } from './errors.ts';
import { parseRetryAfter } from './retry.ts';

export type { RateBudget, RateInfo } from './errors.ts';

/** Header names as received (undici and http1/request.ts lower-case them). */
export type HeaderMap = Readonly<Record<string, string | string[] | undefined>>;

/** A header name worth a full parse: a quick scan of the raw header block, so answers without one cost no parse. */
const HINT = /retry-after|x-ratelimit-/i;

/** True when a raw header block (CRLF-separated lines) may carry a rate-limit header. */
export function mayCarryRateInfo(rawFields: string): boolean {
  return HINT.test(rawFields);
}

/** Units of a Go-style duration (`time.Duration.String()`, which OpenAI's reset headers use), in ms. */
const UNIT_MS: Readonly<Record<string, number>> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1, us: 0.001, µs: 0.001, ns: 0.000001 };
const DURATION = /^(?:\d+(?:\.\d+)?(?:h|ms|m|s|us|µs|ns))+$/;
const DURATION_PART = /(\d+(?:\.\d+)?)(h|ms|m|s|us|µs|ns)/g;

/**
 * Parses a reset duration: Go-style (`1s`, `6m0s`, `20ms`, `0.5s`, `1m30.5s`, `1h2m3s`) or plain
 * seconds (`12`, `0.25`).
 * @returns ms, or undefined when absent or not a duration
 */
export function parseDuration(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const t = text.trim();
  if (/^\d+(\.\d+)?$/.test(t)) return Number(t) * 1000;
  if (!DURATION.test(t)) return undefined;
  let ms = 0;
  for (const m of t.matchAll(DURATION_PART)) ms += Number(m[1]) * (UNIT_MS[m[2] as string] as number);
  return ms;
}

/** A non-negative decimal count (`100`, `9999`), else undefined. */
function parseCount(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const t = text.trim();
  return /^\d+(\.\d+)?$/.test(t) ? Number(t) : undefined;
}

function first(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

function budgetOf(headers: HeaderMap, kind: 'requests' | 'tokens'): RateBudget | undefined {
  const limit = parseCount(first(headers[`x-ratelimit-limit-${kind}`]));
  const remaining = parseCount(first(headers[`x-ratelimit-remaining-${kind}`]));
  const resetMs = parseDuration(first(headers[`x-ratelimit-reset-${kind}`]));
  if (limit === undefined && remaining === undefined && resetMs === undefined) return undefined;
  return {
    ...(limit !== undefined && limit > 0 ? { limit } : {}),
    ...(remaining !== undefined ? { remaining } : {}),
    ...(resetMs !== undefined ? { resetMs } : {}),
  };
}

/**
 * The rate-limit headers of an answer.
 * @param headers lower-case header names
 * @param now epoch ms, only read for an HTTP-date `retry-after`
 * @returns undefined when no rate-limit header parsed
 */
export function rateInfoOf(headers: HeaderMap, now: number): RateInfo | undefined {
  const ms = parseCount(first(headers['retry-after-ms']));
  const retryAfterMs = ms !== undefined ? Math.round(ms) : parseRetryAfter(first(headers['retry-after']), now);
  const requests = budgetOf(headers, 'requests');
  const tokens = budgetOf(headers, 'tokens');
  if (retryAfterMs === undefined && requests === undefined && tokens === undefined) return undefined;
  return {
    ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
    ...(requests !== undefined ? { requests } : {}),
    ...(tokens !== undefined ? { tokens } : {}),
  };
}

/**
 * True for a refusal that is a rate limit: a 429 (Too Many Requests, RFC 6585) that carries any
 * rate-limit header, or a 503 that names a retry time or an exhausted budget (remaining 0).
 * Gateways (LiteLLM, OpenRouter, Azure) put `x-ratelimit-*` on every answer, so a 503 from an
 * overloaded backend behind them carries those headers too: that one stays `overload`, congestion.
 */
export function isRateLimited(status: number | undefined, info: RateInfo | undefined): boolean {
  if (info === undefined) return false;
  if (status === 429) return true;
  if (status !== 503) return false;
  return info.retryAfterMs !== undefined || info.requests?.remaining === 0 || info.tokens?.remaining === 0;
}
