/**
 * Scenario 1: the federated loop with real browsers. Three shoppers (separate contexts, own IndexedDB)
 * click on the storefront; each device trains and uploads one private update; the round closes with the
 * configured minimum; the global model version advances; each shopper's page fetches the new version; the
 * dashboard shows the round and the epsilon spent.
 */
import { test, expect } from '@playwright/test';
import {
  SDK_ATTRS,
  admin,
  clickCategory,
  fastRounds,
  openShopper,
  privateStack,
  sdkStatus,
  waitFor,
  type AdminRounds,
  type AdminStatus,
  type Shopper,
} from '../support.ts';

test('three shoppers close a round; everyone gets the new model; the dashboard shows it', async ({
  browser,
}) => {
  test.setTimeout(120_000);
  const MIN = 3;
  const stack = await privateStack({ server: fastRounds(MIN, MIN, 1), shop: { sdkAttributes: SDK_ATTRS } });
  const shoppers: Shopper[] = [];
  try {
    expect((await admin<AdminStatus>(stack, 'status')).model.version).toBe(0);
    const categories = ['Audio', 'Books', 'Outdoor'];
    for (let i = 0; i < MIN; i++) shoppers.push(await openShopper(browser, stack));
    for (const s of shoppers)
      await waitFor(
        'SDK ready',
        () => sdkStatus(s.page),
        (st) => st.ready,
        30_000,
      );
    expect((await sdkStatus(shoppers[0]!.page)).modelVersion).toBe(0);

    // Each shopper clicks enough (minNewEvents = 3) to train once and upload one update.
    for (const [i, s] of shoppers.entries()) await clickCategory(s.page, categories[i]!, 4);
    for (const s of shoppers)
      await waitFor(
        'the update acknowledged',
        () => sdkStatus(s.page),
        (st) => st.updatesSent >= 1,
        60_000,
      );

    const st = await waitFor(
      'version 1',
      () => admin<AdminStatus>(stack, 'status'),
      (x) => x.model.version >= 1,
      20_000,
    );
    const { rounds } = await admin<AdminRounds>(stack, 'rounds?limit=10');
    const first = rounds.find((r) => r.id === 1)!;
    expect(first.state).toBe('closed');
    expect(first.participants).toBe(MIN);
    expect(first.resultVersion).toBe(1);
    expect(first.epsilonAfter).toBeGreaterThan(0);
    expect(st.privacy.epsilonSpent).toBeGreaterThan(0);

    // Every upload was a binary tensor payload; no raw events went anywhere.
    for (const s of shoppers) {
      const posts = s.serverRequests.filter((r) => r.method() === 'POST');
      expect(posts.length).toBeGreaterThan(0);
      for (const p of posts) {
        expect(new URL(p.url()).pathname).toBe('/v1/updates');
        expect(p.headers()['content-type']).toBe('application/vnd.fedrank.tensor');
      }
    }

    // The next page view of each shopper fetches and uses the new global model.
    for (const s of shoppers) {
      await s.page.reload();
      const after = await waitFor(
        'new model on the page',
        () => sdkStatus(s.page),
        (x) => x.modelVersion === st.model.version,
        30_000,
      );
      expect(after.ready).toBe(true);
      expect(after.epsilonSpent).toBeGreaterThan(0);
      expect(s.errors).toEqual([]);
      // ... from the version's immutable compact weights (the manifest's weightsUrl, CDN-cacheable).
      const weights = s.serverRequests
        .map((r) => new URL(r.url()).pathname)
        .filter((p) => p.endsWith('/weights'));
      expect(weights).toContain(
        `/v1/model/${encodeURIComponent(st.model.modelId)}/${st.model.version}/weights`,
      );
    }

    // The dashboard shows the closed round and the epsilon spent.
    const ctx = await browser.newContext();
    const dash = await ctx.newPage();
    await dash.goto(stack.dashboardUrl + '?interval=0.5');
    await dash.fill('#token', stack.token);
    await dash.click('#token-form button[type=submit]');
    await expect(dash.locator('#kpi-version')).toHaveText(String(st.model.version));
    await expect(dash.locator('#rounds tbody')).toContainText('#1');
    await expect(dash.locator('#chart-participants canvas')).toHaveCount(1);
    const eps = Number(await dash.locator('#kpi-epsilon').textContent());
    expect(eps).toBeCloseTo(st.privacy.epsilonSpent, 1);
    await ctx.close();
  } finally {
    for (const s of shoppers) await s.context.close();
    await stack.dispose();
  }
});
