import { test, expect } from '@playwright/test';
import type { Page } from '@playwright/test';
import type { Fedrank, FedrankStatus } from '../../client/types.ts';
import { mockServer, startStatic, waitForSdk, watchErrors } from './support.ts';

type Win = { fedrank: Fedrank; ids(s: string): string[] };
const status = (page: Page): Promise<FedrankStatus> =>
  page.evaluate(() => (window as unknown as Win).fedrank.status());

let site: Awaited<ReturnType<typeof startStatic>>;
test.beforeAll(async () => {
  site = await startStatic();
});
test.afterAll(async () => {
  await site.close();
});

/** rank() of 20 items from the page: whether the original order came back, and how long it took. */
function rankOriginal(page: Page, timeoutMs?: number): Promise<{ same: boolean; ms: number }> {
  return page.evaluate(async (t) => {
    const items = Array.from({ length: 20 }, (_, i) => ({ id: `r${i}`, category: i % 2 ? 'a' : 'b' }));
    const t0 = performance.now();
    const out = await (window as unknown as Win).fedrank.rank(items, t ? { timeoutMs: t } : {});
    return { same: out.every((x, i) => x === items[i]), ms: performance.now() - t0 };
  }, timeoutMs);
}

async function hostPageWorks(page: Page): Promise<void> {
  await page.click('#ping');
  await page.click('[data-fedrank-item="sku-1"] a');
  await expect(page.locator('#ping')).toHaveAttribute('data-n', '1');
}

for (const mode of ['500', 'timeout'] as const) {
  test(`a failing server (${mode}) leaves the host page working, in its original order, with no error`, async ({
    page,
  }) => {
    const errors = watchErrors(page);
    await mockServer(page, site.origin, { mode });
    await page.goto(`${site.origin}/shop.html?backend=wasm`);
    const before = await page.evaluate(() => (window as unknown as Win).ids('#grid'));
    await waitForSdk(page);
    // The grid's first ranking, before any click: with no global model and no signal it keeps the order
    // (waiting for it keeps a ranking that races the click below from reflecting that click).
    if (mode === '500') await expect(page.locator('#grid')).toHaveAttribute('data-fedrank-ranked', 'same');
    expect(await page.evaluate(() => (window as unknown as Win).ids('#grid'))).toEqual(before);
    const r = await rankOriginal(page, 300);
    expect(r.same).toBe(true);
    expect(r.ms).toBeLessThan(2000);
    await hostPageWorks(page);
    if (mode === '500') {
      await expect
        .poll(async () => (await status(page)).lastError)
        .toMatch(/INTERNAL|SDK_SERVER_UNREACHABLE/);
      // Ranking works on-device alone (no global model); the click above is the shopper's first signal.
      expect(await status(page)).toMatchObject({ ready: true, personalized: true, globalWeight: null });
    }
    expect(await page.evaluate(() => (window as unknown as Win).ids('#grid'))).toEqual(before);
    expect(errors).toEqual([]);
  });
}

test('a refused origin is reported with its own code, and the page keeps working', async ({ page }) => {
  const errors = watchErrors(page);
  const seen = await mockServer(page, site.origin, { mode: 'refuse-origin' });
  await page.goto(`${site.origin}/shop.html?backend=wasm`);
  await waitForSdk(page);
  await expect.poll(async () => (await status(page)).lastError).toBe('SDK_ORIGIN_REFUSED');
  expect((await rankOriginal(page, 300)).same).toBe(true);
  await hostPageWorks(page);
  expect(seen.every((c) => c.method === 'GET')).toBe(true);
  expect(errors).toEqual([]);
});

/** rank() of 20 items alternating categories 'a' and 'b': the categories in the returned order. */
function rankedCategories(page: Page): Promise<string[]> {
  return page.evaluate(async () => {
    const items = Array.from({ length: 20 }, (_, i) => ({ id: `r${i}`, category: i % 2 ? 'a' : 'b' }));
    const out = await (window as unknown as Win).fedrank.rank(items, { timeoutMs: 5000 });
    return out.map((x) => x.category);
  });
}

for (const mode of ['refuse-origin', '500'] as const) {
  test(`with the server ${mode === '500' ? 'down' : 'refusing the origin'}, the device personalizes on its own`, async ({
    page,
  }) => {
    const errors = watchErrors(page);
    await mockServer(page, site.origin, { mode });
    await page.goto(`${site.origin}/shop.html?backend=wasm&auto=false`);
    await waitForSdk(page);
    await page.waitForFunction(async () => (await (window as unknown as Win).fedrank.status()).ready);
    const code = mode === '500' ? /INTERNAL|SDK_SERVER_UNREACHABLE/ : /SDK_ORIGIN_REFUSED/;
    await expect.poll(async () => (await status(page)).lastError).toMatch(code);
    expect(await status(page)).toMatchObject({ modelVersion: null, personalized: false, globalWeight: null });
    // No click yet: no information, the shop's order stays.
    expect((await rankOriginal(page, 5000)).same).toBe(true);
    await page.evaluate(async () => {
      const f = (window as unknown as Win).fedrank;
      for (const i of [1, 3, 5]) await f.track({ type: 'click', item: { id: `r${i}`, category: 'a' } });
    });
    // Clicks in category 'a': its items move up, with no global model.
    const cats = await rankedCategories(page);
    expect(cats.slice(0, 10)).toEqual(Array(10).fill('a'));
    expect(await status(page)).toMatchObject({ personalized: true, globalWeight: null });
    await hostPageWorks(page);
    expect(errors).toEqual([]);
  });
}

test('hostile input and a thrown error inside the SDK never reach the page', async ({ page }) => {
  const errors = watchErrors(page);
  await mockServer(page, site.origin);
  await page.goto(`${site.origin}/shop.html?backend=wasm&auto=false`);
  await waitForSdk(page);
  await page.waitForFunction(async () => (await (window as unknown as Win).fedrank.status()).ready);
  const r = await page.evaluate(async () => {
    const f = (window as unknown as Win).fedrank as unknown as Record<
      string,
      (...a: unknown[]) => Promise<unknown>
    >;
    const trap = new Proxy(
      {},
      {
        get() {
          throw new Error('hostile getter');
        },
      },
    );
    const circular: Record<string, unknown> = { id: 'c' };
    circular.self = circular;
    const throwing = {
      get id(): string {
        throw new Error('boom');
      },
    };
    const out: unknown[] = [];
    out.push(await f.rank!([throwing, { id: 'b' }]));
    out.push(await f.rank!(trap));
    out.push(await f.rank!([{ id: 'a' }, { id: 'b' }], trap));
    out.push(
      await f.rank!([{ id: 'a' }, { id: 'b' }], {
        query: {
          toString: () => {
            throw new Error('q');
          },
        },
      }),
    );
    out.push(await f.track!(undefined));
    out.push(await f.track!(trap));
    out.push(await f.track!({ type: 'click', item: circular }));
    out.push(await f.track!({ type: 'hack', item: { id: 'x' } }));
    out.push(await f.status!(trap));
    return out.map((x) => (Array.isArray(x) ? x.length : typeof x));
  });
  expect(r).toEqual([2, 0, 2, 2, 'undefined', 'undefined', 'undefined', 'undefined', 'object']);
  expect((await status(page)).lastError).toBe('SDK_BAD_MESSAGE');
  await hostPageWorks(page);
  expect(errors).toEqual([]);
});

test('a worker that throws when messaged leaves the original order and no error', async ({ page }) => {
  const errors = watchErrors(page);
  await page.addInitScript(() => {
    Worker.prototype.postMessage = () => {
      throw new Error('sabotaged');
    };
  });
  await mockServer(page, site.origin);
  await page.goto(`${site.origin}/shop.html?backend=wasm`);
  await waitForSdk(page);
  expect((await rankOriginal(page)).same).toBe(true);
  await expect.poll(async () => (await status(page)).lastError).toBe('SDK_WORKER_UNAVAILABLE');
  await hostPageWorks(page);
  expect(errors).toEqual([]);
});

test('a corrupted IndexedDB record is dropped and reported', async ({ page }) => {
  const errors = watchErrors(page);
  await mockServer(page, site.origin);
  await page.goto(`${site.origin}/shop.html?backend=wasm&auto=false`);
  await waitForSdk(page);
  await page.waitForFunction(async () => (await (window as unknown as Win).fedrank.status()).ready);
  await page.evaluate(async () => {
    const db = await new Promise<IDBDatabase>((res) => {
      const r = indexedDB.open('fedrank');
      r.onsuccess = () => res(r.result);
    });
    await new Promise<void>((res) => {
      const tx = db.transaction(['events', 'settings'], 'readwrite');
      tx.objectStore('events').add({ type: 'click', item: { nope: true }, time: 'yesterday' });
      tx.objectStore('settings').put({ key: 'clientId', value: 'short' });
      tx.oncomplete = () => res();
    });
    db.close();
  });
  await page.reload();
  await waitForSdk(page);
  const s = await status(page);
  expect(s.lastError).toBe('SDK_BAD_MESSAGE');
  expect(s.eventsStored).toBe(0);
  expect(errors).toEqual([]);
});

for (const [name, block] of [
  ['the worker script is blocked', '**/assets/worker-*.js'],
  ['the SDK chunk is blocked', '**/client/sdk.js'],
] as const) {
  test(`${name}: original order, no error`, async ({ page }) => {
    const errors = watchErrors(page);
    await page.route(block, (r) => r.abort('blockedbyclient'));
    await mockServer(page, site.origin);
    await page.goto(`${site.origin}/shop.html?backend=wasm`);
    const before = await page.evaluate(() => (window as unknown as Win).ids('#grid'));
    await expect
      .poll(async () => (await status(page)).lastError, { timeout: 15_000 })
      .toBe('SDK_WORKER_UNAVAILABLE');
    expect((await rankOriginal(page)).same).toBe(true);
    await hostPageWorks(page);
    expect(await page.evaluate(() => (window as unknown as Win).ids('#grid'))).toEqual(before);
    expect(errors).toEqual([]);
  });
}

test('no Worker API at all: original order, no error', async ({ page }) => {
  const errors = watchErrors(page);
  await page.addInitScript(() => {
    delete (window as { Worker?: unknown }).Worker;
  });
  await mockServer(page, site.origin);
  await page.goto(`${site.origin}/shop.html?backend=wasm`);
  await waitForSdk(page);
  expect((await rankOriginal(page)).same).toBe(true);
  expect(await status(page)).toMatchObject({
    lastError: 'SDK_WORKER_UNAVAILABLE',
    backend: null,
    ready: false,
  });
  await hostPageWorks(page);
  expect(errors).toEqual([]);
});
