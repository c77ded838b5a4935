/**
 * The script-tag loader (dist/client/fedrank.js, a classic IIFE script, kept tiny): window.fedrank is a
 * queue at once (adopting calls a snippet pushed as an array earlier), options come from this script's data-* attributes, and the SDK module (which starts the
 * worker) is fetched from next to this file only when the page is idle.
 */
type Resolve = (v: unknown) => void;
const METHODS = ['rank', 'track', 'optOut', 'optIn', 'status', 'forget'] as const;

((w: Window & { fedrank?: Record<string, unknown> }, d: Document) => {
  try {
    // A snippet may have queued calls as an array before this script ran: [['track', event], ...].
    const pre = w.fedrank as unknown;
    if (pre && !Array.isArray(pre)) return;
    const s = d.currentScript as HTMLScriptElement | null;
    const cfg: Record<string, string | undefined> = { ...(s ? s.dataset : {}) };
    const base = new URL('.', (s && s.src) || location.href).href;
    const q: [string, unknown[], Resolve][] = [];
    const queueTimeout = +(cfg.queueTimeout || 3000);
    // What a call resolves to when the SDK is not there (yet): the original order, an inert status.
    const fallback = (m: string, a: unknown[]): unknown =>
      m === 'rank'
        ? Array.isArray(a[0])
          ? a[0].slice()
          : []
        : m === 'status'
          ? {
              version: 'loader',
              ready: false,
              backend: null,
              backendReason: 'SDK not loaded',
              modelVersion: null,
              modelId: null,
              eventsStored: 0,
              updatesSent: 0,
              updatesPending: 0,
              epsilonSpent: 0,
              epsilonBudget: 0,
              privacyDelta: 1e-5,
              budgetExhausted: false,
              optedOut: false,
              gpc: false,
              storage: 'none',
              lastError: 'SDK_WORKER_UNAVAILABLE',
            }
          : undefined;
    const f: Record<string, unknown> = { __q: q, __c: cfg, __b: base };
    for (const m of METHODS) {
      f[m] = (...a: unknown[]) =>
        new Promise((r) => {
          q.push([m, a, r]);
          if (m === 'rank') setTimeout(() => r(fallback(m, a)), queueTimeout);
        });
    }
    w.fedrank = f;
    if (Array.isArray(pre))
      for (const c of pre)
        if (Array.isArray(c) && typeof f[c[0]] == 'function')
          (f[c[0]] as (...a: unknown[]) => void)(...c.slice(1));
    const fail = (): void => {
      for (const [m, a, r] of q.splice(0)) r(fallback(m, a));
      for (const m of METHODS) f[m] = (...a: unknown[]) => Promise.resolve(fallback(m, a));
    };
    const load = (): void => {
      const e = d.createElement('script');
      e.type = 'module';
      e.src = base + 'sdk.js';
      if (s && s.nonce) e.nonce = s.nonce;
      e.onerror = fail;
      d.head.appendChild(e);
    };
    const idle = (): unknown =>
      (w as { requestIdleCallback?: (f: () => void, o: object) => number }).requestIdleCallback
        ? w.requestIdleCallback(load, { timeout: +(cfg.idleTimeout || 5000) })
        : setTimeout(load, 200);
    if (d.readyState === 'complete') idle();
    else w.addEventListener('load', idle, { once: true });
  } catch {
    // never into the page
  }
})(window, document);
