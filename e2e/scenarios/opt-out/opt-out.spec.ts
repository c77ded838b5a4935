/**
 * Scenario 4: Global Privacy Control and opt-out. One shopper's browser sends GPC, another presses the
 * storefront's "Opt out" button; both click like everyone else. Their browsers send nothing to the server
 * (every request captured), learn nothing, re-rank nothing, and the round closes with the other two.
 */
import { test, expect } from '@playwright/test';
import {
  SDK_ATTRS,
  admin,
  clickCategory,
  fastRounds,
  gridOrder,
  openShopper,
  privateStack,
  sdkStatus,
  waitFor,
  type AdminRounds,
  type Shopper,
} from '../support.ts';

test('GPC and opted-out shoppers send nothing; the round closes without them', async ({ browser }) => {
  test.setTimeout(120_000);
  // Two updates close a round at its 2 s deadline; up to 4 could join before it.
  const stack = await privateStack({ server: fastRounds(2, 4, 2), shop: { sdkAttributes: SDK_ATTRS } });
  const shoppers: Shopper[] = [];
  try {
    const gpc = await openShopper(browser, stack, { gpc: true });
    const out = await openShopper(browser, stack);
    const a = await openShopper(browser, stack);
    const b = await openShopper(browser, stack);
    shoppers.push(gpc, out, a, b);

    const g0 = await waitFor(
      'GPC status',
      () => sdkStatus(gpc.page),
      (st) => st.gpc && st.optedOut,
      30_000,
    );
    expect(g0.ready).toBe(false);
    // The storefront's opt-out button calls window.fedrank.optOut().
    await waitFor(
      'SDK ready',
      () => sdkStatus(out.page),
      (st) => st.ready,
      30_000,
    );
    await out.page.click('#why-optout');
    const outBefore = await waitFor(
      'opted out',
      () => sdkStatus(out.page),
      (st) => st.optedOut,
      10_000,
    );
    const outRequestsBeforeClicks = out.serverRequests.length;

    const gpcOrder = await gridOrder(gpc.page);
    for (const [s, cat] of [
      [gpc, 'Audio'],
      [out, 'Audio'],
      [a, 'Books'],
      [b, 'Garden'],
    ] as const) {
      await waitFor(
        'page loaded',
        () => sdkStatus(s.page),
        (st) => st.version !== 'loader',
        30_000,
      );
      await clickCategory(s.page, cat, 4);
    }
    for (const s of [a, b])
      await waitFor(
        'update acknowledged',
        () => sdkStatus(s.page),
        (st) => st.updatesSent >= 1,
        60_000,
      );
    await waitFor(
      'round 1 closed',
      () => admin<AdminRounds>(stack, 'rounds?limit=5'),
      (r) => r.rounds.some((x) => x.id === 1 && x.state === 'closed'),
      20_000,
    );
    const r1 = (await admin<AdminRounds>(stack, 'rounds?limit=5')).rounds.find((r) => r.id === 1)!;
    expect(r1.participants).toBe(2);
    expect(r1.resultVersion).toBe(1);

    // Give the opted-out devices every chance to misbehave: idle time after their clicks.
    await gpc.page.waitForTimeout(1500);
    // GPC: not one request to the server, nothing stored, nothing re-ordered.
    expect(gpc.serverRequests.map((r) => `${r.method()} ${r.url()}`)).toEqual([]);
    const g = await sdkStatus(gpc.page);
    expect(g).toMatchObject({
      optedOut: true,
      gpc: true,
      eventsStored: 0,
      updatesSent: 0,
      updatesPending: 0,
    });
    expect(await gpc.page.locator('[data-fedrank-list]').getAttribute('data-fedrank-ranked')).toBeNull();
    expect(await gridOrder(gpc.page)).toEqual(gpcOrder);
    // Opt-out: nothing after the choice (it may have fetched the model before), and never an upload.
    expect(out.serverRequests.slice(outRequestsBeforeClicks).map((r) => `${r.method()} ${r.url()}`)).toEqual(
      [],
    );
    expect(out.serverRequests.filter((r) => r.method() !== 'GET')).toEqual([]);
    expect(await sdkStatus(out.page)).toMatchObject({
      optedOut: true,
      updatesSent: 0,
      updatesPending: 0,
      eventsStored: outBefore.eventsStored,
    });
    for (const s of shoppers) expect(s.errors).toEqual([]);
  } finally {
    for (const s of shoppers) await s.context.close();
    await stack.dispose();
  }
});
