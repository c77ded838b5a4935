/**
 * Scenario: contribution tokens end to end on the demo stack (tokens required). Real browser shoppers
 * get their tokens through the shop's relay (the shop's session cookie, never the server's business),
 * every upload carries one, the round closes on token-verified contributions only, and an upload without
 * a token is refused.
 */
import { test, expect } from '@playwright/test';
import { TOKEN_RELAY_PATH } from '../../../demo/token-relay.ts';
import {
  SDK_ATTRS,
  admin,
  clickCategory,
  fastRounds,
  openShopper,
  privateStack,
  sdkStatus,
  waitFor,
  type AdminStatus,
  type Shopper,
} from '../support.ts';

test("browser shoppers pay their uploads with tokens from the shop's relay; tokenless uploads are refused", async ({
  browser,
}) => {
  test.setTimeout(120_000);
  const MIN = 2;
  const stack = await privateStack({ server: fastRounds(MIN, MIN, 1), shop: { sdkAttributes: SDK_ATTRS } });
  const shoppers: Shopper[] = [];
  try {
    const html = await (await fetch(stack.shopUrl + '/')).text();
    expect(html).toContain(`data-token-url="${TOKEN_RELAY_PATH}"`);
    for (let i = 0; i < MIN; i++) shoppers.push(await openShopper(browser, stack));
    const relayed: string[] = [];
    for (const s of shoppers)
      s.context.on('requestfinished', (r) => {
        if (new URL(r.url()).pathname === TOKEN_RELAY_PATH) relayed.push(r.url());
      });
    for (const s of shoppers)
      await waitFor(
        'SDK ready',
        () => sdkStatus(s.page),
        (st) => st.ready,
        30_000,
      );
    for (const [i, s] of shoppers.entries()) await clickCategory(s.page, ['Audio', 'Books'][i]!, 4);
    for (const s of shoppers)
      await waitFor(
        'the update acknowledged',
        () => sdkStatus(s.page),
        (st) => st.updatesSent >= 1,
        60_000,
      );
    await waitFor(
      'version 1',
      () => admin<AdminStatus>(stack, 'status'),
      (x) => x.model.version >= 1,
      20_000,
    );

    // Tokens came through the shop, and the browser never called the server's issuer itself.
    expect(relayed.length).toBeGreaterThan(0);
    for (const s of shoppers) {
      const paths = s.serverRequests.map((r) => new URL(r.url()).pathname);
      expect(paths).not.toContain('/v1/tokens/issue');
      expect(paths).not.toContain('/v1/tokens/pow');
      const accepted = await Promise.all(
        s.serverRequests
          .filter((r) => r.method() === 'POST' && new URL(r.url()).pathname === '/v1/updates')
          .map(async (r) => ({
            token: r.headers()['x-fedrank-token'],
            status: (await r.response())?.status(),
          })),
      );
      const ok = accepted.filter((a) => a.status === 200 || a.status === 201);
      expect(ok.length).toBeGreaterThanOrEqual(1);
      for (const a of ok) expect(a.token).toMatch(/^[A-Za-z0-9_-]{100,}$/);
      expect(s.errors).toEqual([]);
    }
    const admitted = stack.tokensAdmitted()!;
    expect(admitted.unverified).toBe(0);
    expect(admitted.verified).toBeGreaterThanOrEqual(MIN);

    // An upload without a token is refused before anything is read.
    const bare = await fetch(stack.serverUrl + '/v1/updates', {
      method: 'POST',
      headers: { 'content-type': 'application/vnd.fedrank.tensor', origin: stack.shopUrl },
      body: new Uint8Array(8),
    });
    expect(bare.status).toBe(401);
    expect(((await bare.json()) as { error: { code: string } }).error.code).toBe('TOKEN_REQUIRED');
  } finally {
    for (const s of shoppers) await s.context.close();
    await stack.dispose();
  }
});
