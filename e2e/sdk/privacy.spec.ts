import { test, expect } from '@playwright/test';
import type { Page, Request } from '@playwright/test';
import { decodeTensor } from '../../shared/codec/tensor-codec.ts';
import { computeEpsilon } from '../../shared/dp/accountant.ts';
import { parseEvalReport } from '../../shared/protocol-parse.ts';
import { DEFAULT_SPEC, modelIdOf, paramCount } from '../../shared/model/spec.ts';
import type { FedrankStatus } from '../../client/types.ts';
import { mockServer, startStatic, trainingConfig, waitForSdk, watchErrors } from './support.ts';
import type { Captured } from './support.ts';

type Win = { fedrank: { status(): Promise<FedrankStatus>; optOut(): Promise<void>; [k: string]: unknown } };
const status = (page: Page) => page.evaluate(() => (window as unknown as Win).fedrank.status());

let site: Awaited<ReturnType<typeof startStatic>>;
test.beforeAll(async () => {
  site = await startStatic();
});
test.afterAll(async () => {
  await site.close();
});

/** Every request the page (and its worker) makes. */
function recordRequests(page: Page): Request[] {
  const all: Request[] = [];
  page.on('request', (r) => all.push(r));
  return all;
}

async function clickHats(page: Page): Promise<void> {
  for (const sku of ['sku-1', 'sku-4', 'sku-7', 'sku-10']) await page.click(`[data-fedrank-item="${sku}"] a`);
}

function uploads(seen: Captured[]): Captured[] {
  return seen.filter((c) => c.method === 'POST' && c.path === '/v1/updates');
}

/** Mean and standard deviation of the decoded update, and its squared norm. */
function stats(v: Float32Array): { mean: number; std: number; norm2: number } {
  let s = 0;
  let s2 = 0;
  for (const x of v) {
    s += x;
    s2 += x * x;
  }
  const mean = s / v.length;
  return { mean, std: Math.sqrt(s2 / v.length - mean * mean), norm2: s2 };
}

for (const [encoding, sigma, clip] of [
  ['f32', 2, 0.01],
  ['i8', 0.8, 0.05],
] as const) {
  test(`only update payloads leave the page, clipped and noised as configured (${encoding}, sigma ${sigma}, C ${clip})`, async ({
    page,
  }) => {
    const errors = watchErrors(page);
    const requests = recordRequests(page);
    const training = trainingConfig({ clipNorm: clip, noiseMultiplier: sigma, updateEncoding: encoding });
    const seen = await mockServer(page, site.origin, { training });
    await page.goto(`${site.origin}/shop.html?backend=wasm`);
    await waitForSdk(page);
    await page.waitForFunction(async () => (await (window as unknown as Win).fedrank.status()).ready);
    await clickHats(page);
    await expect.poll(() => uploads(seen).length, { timeout: 30_000 }).toBe(1);
    const up = uploads(seen)[0]!;
    expect(up.headers['content-type']).toBe('application/vnd.fedrank.tensor');
    expect(up.headers['x-fedrank-client']).toMatch(/^[A-Za-z0-9_-]{16,64}$/);
    expect(up.headers['idempotency-key']).toMatch(/^[A-Za-z0-9_-]{16,64}$/);
    const n = paramCount(DEFAULT_SPEC);
    const { header, values } = decodeTensor(new Uint8Array(up.body!), { maxCount: n });
    expect(header).toMatchObject({
      kind: 'delta',
      modelId: modelIdOf(DEFAULT_SPEC),
      baseVersion: 1,
      round: 7,
      count: n,
    });
    expect(header.encoding).toBe(encoding);
    // Noise: per-coordinate std = sigma*C (the clipped signal adds at most C^2/n of variance).
    const noiseStd = sigma * clip;
    const st = stats(values);
    expect(Math.abs(st.std / noiseStd - 1)).toBeLessThan(0.03);
    expect(Math.abs(st.mean)).toBeLessThan((5 * noiseStd) / Math.sqrt(n));
    // Norm: |v|^2 = |noise|^2 + |clipped|^2 (+ cross term) with |clipped| <= C; 6 sd of the chi-square.
    const sd = noiseStd * noiseStd * Math.sqrt(2 * n) + 2 * clip * noiseStd;
    expect(st.norm2).toBeGreaterThan(n * noiseStd * noiseStd - 6 * sd);
    expect(st.norm2).toBeLessThan(n * noiseStd * noiseStd + clip * clip + 6 * sd);
    // Nothing else carried a body; every request went to the shop's own origin (assets, the /agg mock).
    for (const r of requests) {
      expect(new URL(r.url()).origin).toBe(site.origin);
      if (r.postDataBuffer()) expect(new URL(r.url()).pathname).toBe('/agg/v1/updates');
    }
    // The ledger: one contribution at (q=1, sigma), accounted with the shared accountant.
    await expect.poll(async () => (await status(page)).updatesSent).toBe(1);
    const s = await status(page);
    expect(s.epsilonSpent).toBeCloseTo(computeEpsilon({ q: 1, sigma, steps: 1, delta: 1e-5 }).epsilon, 9);
    expect(s.updatesPending).toBe(0);
    expect(errors).toEqual([]);
  });
}

test('opt-in evaluation reports (data-eval-reports) carry only aggregate hits and NDCG', async ({ page }) => {
  const seen = await mockServer(page, site.origin);
  await page.goto(`${site.origin}/shop.html?backend=wasm&evalReports=true`);
  await waitForSdk(page);
  await page.waitForFunction(async () => (await (window as unknown as Win).fedrank.status()).ready);
  await clickHats(page);
  await expect.poll(() => uploads(seen).length, { timeout: 30_000 }).toBe(1);
  const evals = seen.filter((c) => c.method === 'POST' && c.path === '/v1/eval');
  expect(evals.length).toBe(1);
  const report = parseEvalReport(JSON.parse(evals[0]!.body!.toString('utf8')));
  expect(Object.keys(JSON.parse(evals[0]!.body!.toString('utf8'))).sort()).toEqual([
    'examples',
    'hitsAt10',
    'modelVersion',
    'ndcgAt10',
  ]);
  expect(report.modelVersion).toBe(1);
  // Positives since the last pass that had at least 10 other shown items to be ranked against.
  expect(report.examples).toBeGreaterThanOrEqual(1);
  expect(report.examples).toBeLessThanOrEqual(4);
  expect(evals[0]!.headers['x-fedrank-client']).toBe(uploads(seen)[0]!.headers['x-fedrank-client']);
});

test('one update per round: more clicks in the same open round train nothing more and spend no budget', async ({
  page,
}) => {
  const seen = await mockServer(page, site.origin);
  await page.goto(`${site.origin}/shop.html?backend=wasm`);
  await waitForSdk(page);
  await page.waitForFunction(async () => (await (window as unknown as Win).fedrank.status()).ready);
  await clickHats(page);
  await expect.poll(async () => (await status(page)).updatesSent, { timeout: 30_000 }).toBe(1);
  const first = await status(page);
  // Round 7 is still the open round: these clicks personalize, but contribute nothing to it.
  for (const sku of ['sku-2', 'sku-5', 'sku-8', 'sku-11']) await page.click(`[data-fedrank-item="${sku}"] a`);
  await expect.poll(async () => (await status(page)).eventsStored).toBeGreaterThan(first.eventsStored);
  await page.waitForTimeout(6000);
  expect(uploads(seen).length).toBe(1);
  const s = await status(page);
  expect(s.epsilonSpent).toBe(first.epsilonSpent);
  expect(s).toMatchObject({ updatesSent: 1, updatesPending: 0, lastError: null });
});

test('participation cap k = 2: the device uploads to two rounds, then to none of the rounds that follow', async ({
  page,
}) => {
  const training = trainingConfig({ noiseMultiplier: 4 });
  const participation = { maxContributions: 2, minSeparationRounds: 1 };
  // The mock opens the next round after each upload; the shopper comes back (a reload) to each new one.
  const seen = await mockServer(page, site.origin, { training, participation, advanceRound: true });
  const visit = async (skus: string[]): Promise<void> => {
    await page.goto(`${site.origin}/shop.html?backend=wasm`);
    await waitForSdk(page);
    await page.waitForFunction(async () => (await (window as unknown as Win).fedrank.status()).ready);
    for (const sku of skus) await page.click(`[data-fedrank-item="${sku}"] a`);
  };
  await visit(['sku-1', 'sku-4', 'sku-7', 'sku-10']);
  await expect.poll(() => uploads(seen).length, { timeout: 30_000 }).toBe(1);
  await visit(['sku-2', 'sku-5', 'sku-8', 'sku-11']);
  await expect.poll(() => uploads(seen).length, { timeout: 30_000 }).toBe(2);
  const before = await status(page);
  // Round 9 is open now: new clicks on a fresh visit, but no third upload.
  await visit(['sku-3', 'sku-6', 'sku-9', 'sku-1']);
  await expect.poll(async () => (await status(page)).eventsStored).toBeGreaterThan(before.eventsStored);
  await page.waitForTimeout(6000);
  expect(
    uploads(seen).map((u) => decodeTensor(new Uint8Array(u.body!), { maxCount: 1e7 }).header.round),
  ).toEqual([7, 8]);
  const after = await status(page);
  expect(after).toMatchObject({ modelVersion: 1, updatesSent: 2, updatesPending: 0, lastError: null });
  expect(after.epsilonSpent).toBe(before.epsilonSpent);
});

test('a failed upload is retried with the same idempotency key', async ({ page }) => {
  const seen = await mockServer(page, site.origin, { mode: 'flaky-upload' });
  await page.goto(`${site.origin}/shop.html?backend=wasm`);
  await waitForSdk(page);
  await page.waitForFunction(async () => (await (window as unknown as Win).fedrank.status()).ready);
  await clickHats(page);
  // First attempt answered 503; the retry comes after 1-2 s of jittered backoff.
  await expect.poll(() => uploads(seen).length, { timeout: 20_000 }).toBe(2);
  const [a, b] = uploads(seen);
  expect(a!.headers['idempotency-key']).toBe(b!.headers['idempotency-key']);
  expect(Buffer.compare(a!.body!, b!.body!)).toBe(0);
  await expect.poll(async () => (await status(page)).updatesSent).toBe(1);
});

test('Global Privacy Control: nothing learned, sent or re-ranked', async ({ page }) => {
  const errors = watchErrors(page);
  await page.addInitScript(() =>
    Object.defineProperty(Navigator.prototype, 'globalPrivacyControl', { get: () => true }),
  );
  const requests = recordRequests(page);
  let workers = 0;
  page.on('worker', () => workers++);
  const seen = await mockServer(page, site.origin);
  await page.goto(`${site.origin}/shop.html?backend=wasm`);
  await waitForSdk(page);
  const before = await page.evaluate(() => (window as unknown as { ids(s: string): string[] }).ids('#grid'));
  await clickHats(page);
  const ranked = await page.evaluate(async () => {
    const items = Array.from({ length: 20 }, (_, i) => ({ id: `g${i}`, category: i % 2 ? 'hats' : 'bags' }));
    const out = await (
      window as unknown as { fedrank: import('../../client/types.ts').Fedrank }
    ).fedrank.rank(items);
    return out.map((x) => x.id).join(',') === items.map((x) => x.id).join(',');
  });
  expect(ranked).toBe(true);
  await page.waitForTimeout(1500);
  const s = await status(page);
  expect(s).toMatchObject({ gpc: true, optedOut: true, ready: false, eventsStored: 0, updatesSent: 0 });
  expect(seen).toEqual([]);
  expect(workers).toBe(0);
  expect(requests.filter((r) => r.url().includes('/agg'))).toEqual([]);
  expect(await page.evaluate(() => (window as unknown as { ids(s: string): string[] }).ids('#grid'))).toEqual(
    before,
  );
  expect(errors).toEqual([]);
});

test('a shop may configure GPC as not applicable (data-gpc="ignore")', async ({ page }) => {
  await page.addInitScript(() =>
    Object.defineProperty(Navigator.prototype, 'globalPrivacyControl', { get: () => true }),
  );
  await mockServer(page, site.origin);
  await page.goto(`${site.origin}/shop.html?backend=wasm&gpc=ignore`);
  await waitForSdk(page);
  await page.waitForFunction(async () => (await (window as unknown as Win).fedrank.status()).ready);
  expect(await status(page)).toMatchObject({ gpc: true, optedOut: false, ready: true });
});

test('optOut() stops learning and sending, and survives a reload', async ({ page }) => {
  const seen = await mockServer(page, site.origin);
  await page.goto(`${site.origin}/shop.html?backend=wasm`);
  await waitForSdk(page);
  await page.waitForFunction(async () => (await (window as unknown as Win).fedrank.status()).ready);
  await page.evaluate(() => (window as unknown as Win).fedrank.optOut());
  const stored = (await status(page)).eventsStored;
  await clickHats(page);
  await page.waitForTimeout(1000);
  expect((await status(page)).eventsStored).toBe(stored);
  expect(uploads(seen)).toEqual([]);
  await page.reload();
  await waitForSdk(page);
  const s = await status(page);
  expect(s).toMatchObject({ optedOut: true, ready: false });
  const n = seen.length;
  await clickHats(page);
  await page.waitForTimeout(1000);
  expect(seen.length).toBe(n);
});

test('the device stops contributing when its budget is spent, and keeps personalizing', async ({ page }) => {
  // One contribution at sigma 0.5 costs far more than the server-suggested budget of 8.
  const seen = await mockServer(page, site.origin, { training: trainingConfig({ noiseMultiplier: 0.5 }) });
  await page.goto(`${site.origin}/shop.html?backend=wasm&auto=false`);
  await waitForSdk(page);
  await page.waitForFunction(async () => (await (window as unknown as Win).fedrank.status()).ready);
  const top = await page.evaluate(async () => {
    const f = (window as unknown as { fedrank: import('../../client/types.ts').Fedrank }).fedrank;
    const items = Array.from({ length: 20 }, (_, i) => ({ id: `b${i}`, category: i % 2 ? 'hats' : 'bags' }));
    for (const i of [1, 3, 5, 7]) await f.track({ type: 'click', item: items[i]! });
    return (await f.rank(items)).slice(0, 5).map((x) => x.category);
  });
  expect(top).toEqual(['hats', 'hats', 'hats', 'hats', 'hats']);
  await page.waitForTimeout(1500);
  const s = await status(page);
  expect(s.budgetExhausted).toBe(true);
  expect(s.epsilonSpent).toBe(0);
  expect(uploads(seen)).toEqual([]);
});

test('a manifest below the device floors (delta too large) gets no upload', async ({ page }) => {
  // delta 1e-3 is above the device's floor (1e-5): within budget, but refused before any noise is drawn.
  const seen = await mockServer(page, site.origin, { delta: 1e-3 });
  await page.goto(`${site.origin}/shop.html?backend=wasm`);
  await waitForSdk(page);
  await page.waitForFunction(async () => (await (window as unknown as Win).fedrank.status()).ready);
  await clickHats(page);
  await page.waitForTimeout(6000);
  expect(uploads(seen)).toEqual([]);
  expect(await status(page)).toMatchObject({ epsilonSpent: 0, updatesSent: 0, dp: 'on' });
});

test('with data-dp="off" the device accepts a noiseless manifest and says DP is off', async ({ page }) => {
  const seen = await mockServer(page, site.origin, { training: trainingConfig({ noiseMultiplier: 0 }) });
  await page.goto(`${site.origin}/shop.html?backend=wasm&dp=off`);
  await waitForSdk(page);
  await page.waitForFunction(async () => (await (window as unknown as Win).fedrank.status()).ready);
  expect((await status(page)).dp).toBe('off');
  await clickHats(page);
  await expect.poll(() => uploads(seen).length, { timeout: 30_000 }).toBe(1);
});

test('two tabs of one shopper contribute once to a round', async ({ context }) => {
  // Routes on the context serve both tabs (and their workers); the round stays open.
  const seen = await mockServer(context, site.origin);
  const a = await context.newPage();
  const b = await context.newPage();
  for (const p of [a, b]) {
    await p.goto(`${site.origin}/shop.html?backend=wasm`);
    await waitForSdk(p);
    await p.waitForFunction(async () => (await (window as unknown as Win).fedrank.status()).ready);
  }
  await clickHats(a);
  await expect.poll(() => uploads(seen).length, { timeout: 30_000 }).toBe(1);
  // The other tab learns from its own clicks, then finds this round already in the shared ledger.
  await clickHats(b);
  await expect.poll(async () => (await status(b)).eventsStored).toBeGreaterThan(8);
  await b.waitForTimeout(6000);
  expect(uploads(seen).length).toBe(1);
});
