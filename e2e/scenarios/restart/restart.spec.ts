/**
 * Scenario 3: the server crashes (SIGKILL, a child `fedrank serve` process) in the middle of a round and
 * comes back on the same database. Nothing it acknowledged is lost or counted twice; a shopper whose upload
 * failed while it was down delivers it from the outbox after the restart; the shoppers carry on into the
 * next round with the new model.
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

test('SIGKILL mid-round: acknowledged updates survive, clients retry and carry on', async ({ browser }) => {
  test.setTimeout(150_000);
  const stack = await privateStack({
    server: fastRounds(3, 3, 1),
    serverMode: 'process',
    shop: { sdkAttributes: SDK_ATTRS },
  });
  const shoppers: Shopper[] = [];
  try {
    for (let i = 0; i < 3; i++) shoppers.push(await openShopper(browser, stack));
    const [a, b, c] = shoppers as [Shopper, Shopper, Shopper];
    for (const s of shoppers)
      await waitFor(
        'SDK ready',
        () => sdkStatus(s.page),
        (st) => st.ready,
        30_000,
      );

    // Two of the three updates the round needs are acknowledged...
    await clickCategory(a.page, 'Audio', 4);
    await clickCategory(b.page, 'Books', 4);
    for (const s of [a, b])
      await waitFor(
        'update acknowledged',
        () => sdkStatus(s.page),
        (st) => st.updatesSent === 1,
        60_000,
      );
    const before = await admin<AdminStatus>(stack, 'status');
    expect(before.model.version).toBe(0);
    expect(before.round).toMatchObject({ id: 1, accepted: 2 });

    // ...then the server dies without any chance to flush.
    await stack.stopServer('SIGKILL');

    // The third shopper learns while the server is down: the upload fails and waits in the outbox.
    await clickCategory(c.page, 'Outdoor', 4);
    const pending = await waitFor(
      'upload pending',
      () => sdkStatus(c.page),
      (st) => st.updatesPending >= 1,
      60_000,
    );
    expect(pending.updatesSent).toBe(0);
    // The outbox tried (and failed) at least once before the server is back.
    await waitFor(
      'a failed upload attempt',
      async () => c.serverRequests.filter((r) => r.method() === 'POST' && r.failure() !== null).length,
      (n) => n >= 1,
      30_000,
    );

    await stack.startServer();
    const resumed = await admin<AdminStatus>(stack, 'status');
    // The partial round came back intact: both acknowledged updates, no more (the outbox may already be in).
    expect(resumed.round === null || resumed.round.id >= 1).toBe(true);
    const r1Before = (await admin<AdminRounds>(stack, 'rounds?limit=5')).rounds.find((r) => r.id === 1)!;
    expect(r1Before.participants).toBeGreaterThanOrEqual(2);

    // The outbox retry (backoff with jitter) delivers the third update and the round closes with exactly 3.
    await waitFor(
      'retry delivered',
      () => sdkStatus(c.page),
      (st) => st.updatesSent === 1 && st.updatesPending === 0,
      60_000,
    );
    const closed = await waitFor(
      'version 1',
      () => admin<AdminStatus>(stack, 'status'),
      (s) => s.model.version === 1,
      20_000,
    );
    const r1 = (await admin<AdminRounds>(stack, 'rounds?limit=5')).rounds.find((r) => r.id === 1)!;
    expect(r1).toMatchObject({ state: 'closed', participants: 3, resultVersion: 1 });
    expect(closed.privacy.epsilonSpent).toBeGreaterThan(0);

    // The shoppers carry on: new page views fetch version 1 and their next updates go into round 2.
    for (const [i, s] of [a, b].entries()) {
      await s.page.reload();
      await waitFor(
        'model v1',
        () => sdkStatus(s.page),
        (st) => st.modelVersion === 1,
        30_000,
      );
      await clickCategory(s.page, i === 0 ? 'Audio' : 'Books', 4);
      await waitFor(
        'second update',
        () => sdkStatus(s.page),
        (st) => st.updatesSent === 2,
        60_000,
      );
    }
    const now = await admin<AdminStatus>(stack, 'status');
    expect(now.round).toMatchObject({ id: 2, accepted: 2 });
    for (const s of shoppers) expect(s.errors).toEqual([]);
  } finally {
    for (const s of shoppers) await s.context.close();
    await stack.dispose();
  }
});
