/**
 * Scenario 2: on-device personalization. A shopper who keeps clicking one category sees it move up in their
 * own grid on the next page view; another shopper (own browser context, own IndexedDB) clicking something
 * else does not see that category move up. No round closes here (minClients is out of reach), so the only
 * difference between the two grids is what each device learned from its own clicks.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { test, expect } from '@playwright/test';
import {
  ARTIFACTS,
  SDK_ATTRS,
  clickCategory,
  fastRounds,
  gridOrder,
  meanPosition,
  openShopper,
  privateStack,
  sdkStatus,
  waitFor,
} from '../support.ts';

const LIKED = 'Audio';
const OTHER = 'Garden';

test('clicks on one category move it up for that shopper only', async ({ browser }) => {
  const stack = await privateStack({ server: fastRounds(5), shop: { sdkAttributes: SDK_ATTRS } });
  try {
    const a = await openShopper(browser, stack);
    const b = await openShopper(browser, stack);
    for (const s of [a, b]) {
      await waitFor(
        'SDK ready',
        () => sdkStatus(s.page),
        (st) => st.ready,
        30_000,
      );
      await expect(s.page.locator('[data-fedrank-list]')).toHaveAttribute(
        'data-fedrank-ranked',
        /same|reordered/,
      );
    }
    const aBefore = meanPosition(await gridOrder(a.page), LIKED);
    const bBefore = meanPosition(await gridOrder(b.page), LIKED);

    await clickCategory(a.page, LIKED, 6);
    await clickCategory(b.page, OTHER, 6);
    await waitFor(
      'A stored its clicks',
      () => sdkStatus(a.page),
      (st) => st.eventsStored >= 6,
    );
    await waitFor(
      'B stored its clicks',
      () => sdkStatus(b.page),
      (st) => st.eventsStored >= 6,
    );

    // The next page view re-ranks with each device's own history.
    for (const s of [a, b]) {
      await s.page.reload();
      await waitFor(
        'SDK ready again',
        () => sdkStatus(s.page),
        (st) => st.ready,
        30_000,
      );
      await expect(s.page.locator('[data-fedrank-list]')).toHaveAttribute(
        'data-fedrank-ranked',
        /same|reordered/,
      );
    }
    const aOrder = await gridOrder(a.page);
    const bOrder = await gridOrder(b.page);
    const aAfter = meanPosition(aOrder, LIKED);
    const bAfter = meanPosition(bOrder, LIKED);
    const likedCount = aOrder.filter((x) => x.category === LIKED).length;
    test.info().annotations.push({
      type: 'positions',
      description: `mean position of ${LIKED}: A ${aBefore.toFixed(1)} -> ${aAfter.toFixed(1)}, B ${bBefore.toFixed(1)} -> ${bAfter.toFixed(1)} (of ${aOrder.length})`,
    });
    // A: the liked category's items now lead the grid (every one of them in the top rows).
    expect(aAfter).toBeLessThan(aBefore - 10);
    expect(aOrder.slice(0, likedCount + 4).filter((x) => x.category === LIKED).length).toBe(likedCount);
    // B never clicked it: it did not move up for B, and B's own category did.
    expect(bAfter).toBeGreaterThan(aAfter + 10);
    expect(bAfter).toBeGreaterThan(bBefore - 5);
    expect(meanPosition(bOrder, OTHER)).toBeLessThan(meanPosition(aOrder, OTHER));
    expect([...a.errors, ...b.errors]).toEqual([]);
    // Artifact: shopper A's personalized storefront with the "why this order" panel.
    await waitFor(
      'panel shows status',
      () => a.page.locator('#why-status').textContent(),
      (t) => /Audio|version/i.test(t ?? ''),
      5_000,
    ).catch(() => undefined);
    mkdirSync(ARTIFACTS, { recursive: true });
    await a.page.evaluate(() => window.scrollTo(0, 0));
    await a.page.screenshot({ path: join(ARTIFACTS, 'shop.png') });
    await a.context.close();
    await b.context.close();
  } finally {
    await stack.dispose();
  }
});
