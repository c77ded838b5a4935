/**
 * `npm run bench:client`: the browser SDK measured in Debian's Chromium (headless), written to
 * bench/results/client.json:
 * - per backend (forced): rank() p50/p95 from the page for 100 and 1,000 candidates, both with item
 *   vectors cached (a grid re-ranked) and with never-seen items (every call encodes new items), one local
 *   training pass, and the bytes of one int8 update upload;
 * - loader, SDK and worker sizes (raw and gzip);
 * - main-thread long tasks (>50 ms, PerformanceObserver) during a scripted shopping session (scrolling,
 *   clicks, searches, re-rendered lists), with fedrank and, as a baseline, with its loader blocked.
 * FEDRANK_BENCH_SESSION_S shortens the session (default 60 s); FEDRANK_BENCH_BACKENDS=wasm,cpu picks backends.
 */
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { gzipSync } from 'node:zlib';
import { chromium } from '@playwright/test';
import type { Browser, Page } from '@playwright/test';
import { chromiumLaunchOptions } from '../e2e/support/chromium.ts';
import { mockServer, startStatic, trainingConfig } from '../e2e/sdk/support.ts';

const SESSION_S = Number(process.env.FEDRANK_BENCH_SESSION_S ?? 60);
const BACKENDS = (process.env.FEDRANK_BENCH_BACKENDS ?? 'webgpu,webgl,wasm,cpu').split(',');
const RUNS = { 100: 200, 1000: 60 } as const;

type Win = {
  fedrank: {
    rank(items: unknown[], o?: object): Promise<unknown[]>;
    track(e: object): Promise<void>;
    status(): Promise<{ ready: boolean; backend: string | null; backendReason: string; updatesSent: number }>;
    debug(): Promise<{ tfBackend: string; trainMs: number | null; lastUploadBytes: number | null } | null>;
  };
  __longTasks?: { start: number; duration: number }[];
  __loaf?: { duration: number; blocking: number; scripts: { src: string; inv: string; ms: number }[] }[];
};

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return Number(s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!.toFixed(3));
}

function sizes(): Record<string, { bytes: number; gzip: number }> {
  const out: Record<string, { bytes: number; gzip: number }> = {};
  const add = (name: string, path: string): void => {
    const b = readFileSync(path);
    out[name] = { bytes: b.length, gzip: gzipSync(b, { level: 9 }).length };
  };
  add('loader (fedrank.js)', 'dist/client/fedrank.js');
  add('sdk (sdk.js)', 'dist/client/sdk.js');
  for (const f of readdirSync('dist/client/assets')) {
    if (f.startsWith('worker-')) add('worker chunk', `dist/client/assets/${f}`);
    else if (f.endsWith('.wasm')) add(f.replace(/-[\w-]{8}\.wasm$/, '.wasm'), `dist/client/assets/${f}`);
  }
  return out;
}

async function benchBackend(
  browser: Browser,
  origin: string,
  backend: string,
): Promise<Record<string, unknown>> {
  const ctx = await browser.newContext();
  // tsx compiles named closures with a __name() helper that the page lacks.
  await ctx.addInitScript('window.__name = (f) => f');
  const page = await ctx.newPage();
  await mockServer(page, origin, { training: trainingConfig({ updateEncoding: 'i8', minNewEvents: 5 }) });
  await page.goto(`${origin}/shop.html?backend=${backend}&auto=false&rankTimeout=60000`);
  await page.waitForFunction(() => typeof (window as unknown as Win).fedrank?.debug === 'function');
  await page.waitForFunction(async () => (await (window as unknown as Win).fedrank.status()).ready, null, {
    timeout: 120_000,
  });
  const st = await page.evaluate(() => (window as unknown as Win).fedrank.status());
  const timings = await page.evaluate(async (runs) => {
    const f = (window as unknown as Win).fedrank;
    const cats = ['shoes', 'hats', 'bags', 'coats', 'socks'];
    const mk = (n: number, tag: string) =>
      Array.from({ length: n }, (_, i) => ({
        id: `${tag}-${i}`,
        category: cats[i % 5],
        brand: `b${i % 9}`,
        price: 5 + (i % 50),
      }));
    for (let i = 0; i < 6; i++) await f.track({ type: 'click', item: mk(10, 'h')[i]! });
    const out: Record<string, number[]> = {};
    for (const n of [100, 1000] as const) {
      const items = mk(n, `c${n}`);
      await f.rank(items, { timeoutMs: 60_000 }); // fills the item-vector cache
      const cached: number[] = [];
      for (let r = 0; r < runs[n]; r++) {
        const t0 = performance.now();
        await f.rank(items, { timeoutMs: 60_000 });
        cached.push(performance.now() - t0);
      }
      const fresh: number[] = [];
      for (let r = 0; r < Math.min(30, runs[n]); r++) {
        const novel = mk(n, `f${n}-${r}`);
        const t0 = performance.now();
        await f.rank(novel, { timeoutMs: 60_000 });
        fresh.push(performance.now() - t0);
      }
      out[`cached${n}`] = cached;
      out[`fresh${n}`] = fresh;
    }
    return out;
  }, RUNS);
  // One local training pass: the clicks above exceed minNewEvents; idle time lets the worker train and upload.
  await page
    .waitForFunction(
      async () => ((await (window as unknown as Win).fedrank.debug())?.lastUploadBytes ?? null) !== null,
      null,
      {
        timeout: 120_000,
      },
    )
    .catch(() => undefined);
  const dbg = await page.evaluate(() => (window as unknown as Win).fedrank.debug());
  const after = await page.evaluate(() => (window as unknown as Win).fedrank.status());
  await ctx.close();
  const summary = (xs: number[]) => ({ p50_ms: pct(xs, 50), p95_ms: pct(xs, 95), runs: xs.length });
  return {
    requested: backend,
    backend: after.backend,
    tfBackend: dbg?.tfBackend ?? null,
    backendReason: after.backendReason,
    readyReason: st.backendReason,
    rank100_cached: summary(timings.cached100!),
    rank1000_cached: summary(timings.cached1000!),
    rank100_fresh: summary(timings.fresh100!),
    rank1000_fresh: summary(timings.fresh1000!),
    trainPass_ms: dbg?.trainMs ?? null,
    uploadBytes: dbg?.lastUploadBytes ?? null,
  };
}

/** The parts of a PerformanceLongAnimationFrameTiming entry used here. */
interface Loaf {
  duration: number;
  blockingDuration: number;
  scripts: { sourceURL: string; invoker: string; duration: number }[];
}

/** A scripted shopping session; returns the main thread's long tasks. */
async function session(
  browser: Browser,
  origin: string,
  withFedrank: boolean,
): Promise<Record<string, unknown>> {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  await page.addInitScript(() => {
    const w = window as unknown as Win;
    w.__longTasks = [];
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) w.__longTasks!.push({ start: e.startTime, duration: e.duration });
    }).observe({ type: 'longtask', buffered: true });
    // Long animation frames name the scripts that ran in them: which long frames ran fedrank code at all.
    w.__loaf = [];
    try {
      new PerformanceObserver((list) => {
        for (const e of list.getEntries() as unknown as Loaf[]) {
          if (e.blockingDuration <= 0) continue;
          const scripts = e.scripts.map((x) => ({
            src: x.sourceURL,
            inv: x.invoker,
            ms: Math.round(x.duration),
          }));
          w.__loaf!.push({ duration: e.duration, blocking: e.blockingDuration, scripts });
        }
      }).observe({ type: 'long-animation-frame', buffered: true });
    } catch {
      // older Chromium: long tasks only
    }
  });
  if (!withFedrank) await page.route('**/client/fedrank.js', (r) => r.abort('blockedbyclient'));
  await mockServer(page, origin, { training: trainingConfig({ updateEncoding: 'i8', minNewEvents: 5 }) });
  await page.goto(`${origin}/shop.html`);
  const end = Date.now() + SESSION_S * 1000;
  let step = 0;
  while (Date.now() < end) {
    const sku = `sku-${(step * 5) % 12}`;
    await page.mouse.wheel(0, step % 2 ? 200 : -200);
    await page.click(`[data-fedrank-item="${sku}"] a`).catch(() => undefined);
    if (step % 4 === 0)
      await page.fill('#q', ['hat', 'red shoes', 'bag', ''][step % 16 === 0 ? 3 : (step / 4) % 3]!);
    if (step % 6 === 0) {
      // The shop re-renders its "recommended" list (MutationObserver picks it up).
      await page.evaluate(() => {
        document.getElementById('later')!.innerHTML = '';
        (window as unknown as { renderLater(): void }).renderLater();
      });
    }
    step++;
    await page.waitForTimeout(700);
  }
  const tasks = await page.evaluate(() => (window as unknown as Win).__longTasks ?? []);
  const loaf = await page.evaluate(() => (window as unknown as Win).__loaf ?? []);
  const ours = loaf.filter((f) => f.scripts.some((x) => /\/client\//.test(x.src)));
  const st = withFedrank ? await page.evaluate(() => (window as unknown as Win).fedrank.status()) : null;
  await ctx.close();
  return {
    seconds: SESSION_S,
    steps: step,
    longTasks: tasks.length,
    longTaskMs: Number(tasks.reduce((s, t) => s + t.duration, 0).toFixed(1)),
    longest_ms: tasks.length ? Math.max(...tasks.map((t) => t.duration)) : 0,
    // Blocking long animation frames, and those in which a fedrank script (/client/) ran at all.
    blockingFrames: loaf.length,
    blockingFramesRunningFedrank: ours.length,
    blockingFrameScripts: loaf.slice(0, 10),
    fedrank: st ? { backend: st.backend, updatesSent: st.updatesSent } : 'blocked (baseline)',
  };
}

async function main(): Promise<void> {
  const site = await startStatic();
  const browser = await chromium.launch(chromiumLaunchOptions());
  const results: Record<string, unknown> = {
    when: new Date().toISOString(),
    chromium: browser.version(),
    machine: `${process.platform} ${process.arch}, ${cpus().length} cores`,
    loadAverageAtStart: loadavg().map((x) => Number(x.toFixed(2))),
    notes: [
      "No GPU machine was available for this run: WebGPU is Chromium's SwiftShader fallback adapter and WebGL is software (SwiftShader); the WebGPU vs WASM comparison on real GPU hardware (Vulkan) is still to be done.",
      'rank() is timed from the page (postMessage round trip included). "cached": the same items again (item vectors cached per model version); "fresh": never-seen items (encoded and embedded on the backend).',
      'This 2-core machine was shared with other test runs (see loadAverageAtStart): p95 figures include scheduling noise.',
      'Long tasks are counted for the whole main thread; the baseline is the same session with the loader blocked.',
    ],
    sizes: sizes(),
  };
  const perBackend: Record<string, unknown> = {};
  for (const b of BACKENDS) {
    try {
      perBackend[b] = await benchBackend(browser, site.origin, b);
    } catch (e) {
      perBackend[b] = { error: String(e).slice(0, 300) };
    }
    console.log(b, JSON.stringify(perBackend[b]));
  }
  results.backends = perBackend;
  results.session = {
    withFedrank: await session(browser, site.origin, true),
    baseline: await session(browser, site.origin, false),
  };
  console.log(JSON.stringify(results.session));
  await browser.close();
  await site.close();
  mkdirSync('bench/results', { recursive: true });
  writeFileSync('bench/results/client.json', `${JSON.stringify(results, null, 2)}\n`);
  console.log('wrote bench/results/client.json');
}

await main();
