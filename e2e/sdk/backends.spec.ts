import { test, expect, chromium } from '@playwright/test';
import type { Browser, Page } from '@playwright/test';
import type { Fedrank, FedrankStatus } from '../../client/types.ts';
import { chromiumLaunchOptions } from '../support/chromium.ts';
import { mockServer, startStatic, trainingConfig, waitForSdk, watchErrors } from './support.ts';
import type { Captured, MockOptions } from './support.ts';

type Win = { fedrank: Fedrank & { debug(): Promise<{ tfBackend: string; numTensors: number } | null> } };

let site: Awaited<ReturnType<typeof startStatic>>;
test.beforeAll(async () => {
  site = await startStatic();
});
test.afterAll(async () => {
  await site.close();
});

const WITHOUT_WEBGPU = chromiumLaunchOptions().args!.filter((a) => a !== '--enable-unsafe-webgpu');
/** Launch flags per environment: the defaults (SwiftShader WebGPU), WebGPU off, WebGPU and WebGL off. */
const FLAGS = {
  default: chromiumLaunchOptions().args!,
  noWebgpu: WITHOUT_WEBGPU,
  noWebgpuNoWebgl: [...WITHOUT_WEBGPU, '--use-gl=disabled'],
};

async function withBrowser(flags: string[], fn: (page: Page, b: Browser) => Promise<void>): Promise<void> {
  const browser = await chromium.launch({ ...chromiumLaunchOptions(), args: flags });
  try {
    const page = await browser.newPage();
    await fn(page, browser);
  } finally {
    await browser.close();
  }
}

async function ready(
  page: Page,
  query = '',
  mock: MockOptions = {},
): Promise<{ st: FedrankStatus; tf: string; seen: Captured[] }> {
  const seen = await mockServer(page, site.origin, mock);
  await page.goto(`${site.origin}/shop.html${query}`);
  await waitForSdk(page);
  await page.waitForFunction(async () => (await (window as unknown as Win).fedrank.status()).ready, null, {
    timeout: 45_000,
  });
  const st = await page.evaluate(() => (window as unknown as Win).fedrank.status());
  const dbg = await page.evaluate(() => (window as unknown as Win).fedrank.debug());
  return { st, tf: dbg!.tfBackend, seen };
}

/** Personalization works on the active backend and leaves no tensors behind. */
async function personalizes(page: Page): Promise<FedrankStatus> {
  const r = await page.evaluate(async () => {
    const f = (window as unknown as Win).fedrank;
    const items = Array.from({ length: 40 }, (_, i) => ({ id: `p${i}`, category: i % 4 ? 'bags' : 'hats' }));
    // Generous deadlines: shader compiling on a software GPU is slow, and this checks order, not speed.
    await f.rank(items, { timeoutMs: 30_000 });
    const t0 = (await f.debug())!.numTensors;
    for (const i of [0, 4, 8]) await f.track({ type: 'click', item: items[i]! });
    const ranked = await f.rank(items, { timeoutMs: 30_000 });
    await f.rank(items, { query: 'red hat', timeoutMs: 30_000 });
    return {
      top: ranked.slice(0, 8).map((x) => x.category),
      t0,
      t1: (await f.debug())!.numTensors,
      st: await f.status(),
    };
  });
  // A page-side rank deadline may pass while software WebGL compiles its shaders; a backend that failed at
  // runtime (SwiftShader WebGPU sometimes loses its device under load) is replaced and says so.
  const allowed = [null, 'SDK_RANK_TIMEOUT'];
  if (/failed at runtime/.test(r.st.backendReason)) allowed.push('SDK_BAD_MESSAGE');
  expect(allowed).toContain(r.st.lastError);
  // A timed-out rank() keeps the original order by design; otherwise the clicked category leads.
  if (r.st.lastError === null) expect(r.top).toEqual(Array(8).fill('hats'));
  // A training pass may hold tensors at the moment of the first count: wait for it to finish.
  if (r.t1 !== r.t0) {
    await page.waitForFunction(
      async (t0) => (await (window as unknown as Win).fedrank.debug())!.numTensors === t0,
      r.t0,
      { timeout: 30_000, polling: 250 },
    );
  }
  return r.st;
}

test('WebGPU available (SwiftShader): candidates are measured, the fastest runs, status() says what runs', async () => {
  await withBrowser(FLAGS.default, async (page) => {
    const errors = watchErrors(page);
    const { st, tf } = await ready(page);
    expect(st.backend).toBe(tf);
    expect(st.backendReason).toMatch(/measured webgpu [\d.]+ms/);
    expect(st.backendReason).toMatch(/fallback adapter/);
    const winner = /fastest (\w+)/.exec(st.backendReason)?.[1];
    // Under load SwiftShader's WebGPU can win the warm-up and then lose its device; the SDK says so.
    if (/failed at runtime/.test(st.backendReason)) expect(st.backendReason).toContain(`switched to ${tf}`);
    else expect(winner).toBe(tf);
    const after = await personalizes(page);
    // The choice is cached for this environment: a reload does not measure again.
    await page.reload();
    await waitForSdk(page);
    await page.waitForFunction(async () => (await (window as unknown as Win).fedrank.status()).ready);
    const again = await page.evaluate(() => (window as unknown as Win).fedrank.status());
    expect(again.backend).toBe(after.backend);
    expect(again.backendReason).toMatch(/^cached: /);
    expect(errors).toEqual([]);
  });
});

test('WebGPU forced (data-backend="webgpu"): the worker ranks and trains on WebGPU through a longer session', async () => {
  test.setTimeout(180_000);
  await withBrowser(FLAGS.default, async (page) => {
    const errors = watchErrors(page);
    const { st, tf, seen } = await ready(page, '?backend=webgpu&auto=false', {
      advanceRound: true,
      // Enough noise that four contributions fit in the device budget of 8.
      training: trainingConfig({ noiseMultiplier: 4 }),
    });
    expect(st.backend).toBe('webgpu');
    expect(tf).toBe('webgpu');
    expect(st.backendReason).toMatch(/^forced by option/);
    const posts = (): number => seen.filter((c) => c.method === 'POST' && c.path === '/v1/updates').length;
    await personalizes(page);
    // A training pass on WebGPU produces an upload.
    await expect.poll(posts, { timeout: 40_000 }).toBe(1);
    // Then a longer session: each round (the mock opens the next one after every upload) gets one more
    // training pass, with ranking of small and large lists in between. Synchronous read-backs used to
    // exhaust SwiftShader's device memory here ("createBuffer too large") and demote the backend.
    for (let round = 2; round <= 4; round++) {
      for (let tries = 0; posts() < round && tries < 60; tries++) {
        await page.evaluate(async (r) => {
          const f = (window as unknown as Win).fedrank;
          const big = Array.from({ length: 1000 }, (_, i) => ({ id: `q${r}-${i}`, category: `c${i % 9}` }));
          await f.track({ type: 'click', item: big[tries(r)]! });
          await f.rank(big, { timeoutMs: 30_000 });
          await f.rank(big.slice(0, 100), { query: 'blue', timeoutMs: 30_000 });
          function tries(x: number): number {
            return (x * 37 + Math.floor(performance.now())) % 1000;
          }
        }, round);
        await page.waitForTimeout(1000);
      }
      const now = await page.evaluate(() => (window as unknown as Win).fedrank.status());
      expect(posts(), JSON.stringify(now)).toBe(round);
    }
    // The fourth POST is seen when it is sent; the device counts it once its acknowledgement is processed.
    await expect
      .poll(
        async () => (await page.evaluate(() => (window as unknown as Win).fedrank.status())).updatesSent,
        {
          timeout: 20_000,
        },
      )
      .toBe(4);
    const end = await page.evaluate(async () => {
      const f = (window as unknown as Win).fedrank;
      return { st: await f.status(), dbg: await f.debug() };
    });
    expect(end.st.backendReason).not.toMatch(/failed at runtime/);
    expect(end.st.backend).toBe('webgpu');
    expect(end.dbg!.tfBackend).toBe('webgpu');
    expect(end.st.updatesSent).toBe(4);
    expect(errors).toEqual([]);
  });
});

test('WebGPU disabled: falls back to the fastest of WebGL, WASM, CPU', async () => {
  await withBrowser(FLAGS.noWebgpu, async (page) => {
    const errors = watchErrors(page);
    const { st, tf } = await ready(page);
    expect(['webgl', 'wasm', 'cpu']).toContain(tf);
    expect(st.backend).toBe(tf);
    expect(st.backendReason).toContain('no webgpu adapter');
    // Software WebGL (SwiftShader here) is not worth seconds of shader compiling; a hardware one is measured.
    expect(st.backendReason).toMatch(/measured webgl [\d.]+ms|webgl not measured: software renderer/);
    await personalizes(page);
    expect(errors).toEqual([]);
  });
});

test('WebGL forced (data-backend="webgl", WebGPU disabled): the worker runs on WebGL', async () => {
  await withBrowser(FLAGS.noWebgpu, async (page) => {
    const errors = watchErrors(page);
    const { st, tf } = await ready(page, '?backend=webgl');
    expect(tf).toBe('webgl');
    expect(st.backend).toBe('webgl');
    await personalizes(page);
    expect(errors).toEqual([]);
  });
});

test('WebGPU and WebGL disabled: WASM', async () => {
  await withBrowser(FLAGS.noWebgpuNoWebgl, async (page) => {
    const errors = watchErrors(page);
    const { st, tf } = await ready(page);
    expect(tf).toBe('wasm');
    expect(st.backend).toBe('wasm');
    expect(st.backendReason).not.toMatch(/webgl [\d.]+ms/);
    await personalizes(page);
    expect(errors).toEqual([]);
  });
});

test('WebGPU, WebGL and the WASM binaries unavailable: CPU', async () => {
  await withBrowser(FLAGS.noWebgpuNoWebgl, async (page) => {
    const errors = watchErrors(page);
    await page.route('**/*.wasm', (r) => r.abort('blockedbyclient'));
    const { st, tf } = await ready(page);
    expect(tf).toBe('cpu');
    expect(st.backend).toBe('cpu');
    expect(st.backendReason).toContain('wasm failed');
    await personalizes(page);
    expect(errors).toEqual([]);
  });
});
