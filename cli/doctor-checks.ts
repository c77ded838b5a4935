/**
 * The checks of `fedrank doctor`: a storefront's integration seen from outside, as a shopper's browser
 * would meet it (shop page, loader tag, SDK files and their MIME types, the server, CORS, clocks).
 * Every finding says what is wrong and how to fix it.
 */

/** One check's outcome. */
export interface Finding {
  id: string;
  ok: boolean;
  /** What was found (always set). */
  detail: string;
  /** How to fix it (problems only). */
  fix?: string;
}

/** The doctor's report. */
export interface DoctorReport {
  ok: boolean;
  shop: string;
  server: string | null;
  findings: Finding[];
}

/** Clock difference (seconds) above which the doctor complains: HTTP Date has 1 s resolution. */
export const MAX_CLOCK_SKEW_S = 60;
/** Headers a device sends with an update (the preflight must allow them). */
const UPLOAD_HEADERS = 'content-type,x-fedrank-client,idempotency-key';
const JS = /^(text|application)\/(javascript|ecmascript)\b/i;

interface Got {
  status: number;
  headers: Headers;
  text: string;
}

async function get(url: string, init: RequestInit = {}): Promise<Got | string> {
  try {
    const res = await fetch(url, { ...init, redirect: 'follow', signal: AbortSignal.timeout(10_000) });
    return { status: res.status, headers: res.headers, text: await res.text() };
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause;
    return cause?.code ?? (err as Error).message;
  }
}

/** The fedrank loader tag of a page: its absolute src and data-server, or null. */
export function findLoaderTag(html: string, pageUrl: string): { src: string; server: string | null } | null {
  for (const m of html.matchAll(/<script\b([^>]*)>/gi)) {
    const attrs = m[1]!;
    const src = /\ssrc\s*=\s*["']([^"']+)["']/i.exec(attrs)?.[1];
    if (!src || !/fedrank(\.[a-z0-9]+)?\.js(\?|$)/i.test(src)) continue;
    const server = /\sdata-server\s*=\s*["']([^"']+)["']/i.exec(attrs)?.[1] ?? null;
    return { src: new URL(src, pageUrl).href, server: server ? new URL(server, pageUrl).href : null };
  }
  return null;
}

/** URLs a bundle loads with `new URL('x', import.meta.url)` (Vite's form for chunks and .wasm assets). */
export function bundleAssets(code: string, base: string): string[] {
  const out = new Set<string>();
  for (const m of code.matchAll(/new URL\(\s*[`"']([^`"']+)[`"']\s*,\s*import\.meta\.url\s*\)/g))
    out.add(new URL(m[1]!, base).href);
  return [...out];
}

/** Runs every check against `shopUrl` (and `serverUrl`, else the loader tag's data-server). */
export async function diagnose(
  shopUrl: string,
  serverUrl: string | null,
  now: () => number = Date.now,
): Promise<DoctorReport> {
  const findings: Finding[] = [];
  const ok = (id: string, detail: string): void => void findings.push({ id, ok: true, detail });
  const bad = (id: string, detail: string, fix: string): void =>
    void findings.push({ id, ok: false, detail, fix });
  const shopOrigin = new URL(shopUrl).origin;
  const report = (server: string | null): DoctorReport => ({
    ok: findings.every((f) => f.ok),
    shop: shopUrl,
    server,
    findings,
  });

  // 1. The shop page and its loader tag.
  const page = await get(shopUrl);
  let tag: ReturnType<typeof findLoaderTag> = null;
  if (typeof page === 'string' || page.status >= 400) {
    bad(
      'shop-reachable',
      `${shopUrl}: ${typeof page === 'string' ? page : `HTTP ${page.status}`}`,
      'check the shop URL (scheme, host, port) and that the shop is running',
    );
  } else {
    ok('shop-reachable', `${shopUrl}: HTTP ${page.status}`);
    tag = findLoaderTag(page.text, shopUrl);
    if (tag) ok('loader-tag', `loader ${tag.src}, data-server ${tag.server ?? '(none)'}`);
    else
      bad(
        'loader-tag',
        'no <script src=".../fedrank.js"> on the page',
        'add <script async src="/fedrank/fedrank.js" data-server="https://your-server"></script> (README: Integrating a shop)',
      );
  }
  let server = serverUrl ? new URL(serverUrl).href.replace(/\/+$/, '') : null;
  const tagServer = tag?.server ? tag.server.replace(/\/+$/, '') : null;
  if (tag && !tagServer)
    bad(
      'data-server',
      'the loader tag has no data-server',
      `add data-server="${server ?? 'https://your-server'}"`,
    );
  else if (tag && server && tagServer !== server)
    bad(
      'data-server',
      `the page points at ${tagServer}, not at ${server}`,
      `set data-server="${server}" on the loader tag (or check --server)`,
    );
  server ??= tagServer;

  // 2. SDK files with the MIME types browsers insist on (module scripts and WebAssembly.instantiateStreaming).
  if (tag) {
    const files: { url: string; kind: 'js' | 'wasm' }[] = [{ url: tag.src, kind: 'js' }];
    const sdk = new URL('sdk.js', tag.src).href;
    const sdkGot = await get(sdk);
    files.push({ url: sdk, kind: 'js' });
    const worker =
      typeof sdkGot === 'string' ? [] : bundleAssets(sdkGot.text, sdk).filter((u) => u.endsWith('.js'));
    if (typeof sdkGot !== 'string' && sdkGot.status < 400 && worker.length === 0)
      bad('worker-chunk', `${sdk} names no worker chunk`, 'serve the whole dist/client/ folder, as built');
    for (const w of worker) {
      files.push({ url: w, kind: 'js' });
      const wGot = await get(w);
      if (typeof wGot !== 'string')
        for (const a of bundleAssets(wGot.text, w))
          if (a.endsWith('.wasm')) files.push({ url: a, kind: 'wasm' });
    }
    for (const f of files) {
      const got = f.url === sdk ? sdkGot : await get(f.url);
      const id = f.kind === 'wasm' ? 'wasm-mime' : 'script-mime';
      const want = f.kind === 'wasm' ? 'application/wasm' : 'text/javascript';
      if (typeof got === 'string' || got.status >= 400) {
        bad(
          id,
          `${f.url}: ${typeof got === 'string' ? got : `HTTP ${got.status}`}`,
          'serve every file of dist/client/ next to the loader',
        );
        continue;
      }
      const type = got.headers.get('content-type') ?? '(none)';
      const good = f.kind === 'wasm' ? /^application\/wasm\b/i.test(type) : JS.test(type);
      if (good) ok(id, `${f.url}: ${type}`);
      else
        bad(
          id,
          `${f.url} is served as ${type}`,
          `serve ${f.kind === 'wasm' ? '.wasm' : '.js'} files as ${want}`,
        );
    }
  }

  if (!server) {
    bad('server-url', 'no aggregation server to check', 'pass --server URL or fix the loader tag');
    return report(null);
  }

  // 3. The server: reachable, over HTTPS when the shop is, accepting the shop's origin.
  if (new URL(shopUrl).protocol === 'https:' && new URL(server).protocol !== 'https:')
    bad(
      'https',
      `the shop is HTTPS but the server is ${server}: browsers block this (mixed content)`,
      'serve the aggregation server over HTTPS (a TLS reverse proxy in front of fedrank serve)',
    );
  else ok('https', `shop ${new URL(shopUrl).protocol} / server ${new URL(server).protocol}`);
  const t0 = now();
  const health = await get(`${server}/healthz`);
  const t1 = now();
  if (typeof health === 'string' || health.status >= 400) {
    bad(
      'server-reachable',
      `${server}/healthz: ${typeof health === 'string' ? health : `HTTP ${health.status}`}`,
      'start the server (fedrank serve) and check host, port and firewall',
    );
    return report(server);
  }
  ok('server-reachable', `${server}/healthz: HTTP ${health.status}`);

  const model = await get(`${server}/v1/model`, { headers: { origin: shopOrigin } });
  const allowOrigin = typeof model === 'string' ? null : model.headers.get('access-control-allow-origin');
  if (typeof model !== 'string' && model.status === 403)
    bad(
      'origin-allowed',
      `the server refuses ${shopOrigin} (403 FORBIDDEN_ORIGIN)`,
      `add "${shopOrigin}" to allowedOrigins in the server's config and restart it`,
    );
  else if (allowOrigin !== shopOrigin && allowOrigin !== '*')
    bad(
      'origin-allowed',
      `GET /v1/model from ${shopOrigin}: no matching Access-Control-Allow-Origin (${allowOrigin ?? 'none'})`,
      `add "${shopOrigin}" to allowedOrigins`,
    );
  else ok('origin-allowed', `${shopOrigin} is an allowed storefront`);

  const pre = await get(`${server}/v1/updates`, {
    method: 'OPTIONS',
    headers: {
      origin: shopOrigin,
      'access-control-request-method': 'POST',
      'access-control-request-headers': UPLOAD_HEADERS,
    },
  });
  const preOrigin = typeof pre === 'string' ? null : pre.headers.get('access-control-allow-origin');
  const preMethods = typeof pre === 'string' ? '' : (pre.headers.get('access-control-allow-methods') ?? '');
  if (
    typeof pre === 'string' ||
    pre.status >= 400 ||
    (preOrigin !== shopOrigin && preOrigin !== '*') ||
    !/POST/i.test(preMethods)
  )
    bad(
      'cors-preflight',
      `OPTIONS /v1/updates from ${shopOrigin}: ${typeof pre === 'string' ? pre : `HTTP ${pre.status}, allow-origin ${preOrigin ?? 'none'}, methods ${preMethods || 'none'}`}`,
      `list "${shopOrigin}" in allowedOrigins; a proxy in front of the server must pass OPTIONS through`,
    );
  else ok('cors-preflight', `OPTIONS /v1/updates: HTTP ${pre.status}, uploads allowed from ${shopOrigin}`);

  // 4. Clocks: the server's Date against this machine's (and the shop's), within the round trip.
  const date = Date.parse(health.headers.get('date') ?? '');
  if (!Number.isFinite(date))
    bad('clock-skew', 'the server sends no Date header', 'let the server send Date headers');
  else {
    const skew = Math.max(0, Math.abs(date - (t0 + t1) / 2) - (t1 - t0) / 2 - 1000) / 1000;
    const shopDate = typeof page === 'string' ? NaN : Date.parse(page.headers.get('date') ?? '');
    const shopSkew = Number.isFinite(shopDate) ? Math.abs(shopDate - date) / 1000 : 0;
    const worst = Math.max(skew, shopSkew - (t1 - t0) / 1000);
    if (worst > MAX_CLOCK_SKEW_S)
      bad(
        'clock-skew',
        `clocks differ by ${worst.toFixed(0)} s (server vs this machine ${skew.toFixed(0)} s, shop vs server ${shopSkew.toFixed(0)} s)`,
        'synchronize the clocks with NTP (round deadlines and logs use the server clock)',
      );
    else ok('clock-skew', `server clock within ${Math.max(1, Math.ceil(worst))} s`);
  }
  return report(server);
}
