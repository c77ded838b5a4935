/** The device core's Node ports: the process clock and Node's fetch (simulated shoppers, tests). */
import type { FetchLike, HttpResponse } from '../shared/device/http.ts';
import type { Clock } from '../shared/device/ports.ts';

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
