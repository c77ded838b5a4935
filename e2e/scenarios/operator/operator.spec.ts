/**
 * Scenario: a shop runs fedrank without us, following the README's own operator path. `fedrank serve` with
 * the configuration copied from server/README.md, sign-in with the token from the place `serve` prints, a
 * storefront on another origin integrated exactly as the README shows (its HTML snippet, dist/client/ under
 * /fedrank/ with the documented MIME types), and the shop opened under an origin the config does not list:
 * diagnosed by `fedrank doctor` and shown on the dashboard.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { extname, join, normalize } from 'node:path';
import { test, expect } from '@playwright/test';
import { ARTIFACTS, sdkStatus, waitFor } from '../support.ts';
import { CLIENT_DIST } from '../../../demo/build-client.ts';
import { freePort } from '../../../demo/aggregation.ts';

const ROOT = join(import.meta.dirname, '..', '..', '..');
const BIN = join(ROOT, 'bin', 'fedrank.mjs');
/** The MIME types of the README's integration section. */
const MIME: Record<string, string> = { '.js': 'text/javascript', '.wasm': 'application/wasm' };

/** The first fenced block of `lang` (with `meta` in its info string) in a markdown file. */
function fenced(file: string, lang: string, meta = ''): string {
  const md = readFileSync(join(ROOT, file), 'utf8');
  const m = new RegExp('^```' + lang + '[^\\n]*' + meta + '[^\\n]*\\n([\\s\\S]*?)^```', 'm').exec(md);
  if (!m) throw new Error(`${file} has no \`\`\`${lang} ${meta} block`);
  return m[1]!;
}

/** A storefront integrated as the README says: its snippet, and dist/client/ served under /fedrank/. */
function readmeShop(serverUrl: string): Server {
  const snippet = fenced('README.md', 'html')
    .replace('https://agg.example', serverUrl)
    // A fixed backend skips the warm-up race on a slow machine (data-backend is a documented option).
    .replace('<script async', '<script async data-backend="wasm"');
  const page = `<!doctype html><html><head><meta charset="utf-8"><title>shop</title></head><body>${snippet}</body></html>`;
  return createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    if (path === '/') return void res.writeHead(200, { 'content-type': 'text/html' }).end(page);
    if (path.startsWith('/fedrank/')) {
      const file = normalize(join(CLIENT_DIST, path.slice('/fedrank/'.length)));
      if (file.startsWith(CLIENT_DIST) && existsSync(file) && MIME[extname(file)])
        return void res.writeHead(200, { 'content-type': MIME[extname(file)]! }).end(readFileSync(file));
    }
    res.writeHead(404).end();
  });
}

/** Runs `fedrank doctor --json` without blocking this process (the shop is served from it). */
async function doctor(shop: string): Promise<{
  code: number | null;
  report: { ok: boolean; findings: { id: string; ok: boolean; fix?: string }[] };
}> {
  const child = spawn(process.execPath, [BIN, 'doctor', '--shop', shop, '--json']);
  let stdout = '';
  child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
  const code = await new Promise<number | null>((ok) => child.once('exit', ok));
  return { code, report: JSON.parse(stdout) };
}

let dir = '';
let serve: ChildProcess | null = null;
let shop: Server | null = null;

test.afterAll(async () => {
  if (serve && serve.exitCode === null) {
    const done = new Promise((ok) => serve!.once('exit', ok));
    serve.kill('SIGTERM');
    await done;
  }
  shop?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('the README operator path: serve, sign in, integrate a shop, diagnose a refused origin', async ({
  browser,
}) => {
  test.setTimeout(180_000);
  if (!existsSync(join(CLIENT_DIST, 'fedrank.js')))
    throw new Error('run `npm run build` before the e2e scenarios');
  dir = mkdtempSync(join(tmpdir(), 'fedrank-operator-'));

  // The shop listens first: its origin goes into the copied config, as an operator would write it.
  const serverPort = await freePort();
  const serverUrl = `http://127.0.0.1:${serverPort}`;
  shop = readmeShop(serverUrl);
  await new Promise<void>((ok) => shop!.listen(0, '127.0.0.1', ok));
  const shopPort = (shop.address() as { port: number }).port;
  const shopUrl = `http://127.0.0.1:${shopPort}/`;
  const config = JSON.parse(fenced('server/README.md', 'json', 'fedrank\\.json')) as Record<string, unknown>;
  config.allowedOrigins = [`http://127.0.0.1:${shopPort}`];
  config.logLevel = 'warn';
  writeFileSync(join(dir, 'fedrank.json'), JSON.stringify(config, null, 2));

  // `fedrank serve` as README.md shows it, without a token: it makes one and says where.
  const env = { ...process.env };
  delete env.FEDRANK_OPERATOR_TOKEN;
  serve = spawn(
    process.execPath,
    [
      BIN,
      'serve',
      '--config',
      'fedrank.json',
      '--port',
      String(serverPort),
      '--db',
      '.fedrank-data/fedrank.db',
    ],
    { cwd: dir, env },
  );
  let out = '';
  serve.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  serve.stderr!.on('data', (b: Buffer) => (out += b.toString()));
  await waitFor(
    'fedrank serve to print where the token is',
    async () => out,
    (o) => /operator token: /.test(o),
    60_000,
  );
  const tokenPath = /operator token: generated in (\S+)/.exec(out)![1]!;
  expect(tokenPath).toBe(join(dir, '.fedrank-data', 'operator-token'));
  const token = readFileSync(tokenPath, 'utf8').trim();
  expect(out).not.toContain(token);

  // Sign in on the dashboard with that token; the sign-in page names the place for `fedrank serve`.
  const dashCtx = await browser.newContext({ viewport: { width: 1280, height: 1000 } });
  const dash = await dashCtx.newPage();
  await dash.goto(`${serverUrl}/dashboard/?interval=0.5`);
  await expect(dash.locator('#login')).toContainText('fedrank serve');
  await expect(dash.locator('#login')).toContainText('operator-token');
  await dash.fill('#token', token);
  await dash.click('#token-form button[type=submit]');
  await expect(dash.locator('body')).toHaveAttribute('data-state', 'live');

  // A shopper on the allowed origin: the SDK gets the model and is ready, without errors.
  const okCtx = await browser.newContext();
  const shopper = await okCtx.newPage();
  const pageErrors: string[] = [];
  shopper.on('pageerror', (e) => pageErrors.push(String(e)));
  await shopper.goto(shopUrl);
  const ready = await waitFor(
    'the SDK to be ready',
    () => sdkStatus(shopper),
    (s) => s.ready && s.modelVersion !== null,
    90_000,
  );
  expect(ready.lastError).toBeNull();
  expect(pageErrors).toEqual([]);
  const good = await doctor(shopUrl);
  expect(good.report.findings.filter((f) => !f.ok)).toEqual([]);
  expect(good.code).toBe(0);

  // The same shop opened as localhost: a different origin the config does not list.
  const refusedOrigin = `http://localhost:${shopPort}`;
  const badCtx = await browser.newContext();
  const refused = await badCtx.newPage();
  refused.on('pageerror', (e) => pageErrors.push(String(e)));
  await refused.goto(`${refusedOrigin}/`);
  const adminStatus = async (): Promise<{ refusedOrigins: { origin: string; count: number }[] }> =>
    (await fetch(`${serverUrl}/v1/admin/status`, { headers: { authorization: `Bearer ${token}` } })).json();
  await waitFor(
    'the server to refuse the localhost shop',
    adminStatus,
    (st) => st.refusedOrigins.some((o) => o.origin === refusedOrigin),
    90_000,
  );
  // The SDK in that page cannot reach the server (its requests are refused), and never throws into the page.
  expect(pageErrors).toEqual([]);

  const bad = await doctor(`${refusedOrigin}/`);
  expect(bad.code).toBe(1);
  const finding = bad.report.findings.find((f) => f.id === 'origin-allowed')!;
  expect(finding.ok).toBe(false);
  expect(finding.fix).toContain(`add "${refusedOrigin}" to allowedOrigins`);

  // The dashboard shows the refused origin; the server logged it once at warn.
  await expect(dash.locator('#refused')).toContainText(refusedOrigin);
  expect(
    out.split('\n').filter((l) => l.includes('FORBIDDEN_ORIGIN') && l.includes(refusedOrigin)),
  ).toHaveLength(1);
  const metrics = await (await fetch(`${serverUrl}/metrics`)).text();
  expect(metrics).toContain(`fedrank_origin_refused_total{origin="${refusedOrigin}"}`);
  mkdirSync(ARTIFACTS, { recursive: true });
  await dash.screenshot({ path: join(ARTIFACTS, 'operator-dashboard.png'), fullPage: true });
  await Promise.all([dashCtx.close(), okCtx.close(), badCtx.close()]);
});
