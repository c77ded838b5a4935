import { test, expect } from '@playwright/test';
import type { Page } from '@playwright/test';
import { mockServer, startStatic, trainingConfig, watchErrors, waitForSdk } from './support.ts';
import type { FedrankStatus } from '../../client/types.ts';

type Win = { fedrank: { status(): Promise<FedrankStatus>; forget(): Promise<void>; [k: string]: unknown } };

let site: Awaited<ReturnType<typeof startStatic>>;
test.beforeAll(async () => {
  site = await startStatic();
});
test.afterAll(async () => {
  await site.close();
});

async function readyStatus(page: Page): Promise<FedrankStatus> {
  await waitForSdk(page);
  await page.waitForFunction(async () => (await (window as unknown as Win).fedrank.status()).ready, null, {
    timeout: 30_000,
  });
  return page.evaluate(() => (window as unknown as Win).fedrank.status());
}

test('early calls made before the SDK loaded are queued and replayed in order', async ({ page }) => {
  const errors = watchErrors(page);
  await mockServer(page, site.origin);
  await page.goto(`${site.origin}/early.html`);
  // The loader defined the queue synchronously; nothing was loaded yet.
  expect(
    await page.evaluate(() => (window as unknown as { queuedBeforeLoad: number }).queuedBeforeLoad),
  ).toBe(4);
  await page.waitForFunction(
    () => (window as unknown as { earlyLog: string[] }).earlyLog.length === 3,
    null,
    {
      timeout: 30_000,
    },
  );
  const log = await page.evaluate(() => (window as unknown as { earlyLog: string[] }).earlyLog);
  expect(log).toEqual(['track1', 'track2', 'status:3']);
  expect(errors).toEqual([]);
});

test('a list is re-ordered when ready, impressions and clicks are recorded, a later list reflects the clicks', async ({
  page,
}) => {
  const errors = watchErrors(page);
  await mockServer(page, site.origin);
  await page.goto(`${site.origin}/shop.html?backend=wasm`);
  const st = await readyStatus(page);
  expect(st.modelVersion).toBe(1);
  await expect(page.locator('#grid')).toHaveAttribute('data-fedrank-ranked', /reordered|same/);
  // Impressions of the 12 visible items were recorded without any code on the page.
  await page.waitForFunction(
    async () => (await (window as unknown as Win).fedrank.status()).eventsStored >= 12,
  );
  // The shopper clicks hats (one of them via its add-to-cart button).
  for (const sku of ['sku-1', 'sku-4', 'sku-7']) await page.click(`[data-fedrank-item="${sku}"] a`);
  await page.click('[data-fedrank-item="sku-10"] button');
  await page.waitForFunction(
    async () => (await (window as unknown as Win).fedrank.status()).eventsStored >= 16,
  );
  // A list rendered later (MutationObserver) is ranked for this shopper: hats first.
  await page.evaluate(() => (window as unknown as { renderLater(): void }).renderLater());
  await expect(page.locator('#later-list')).toHaveAttribute('data-fedrank-ranked', 'reordered');
  const cats = await page.$$eval('#later-list > li', (els) =>
    els.map((e) => (e as HTMLElement).dataset.fedrankCategory),
  );
  expect(cats.slice(0, 4)).toEqual(['hats', 'hats', 'hats', 'hats']);
  // The nodes were moved, not re-created: all 12 are still there once.
  expect(
    new Set(await page.$$eval('#later-list > li', (els) => els.map((e) => e.dataset.fedrankItem))).size,
  ).toBe(12);
  expect(errors).toEqual([]);
});

test('a list with a non-item child keeps it in place; a list of 2,000 items is re-ordered as rank() orders it', async ({
  page,
}) => {
  const errors = watchErrors(page);
  await mockServer(page, site.origin);
  await page.goto(`${site.origin}/shop.html?backend=wasm`);
  await readyStatus(page);
  for (const sku of ['sku-1', 'sku-4', 'sku-7']) await page.click(`[data-fedrank-item="${sku}"] a`);
  await page.waitForFunction(
    async () => (await (window as unknown as Win).fedrank.status()).eventsStored >= 15,
  );
  await page.evaluate(() => {
    const mk = (id: string, cat: string): HTMLLIElement => {
      const li = document.createElement('li');
      li.dataset.fedrankItem = id;
      li.dataset.fedrankCategory = cat;
      li.textContent = id;
      return li;
    };
    const mixed = document.createElement('ul');
    mixed.id = 'mixed';
    mixed.dataset.fedrankList = '';
    for (let i = 0; i < 8; i++) {
      if (i === 3) {
        const ad = document.createElement('li');
        ad.id = 'ad';
        mixed.appendChild(ad);
      }
      mixed.appendChild(mk(`m${i}`, i % 2 ? 'hats' : 'bags'));
    }
    const big = document.createElement('ul');
    big.id = 'big';
    big.dataset.fedrankList = '';
    for (let i = 0; i < 2000; i++) big.appendChild(mk(`g${i}`, ['bags', 'shoes', 'hats', 'coats'][i % 4]!));
    document.body.append(mixed, big);
  });
  await expect(page.locator('#mixed')).toHaveAttribute('data-fedrank-ranked', 'reordered');
  await expect(page.locator('#big')).toHaveAttribute('data-fedrank-ranked', 'reordered', { timeout: 20_000 });
  const mixed = await page.$$eval('#mixed > li', (els) => els.map((e) => e.id || e.dataset.fedrankCategory));
  expect(mixed.indexOf('ad')).toBe(3);
  expect(mixed.slice(0, 3)).toEqual(['hats', 'hats', 'hats']);
  const r = await page.evaluate(async () => {
    const ids = Array.from(
      document.querySelectorAll<HTMLElement>('#big > li'),
      (e) => e.dataset.fedrankItem!,
    );
    const f = (window as unknown as { fedrank: import('../../client/types.ts').Fedrank }).fedrank;
    const items = Array.from({ length: 2000 }, (_, i) => ({
      id: `g${i}`,
      category: ['bags', 'shoes', 'hats', 'coats'][i % 4]!,
    }));
    const ranked = (await f.rank(items, { timeoutMs: 30_000 })).map((x) => x.id);
    return { ids, ranked };
  });
  expect(new Set(r.ids).size).toBe(2000);
  expect(r.ids).toEqual(r.ranked);
  expect(errors).toEqual([]);
});

test('rank() from code reflects a click at once and falls back to the original order on bad input', async ({
  page,
}) => {
  const errors = watchErrors(page);
  await mockServer(page, site.origin);
  await page.goto(`${site.origin}/shop.html?backend=wasm&auto=false`);
  await readyStatus(page);
  const r = await page.evaluate(async () => {
    const f = (window as unknown as { fedrank: import('../../client/types.ts').Fedrank }).fedrank;
    const items = Array.from({ length: 30 }, (_, i) => ({ id: `x${i}`, category: i % 2 ? 'tea' : 'coffee' }));
    await f.track({ type: 'click', item: items[3]! });
    const after = await f.rank(items);
    const bad = await f.rank([{ id: 'a' }, { nope: 1 } as never]);
    const notArray = await f.rank(null as never);
    return { top: after.slice(0, 10).map((x) => x.category), bad: bad.length, notArray };
  });
  expect(r.top.filter((c) => c === 'tea').length).toBeGreaterThanOrEqual(9);
  expect(r.bad).toBe(2);
  expect(r.notArray).toEqual([]);
  expect(errors).toEqual([]);
});

test('forget() empties IndexedDB', async ({ page }) => {
  await mockServer(page, site.origin);
  await page.goto(`${site.origin}/shop.html?backend=wasm`);
  await readyStatus(page);
  await page.click('[data-fedrank-item="sku-2"] a');
  await page.waitForFunction(
    async () => (await (window as unknown as Win).fedrank.status()).eventsStored > 0,
  );
  const count = () =>
    page.evaluate(async () => {
      const db = await new Promise<IDBDatabase>((res, rej) => {
        const r = indexedDB.open('fedrank');
        r.onsuccess = () => res(r.result);
        r.onerror = () => rej(r.error);
      });
      const out: Record<string, number> = {};
      for (const name of Array.from(db.objectStoreNames)) {
        out[name] = await new Promise<number>((res) => {
          const req = db.transaction(name).objectStore(name).count();
          req.onsuccess = () => res(req.result);
        });
      }
      db.close();
      return out;
    });
  const before = await count();
  expect(before.events).toBeGreaterThan(0);
  expect(before.model).toBe(1);
  await page.evaluate(() => (window as unknown as Win).fedrank.forget());
  const after = await count();
  // Nothing remains: the device keeps no client id (each round's messages carry a fresh one).
  expect(after).toEqual({
    events: 0,
    ledger: 0,
    model: 0,
    outbox: 0,
    personal: 0,
    roundSecrets: 0,
    settings: 0,
  });
  const st = await page.evaluate(() => (window as unknown as Win).fedrank.status());
  expect(st.eventsStored).toBe(0);
  expect(st.epsilonSpent).toBe(0);
});

test('rank() is served while a training pass runs (cooperative training), within a short deadline', async ({
  page,
}) => {
  const errors = watchErrors(page);
  // Many local epochs make the training pass last seconds, so rank() calls land in the middle of it.
  const seen = await mockServer(page, site.origin, { training: trainingConfig({ localEpochs: 120 }) });
  await page.goto(`${site.origin}/shop.html?backend=wasm&auto=false`);
  await readyStatus(page);
  const r = await page.evaluate(async () => {
    type F = import('../../client/types.ts').Fedrank & { debug(): Promise<{ trainMs: number | null }> };
    const f = (window as unknown as { fedrank: F }).fedrank;
    const items = Array.from({ length: 40 }, (_, i) => ({ id: `r${i}`, category: i % 2 ? 'hats' : 'bags' }));
    await f.rank(items, { timeoutMs: 30_000 }); // warm: item vectors cached, kernels compiled
    for (const i of [1, 3, 5, 7]) await f.track({ type: 'click', item: items[i]! });
    await f.rank(items, { timeoutMs: 30_000 });
    const tops: string[] = [];
    const t0 = performance.now();
    let duringTraining = 0;
    while (performance.now() - t0 < 60_000) {
      const trained = (await f.debug()).trainMs !== null;
      if (trained && tops.length > 0) break;
      // Fallback (original order) would put a bag first; the personalized order puts a hat first.
      tops.push((await f.rank(items, { timeoutMs: 150 }))[0]!.category!);
      if (!trained) duringTraining++;
      await new Promise((res) => setTimeout(res, 30));
    }
    return { tops, duringTraining, trainMs: (await f.debug()).trainMs, st: await f.status() };
  });
  expect(r.trainMs).not.toBeNull();
  expect(r.trainMs!).toBeGreaterThan(500); // the pass really overlapped the rank() calls below
  expect(r.duringTraining).toBeGreaterThan(5);
  expect(r.tops.every((c) => c === 'hats')).toBe(true);
  expect(r.st.lastError).toBeNull();
  await expect.poll(() => seen.filter((c) => c.path === '/v1/updates').length, { timeout: 20_000 }).toBe(1);
  expect(errors).toEqual([]);
});
