/**
 * Scenario 5: the operator dashboard from a cold browser. A wrong token is refused with a clear message, the
 * right one shows live KPIs and charts of real rounds (closed by simulated shoppers running the product's
 * learner), a stopped server is reported as unreachable and the page recovers when it is back.
 */
import { registerTfjsResolveHook } from '../../../cli/tfjs-node.ts';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { test, expect } from '@playwright/test';
import { ARTIFACTS, admin, fastRounds, privateStack, waitFor } from '../support.ts';
import { loadCatalog } from '../../../demo/shop-server.ts';
import { TOKEN_RELAY_PATH } from '../../../demo/token-relay.ts';
import { nodeTokenFetch, shopSessionCookie } from '../../../node/device-ports.ts';
import { tokenIssuer } from '../../../shared/device/tokens.ts';

// tfjs-core's ESM files use extensionless imports plain Node cannot resolve (see the hook).
registerTfjsResolveHook();

type Stack = Awaited<ReturnType<typeof privateStack>>;
let stack: Stack;

test.describe.configure({ mode: 'serial' });

test.beforeAll(async () => {
  test.setTimeout(90_000);
  // Three simulated shoppers: means are shown from the first report on (the server's default waits for 20).
  stack = await privateStack({ server: { ...fastRounds(2, 3, 1), evals: { minReports: 1 } } });
  const { startShoppers } = await import('../../../demo/shoppers.ts');
  const sim = await startShoppers({
    serverUrl: stack.serverUrl,
    shopUrl: stack.shopUrl,
    // Four: at sigma 1 each device's budget allows two uploads, and three closed rounds of two need six.
    count: 4,
    catalog: loadCatalog(),
    pauseMs: 100,
  });
  try {
    await waitFor(
      'three closed rounds',
      () => admin<{ model: { version: number } }>(stack, 'status'),
      (s) => s.model.version >= 3,
      60_000,
    );
  } finally {
    await sim.stop();
  }
  // One hostile upload, so the rejections table has a reason to show (paid with a token from the shop's
  // relay, as the demo requires: a token buys admission, not acceptance).
  const cookie = (await shopSessionCookie(stack.shopUrl)) ?? undefined;
  const [token] = await tokenIssuer({
    serverUrl: stack.serverUrl,
    fetch: nodeTokenFetch(),
    relayUrl: stack.shopUrl + TOKEN_RELAY_PATH,
    relayFetch: nodeTokenFetch(cookie),
  })('update', 1);
  const bad = await fetch(`${stack.serverUrl}/v1/updates`, {
    method: 'POST',
    headers: {
      'x-fedrank-token': token!,
      'content-type': 'application/vnd.fedrank.tensor',
      'x-fedrank-client': 'e2e-dashboard-client-0001',
      'idempotency-key': 'e2e-dashboard-key-000001',
    },
    body: new Uint8Array(64).fill(7),
  });
  expect(bad.status).toBe(400);
  expect(((await bad.json()) as { error: { code: string } }).error.code).toBe('CODEC_BAD_MAGIC');
});

test.afterAll(async () => {
  await stack?.dispose();
});

test('wrong token: the dashboard says the token was refused and keeps the sign-in form', async ({
  browser,
}) => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(stack.dashboardUrl + '?interval=0.5');
  await expect(page.locator('#login')).toBeVisible();
  await page.fill('#token', 'not-the-operator-token-0123456789');
  await page.click('#token-form button[type=submit]');
  await expect(page.locator('#error')).toContainText('refused this operator token (401)');
  await expect(page.locator('#login')).toBeVisible();
  await expect(page.locator('#app')).toBeHidden();
  expect(await page.evaluate(() => sessionStorage.getItem('fedrank.operatorToken'))).toBeNull();
  await context.close();
});

test('right token: KPIs and charts of the closed rounds, then server down and back', async ({ browser }) => {
  const context = await browser.newContext({ viewport: { width: 1360, height: 1000 } });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  const missing: string[] = [];
  page.on('response', (r) => {
    if (r.status() === 404) missing.push(r.url());
  });
  await page.goto(stack.dashboardUrl + '?interval=0.5');
  await page.fill('#token', stack.token);
  await page.click('#token-form button[type=submit]');
  await expect(page.locator('#app')).toBeVisible();
  await expect(page.locator('body')).toHaveAttribute('data-state', 'live');

  const status = await admin<{ model: { version: number }; privacy: { epsilonSpent: number } }>(
    stack,
    'status',
  );
  await expect(page.locator('#kpi-version')).toHaveText(String(status.model.version));
  const eps = Number(await page.locator('#kpi-epsilon').textContent());
  expect(eps).toBeGreaterThan(0);
  expect(Math.abs(eps - status.privacy.epsilonSpent)).toBeLessThan(0.01);
  await expect(page.locator('#kpi-epsilon-detail')).toContainText('of budget 100');
  // One uPlot canvas per chart with data: participants, epsilon, and eval (the simulated shoppers report it).
  // No chart of update norms: the server keeps nothing per shopper.
  await expect(page.locator('#chart-norm')).toHaveCount(0);
  await expect(page.locator('#kpi-epsilon-detail')).toContainText('per shopper vs model observers');
  for (const id of ['chart-participants', 'chart-epsilon', 'chart-eval'])
    await expect(page.locator(`#${id} canvas`)).toHaveCount(1);
  // No chart of the mean update norm (noise dressed up as a trend).
  await expect(page.locator('#chart-norm')).toHaveCount(0);
  // Every figure explains itself; the evaluation carries sample sizes and 95% intervals.
  for (const fig of await page.locator('.kpi, .charts figure').all())
    await expect(fig.locator('.explain')).not.toBeEmpty();
  await expect(page.locator('#evals tbody tr').first()).toContainText(/\d+ *\S* *\d+.*\[\d\.\d\d–\d\.\d\d\]/);
  await expect(page.locator('#settings')).toContainText('Noise σ (sigma)');
  await expect(page.locator('#settings')).toContainText('higher is more private');
  await expect(page.locator('#helping-text')).not.toHaveText('–');
  // Two-shopper rounds at sigma 1 leave no signal over this model: the dashboard says so.
  await expect(page.locator('#signal-warning')).toBeVisible();
  await expect(page.locator('#signal-text')).toContainText('use rounds.minClients >=');
  await expect(page.locator('#kpi-round-why')).toContainText(/shopper|deadline|Has enough/);
  await expect(page.locator('#rounds tbody tr').first()).toContainText('#');
  await expect(page.locator('#health')).toHaveClass(/ok/);
  await expect(page.locator('#rejections')).toContainText('CODEC_BAD_MAGIC');
  const totals = (await admin<{ totals: { rejected: number } }>(stack, 'status')).totals;
  expect(totals.rejected).toBeGreaterThanOrEqual(1);
  await expect(page.locator('#kpi-rejected')).toHaveText(String(totals.rejected));

  // Signed in state survives a reload (sessionStorage), and the screenshot is the artifact.
  await page.reload();
  await expect(page.locator('body')).toHaveAttribute('data-state', 'live');
  await expect(page.locator('#chart-participants canvas')).toHaveCount(1);
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS, 'dashboard.png'), fullPage: true });
  // Phone width: nothing overflows sideways, and the explanations are still there.
  await page.setViewportSize({ width: 390, height: 844 });
  await expect(page.locator('#chart-eval canvas')).toHaveCount(1);
  await expect
    .poll(() => page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth))
    .toBeLessThanOrEqual(0);
  await page.screenshot({ path: join(ARTIFACTS, 'dashboard-phone.png'), fullPage: true });
  await page.setViewportSize({ width: 1360, height: 1000 });

  await stack.stopServer();
  await expect(page.locator('#error')).toContainText('Cannot reach the fedrank server');
  await expect(page.locator('#health')).toHaveClass(/bad/);
  await stack.startServer();
  await expect(page.locator('body')).toHaveAttribute('data-state', 'live', { timeout: 10_000 });
  await expect(page.locator('#error')).toBeHidden();
  await expect(page.locator('#kpi-version')).toHaveText(String(status.model.version));
  expect(errors).toEqual([]);
  // The favicon is served (the dashboard used to ask for a missing one).
  expect(missing).toEqual([]);
  expect((await fetch(new URL('favicon.svg', stack.dashboardUrl))).headers.get('content-type')).toMatch(
    /svg/,
  );
  await context.close();
});
