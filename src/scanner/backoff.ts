/**
 * Retry schedule of the outbox (docs/scanner.md: "retries with backoff and jitter"). Pure: no clock, no
 * global random — both come in as arguments so the schedule can be tested exactly.
 *
 * "Full jitter" (AWS Architecture Blog, "Exponential Backoff and Jitter"): the delay before retry
 * n is uniform in [0, min(cap, base·2^(n-1))). It spreads a fleet of workers that all lost the edge
 * at the same moment, instead of having them knock again in lock-step.
 */

/** First retry waits up to this long. */
export const DEFAULT_BACKOFF_BASE_MS = 500;
/** No retry waits longer than this (before Retry-After is considered). */
export const DEFAULT_BACKOFF_CAP_MS = 60_000;
/** A Retry-After beyond this is clamped: a misconfigured server must not park the outbox for days. */
export const MAX_RETRY_AFTER_MS = 15 * 60_000;

/** Parameters of the backoff schedule. */
export interface BackoffPolicy {
  baseMs: number;
  capMs: number;
}

/** The default schedule: 0.5 s doubling up to 60 s. */
export const DEFAULT_BACKOFF: BackoffPolicy = { baseMs: DEFAULT_BACKOFF_BASE_MS, capMs: DEFAULT_BACKOFF_CAP_MS };

/**
 * Delay before the retry that follows failed attempt number `attempt` (1-based).
 *
 * @param random - a value in [0, 1), e.g. `Math.random()`; injected so tests can pin it.
 * @example
 * backoffDelayMs(3, 0.5); // 0.5 * min(60000, 500 * 4) = 1000
 */
export function backoffDelayMs(attempt: number, random: number, policy: BackoffPolicy = DEFAULT_BACKOFF): number {
  if (!Number.isInteger(attempt) || attempt < 1) throw new TypeError(`backoffDelayMs: attempt must be an integer >= 1, got ${attempt}`);
  if (!(random >= 0 && random < 1)) throw new TypeError(`backoffDelayMs: random must be in [0, 1), got ${random}`);
  // Cap the exponent before computing 2^n so a huge attempt count cannot overflow to Infinity.
  const exponent = Math.min(attempt - 1, 52);
  const ceiling = Math.min(policy.capMs, policy.baseMs * 2 ** exponent);
  return Math.floor(random * ceiling);
}

/**
 * Delay before the next retry, honouring a server's Retry-After (RFC 9110 §10.2.3): never earlier
 * than the server asked, never later than {@link MAX_RETRY_AFTER_MS} because of it.
 */
export function retryDelayMs(attempt: number, random: number, retryAfterMs: number | undefined, policy: BackoffPolicy = DEFAULT_BACKOFF): number {
  const jittered = backoffDelayMs(attempt, random, policy);
  if (retryAfterMs === undefined) return jittered;
  return Math.max(jittered, Math.min(retryAfterMs, MAX_RETRY_AFTER_MS));
}

/**
 * Parses a Retry-After header value (RFC 9110 §10.2.3): delay-seconds or an HTTP-date.
 * Returns milliseconds from `nowMs`, 0 for a date in the past, or undefined when absent/invalid.
 */
export function parseRetryAfter(value: string | undefined | null, nowMs: number): number | undefined {
  if (value === undefined || value === null) return undefined;
  const text = value.trim();
  if (/^[0-9]{1,10}$/.test(text)) return Number(text) * 1000;
  // HTTP-date (IMF-fixdate and the obsolete forms Date.parse also understands).
  if (!/^[A-Za-z]{3},? /.test(text)) return undefined;
  const at = Date.parse(text);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - nowMs);
}
