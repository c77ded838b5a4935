/** The browser's fetch as the device core's FetchLike: a deadline, no cookies, no HTTP cache. */
import type { FetchLike, HttpResponse } from '../../shared/device/http.ts';

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

/** The transport's requests through fetchWithTimeout. */
export const browserFetch: FetchLike = (url, req): Promise<HttpResponse> =>
  fetchWithTimeout(
    url,
    { method: req.method, headers: req.headers, body: req.body as BodyInit | undefined },
    req.timeoutMs,
  );
