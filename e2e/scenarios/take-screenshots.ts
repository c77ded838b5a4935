/**
 * Regenerates docs/screenshots/ (README pictures): a private stack with simulated shoppers until a dozen
 * rounds closed, then the dashboard and a shopper's personalized storefront in headless Chromium.
 * Run: `npx tsx e2e/scenarios/take-screenshots.ts` (needs `npm run build` first).
 */
import { registerTfjsResolveHook } from '../../cli/tfjs-node.ts';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from '@playwright/test';
import { chromiumLaunchOptions } from '../support/chromium.ts';
import { startStack } from '../../demo/stack.ts';
import { loadCatalog } from '../../demo/shop-server.ts';

registerTfjsResolveHook();
const { startShoppers } = await import('../../demo/shoppers.ts');

const OUT = resolve(fileURLToPath(new URL('.', import.meta.url)), '..', '..', 'docs', 'screenshots');
const ROUNDS = Number(process.env.ROUNDS ?? 12);
const dataDir = mkdtempSync(join(tmpdir(), 'fedrank-shots-'));
const stack = await startStack({
  dataDir,
  server: {
    rounds: { minClients: 3, maxClients: 6, deadlineSeconds: 2 },
    training: { expectedClientsPerRound: 3 },
    logLevel: 'error',
  },
  shop: { sdkAttributes: { backend: 'wasm', 'rank-timeout': '5000' } },
});
const sim = await startShoppers({
  serverUrl: stack.serverUrl,
  count: 6,
  catalog: loadCatalog(),
  pauseMs: 150,
});
const browser = await chromium.launch(chromiumLaunchOptions());
try {
  const auth = { authorization: `Bearer ${stack.token}` };
  for (;;) {
    const s = (await (await fetch(`${stack.serverUrl}/v1/admin/status`, { headers: auth })).json()) as {
      model: { version: number };
    };
    process.stdout.write(`\rversion ${s.model.version}/${ROUNDS}`);
    if (s.model.version >= ROUNDS) break;
    await new Promise((r) => setTimeout(r, 1000));
  }
  await sim.stop();
  mkdirSync(OUT, { recursive: true });

  const shop = await browser.newPage({ viewport: { width: 1280, height: 860 } });
  await shop.goto(stack.shopUrl + '/');
  await shop.waitForFunction(() =>
    document.querySelector('[data-fedrank-list]')?.hasAttribute('data-fedrank-ranked'),
  );
  const tiles = shop.locator('[data-fedrank-category="Outdoor"] .tile');
  const n = await tiles.count();
  for (let i = 0; i < 5; i++) {
    await tiles.nth(i % n).click();
    await shop.locator('#quick button[value="close"]').click();
  }
  await shop.waitForTimeout(1500);
  await shop.reload();
  await shop.waitForFunction(() =>
    document.querySelector('[data-fedrank-list]')?.hasAttribute('data-fedrank-ranked'),
  );
  await shop.waitForTimeout(2000);
  await shop.evaluate(() => window.scrollTo(0, 0));
  await shop.screenshot({ path: join(OUT, 'shop.png') });

  const dash = await browser.newPage({ viewport: { width: 1360, height: 1000 } });
  await dash.goto(stack.dashboardUrl);
  await dash.fill('#token', stack.token);
  await dash.click('#token-form button[type=submit]');
  await dash.waitForSelector('body[data-state=live]');
  await dash.waitForTimeout(1000);
  await dash.screenshot({ path: join(OUT, 'dashboard.png'), fullPage: true });
  await dash.setViewportSize({ width: 390, height: 844 });
  await dash.waitForTimeout(1000);
  await dash.screenshot({ path: join(OUT, 'dashboard-phone.png'), fullPage: true });
  process.stdout.write(`\nwrote ${OUT}/shop.png, dashboard.png and dashboard-phone.png\n`);
} finally {
  await browser.close();
  await sim.stop();
  await stack.close();
  rmSync(dataDir, { recursive: true, force: true });
}
