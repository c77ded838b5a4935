/** The browser's fetch as the device core's FetchLike: a deadline, no cookies, no HTTP cache. */
import type { FetchLike, HttpResponse } from '../../shared/device/http.ts';
import type { HttpFetch } from '../../shared/tokens/client.ts';

/** fetch that aborts after `ms` milliseconds (rejects like a network error); no cookies unless `credentials` says so. */
export async function fetchWithTimeout(
  url: string,
  init: RequestInit,
  ms: number,
  credentials: RequestCredentials = 'omit',
): Promise<Response> {
  const ctl = new AbortController();
  const t = setTimeout(() => ctl.abort(), ms);
  try {
    return await fetch(url, { ...init, signal: ctl.signal, credentials, cache: 'no-store' });
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

const TOKEN_TIMEOUT_MS = 20_000;

/** The token client's requests to the aggregation server (no cookies). */
export const tokenServerFetch: HttpFetch = (url, init = {}) => fetchWithTimeout(url, init, TOKEN_TIMEOUT_MS);

/** Requests to the shop's same-origin token relay: the shop's own cookies go along (it vouches for its session). */
export const tokenRelayFetch: HttpFetch = (url, init = {}) =>
  fetchWithTimeout(url, init, TOKEN_TIMEOUT_MS, 'same-origin');
