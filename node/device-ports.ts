/** The device core's Node ports: the process clock and Node's fetch (simulated shoppers, tests). */
import type { FetchLike, HttpResponse } from '../shared/device/http.ts';
import type { Clock } from '../shared/device/ports.ts';
import type { HttpFetch } from '../shared/tokens/client.ts';

/** Date.now and timers that do not keep the process alive. */
export const nodeClock: Clock = {
  now: () => Date.now(),
  setTimer: (fn, ms) => setTimeout(fn, ms).unref(),
  clearTimer: (h) => clearTimeout(h as NodeJS.Timeout),
};

/** Node's fetch with a deadline per request. */
export const nodeFetch: FetchLike = (url, req): Promise<HttpResponse> =>
  fetch(url, {
    method: req.method,
    headers: req.headers,
    body: req.body as string | Uint8Array<ArrayBuffer> | undefined,
    signal: AbortSignal.timeout(req.timeoutMs),
  });

const TOKEN_TIMEOUT_MS = 20_000;

/** Node's fetch for the token client, with a deadline; `cookie` goes along (a shop session, for its relay). */
export function nodeTokenFetch(cookie?: string): HttpFetch {
  return (url, init = {}) =>
    fetch(url, {
      ...init,
      headers: { ...(init.headers ?? {}), ...(cookie ? { cookie } : {}) },
      signal: AbortSignal.timeout(TOKEN_TIMEOUT_MS),
    });
}

/** Opens a session on a shop (GET of its page) and returns the cookie it set, or null. */
export async function shopSessionCookie(shopUrl: string): Promise<string | null> {
  const res = await fetch(shopUrl + '/', { signal: AbortSignal.timeout(TOKEN_TIMEOUT_MS) });
  await res.arrayBuffer();
  const set = res.headers.get('set-cookie');
  return set ? set.split(';')[0]! : null;
}
