/**
 * The shared token client in a real browser worker (Chromium): it fetches the published key, blinds with
 * @cloudflare/blindrsa-ts over WebCrypto, gets blind signatures (through the shop route, and by a proof of
 * work it solves itself), finalizes, and the Node server redeems the tokens it made.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect, test } from '@playwright/test';
import { build } from 'vite';
import { startServer, type RunningServer } from '../../server/app.ts';
import { constantDelta, randomId, testConfig } from '../../server/testing.ts';
import { TEST_SHOP_SECRET } from '../../server/tokens/testing.ts';

let server: RunningServer;
let bundle: string;
const shops: Server[] = [];

test.beforeAll(async () => {
  server = await startServer(
    testConfig({
      port: 0,
      allowedOrigins: ['*'],
      tokens: { required: true, shopSecret: TEST_SHOP_SECRET, powDifficulty: 8 },
    }),
    { logger: false },
  );
  // The client module as the SDK worker would bundle it: one ES module, browser platform.
  const out = await build({
    configFile: false,
    logLevel: 'silent',
    build: {
      write: false,
      minify: false,
      lib: { entry: 'shared/tokens/client.ts', formats: ['es'], fileName: 'tokens' },
    },
  });
  const first = (Array.isArray(out) ? out[0]! : out) as { output: { type: string; code?: string }[] };
  bundle = first.output.find((o) => o.type === 'chunk')!.code!;
});

test.afterAll(async () => {
  for (const shop of shops) shop.close();
  await server?.close();
});

/** Runs the client in a module worker and returns the redemption headers it produced. */
const WORKER = `
import * as t from '__BUNDLE__';
self.onmessage = async (e) => {
  const { baseUrl, secret } = e.data;
  try {
    const viaShop = await t.tokensViaShop({
      baseUrl, fetch: (u, i) => fetch(u, i), purpose: 'update', count: 2,
      relay: (request) => t.issueForSession({ baseUrl, fetch: (u, i) => fetch(u, i), shopSecret: secret,
        sessionId: 'browser-session-1', request }),
    });
    const byWork = await t.tokensByProofOfWork({ baseUrl, fetch: (u, i) => fetch(u, i), purpose: 'update', count: 1 });
    self.postMessage({ headers: [...viaShop, ...byWork].map((x) => t.tokenHeader(x)['x-fedrank-token']) });
  } catch (err) {
    self.postMessage({ error: String(err && err.message || err) });
  }
};
`;

test('the browser worker obtains tokens that the server redeems', async ({ page }) => {
  // A page of its own loopback origin, without the API's CSP (which allows no blob: workers): the worker's
  // requests to the server are cross-origin, as from a shop.
  const shop = createServer((_, res) => res.end('<!doctype html><title>shop</title>'));
  await new Promise<void>((ok) => shop.listen(0, '127.0.0.1', ok));
  shops.push(shop);
  await page.goto(`http://127.0.0.1:${(shop.address() as AddressInfo).port}/`);
  const result = await page.evaluate(
    async ({ bundle, worker, baseUrl, secret }) => {
      const lib = URL.createObjectURL(new Blob([bundle], { type: 'text/javascript' }));
      const src = worker.replace('__BUNDLE__', lib);
      const w = new Worker(URL.createObjectURL(new Blob([src], { type: 'text/javascript' })), {
        type: 'module',
      });
      return new Promise<{ headers?: string[]; error?: string }>((resolve) => {
        w.onmessage = (e) => resolve(e.data);
        w.onerror = (e) => resolve({ error: e.message ?? e.type });
        w.postMessage({ baseUrl, secret });
      });
    },
    { bundle, worker: WORKER, baseUrl: server.url, secret: TEST_SHOP_SECRET },
  );
  expect(result.error).toBeUndefined();
  expect(result.headers).toHaveLength(3);
  const a = server.aggregator;
  for (const token of result.headers!) {
    const body = constantDelta(
      { modelId: a.model.modelId, baseVersion: a.version, round: a.open!.round.id },
      a.model.paramCount,
      0,
    );
    const res = await fetch(`${server.url}/v1/updates`, {
      method: 'POST',
      body: Buffer.from(body),
      headers: {
        'content-type': 'application/vnd.fedrank.tensor',
        'x-fedrank-client': randomId('c'),
        'idempotency-key': randomId('k'),
        'x-fedrank-token': token,
      },
    });
    expect(res.status).toBe(201);
  }
  expect(server.tokens.admitted.verified).toBe(3);
});
