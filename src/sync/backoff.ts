/**
 * First retry waits up to this long; each attempt doubles the ceiling. With the
 * default 8 attempts the ceilings add up to about 15 minutes, so a channel
 * that is down for a few minutes recovers without filling the dead-letter queue.
 */
export const BACKOFF_BASE_MS = 10_000;
/** Maximum wait computed by backoff. */
export const BACKOFF_CAP_MS = 5 * 60_000;
/** Maximum wait a channel's Retry-After can impose; longer values are capped to this. */
export const RETRY_AFTER_CAP_MS = 60 * 60_000;

/**
 * Exponential backoff with full jitter: a uniform wait between 0 and
 * min(cap, base * 2^(attempt-1)). `random` is injectable for tests. The wait
 * never drops below 100 ms, so a retry is never immediate.
 */
export function backoffMs(attempt: number, random: () => number = Math.random): number {
  const ceiling = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** Math.max(0, attempt - 1));
  return Math.max(100, Math.floor(random() * ceiling));
}

/**
 * Reads a Retry-After header, in delta seconds or as an HTTP date. Returns
 * undefined for a missing or invalid value, so the caller falls back to
 * backoff instead of retrying at once. Long waits are capped.
 */
export function parseRetryAfter(value: string | string[] | undefined, now: Date): number | undefined {
  const text = Array.isArray(value) ? value[0] : value;
  if (text === undefined) return undefined;
  const trimmed = text.trim();
  let waitMs: number;
  if (/^\d{1,10}$/.test(trimmed)) {
    waitMs = Number(trimmed) * 1000;
  } else {
    // An HTTP date always names a weekday and "GMT", which keeps bare numbers and junk out of Date.parse.
    if (!/^[A-Za-z]{3}, \d{2} [A-Za-z]{3} \d{4} \d{2}:\d{2}:\d{2} GMT$/.test(trimmed)) return undefined;
    const at = Date.parse(trimmed);
    if (Number.isNaN(at)) return undefined;
    waitMs = at - now.getTime();
  }
  if (waitMs <= 0) return undefined;
  return Math.min(waitMs, RETRY_AFTER_CAP_MS);
}
