/** fetch with a deadline, and the retry schedule of uploads. */

/** fetch that aborts after `ms` milliseconds (rejects like a network error). */
export async function fetchWithTimeout(url: string, init: RequestInit, ms: number): Promise<Response> {
  const ctl = new AbortController();
  const t = setTimeout(() => ctl.abort(), ms);
  try {
    return await fetch(url, { ...init, signal: ctl.signal, credentials: 'omit', cache: 'no-store' });
  } finally {
    clearTimeout(t);
  }
}

export const BACKOFF_BASE_MS = 2000;
export const BACKOFF_MAX_MS = 10 * 60_000;

/**
 * Delay before retry number `attempt` (1-based): exponential with "equal jitter", so a fleet of devices
 * that failed together does not retry together. `random` is in [0, 1).
 */
export function backoffDelay(
  attempt: number,
  random: number,
  base = BACKOFF_BASE_MS,
  max = BACKOFF_MAX_MS,
): number {
  const exp = Math.min(max, base * 2 ** Math.max(0, attempt - 1));
  return exp / 2 + (exp / 2) * random;
}

/** True for HTTP statuses worth retrying: server errors, rate limits, timeouts. */
export function isRetryable(status: number): boolean {
  return status >= 500 || status === 429 || status === 408;
}

/** A random id of 32 [A-Za-z0-9_-] characters (a UUID without dashes, a crypto source). */
export function randomId(): string {
  if (typeof crypto.randomUUID === 'function') return crypto.randomUUID().replace(/-/g, '');
  const b = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}
