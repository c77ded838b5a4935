/**
 * Shared helpers of the end-to-end scenarios: a private stack (server + shop, temp data folder, free
 * ports) per test file, shopper pages in their own browser contexts, and polling of SDK and admin state.
 */
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page, Request } from '@playwright/test';
import { startStack, type Stack, type StackOptions } from '../../demo/stack.ts';
import { CLIENT_DIST } from '../../demo/build-client.ts';
import type { FedrankStatus } from '../../client/types.ts';

/** Where scenarios write screenshots (gitignored). */
export const ARTIFACTS = join(import.meta.dirname, '..', 'artifacts');

/** Starts a stack in a fresh temp folder; `dispose()` stops it and removes the folder. */
export async function privateStack(
  opts: Omit<StackOptions, 'dataDir'> = {},
): Promise<Stack & { dispose(): Promise<void> }> {
  if (!existsSync(join(CLIENT_DIST, 'fedrank.js')))
    throw new Error('dist/client/fedrank.js is missing: run `npm run build` before the e2e scenarios');
  const dataDir = mkdtempSync(join(tmpdir(), 'fedrank-e2e-'));
  const stack = await startStack({ ...opts, dataDir });
  return {
    ...stack,
    dispose: async () => {
      await stack.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * Server settings that let a scenario close rounds in seconds, with plain uploads and local noise (the
 * demo's default is secure aggregation with a cohort of 20, which these small scenarios cannot fill).
 */
export function fastRounds(
  minClients: number,
  maxClients = minClients,
  deadlineSeconds = 2,
): Record<string, unknown> {
  return {
    rounds: { minClients, maxClients, deadlineSeconds, maxStaleness: 3 },
    training: { expectedClientsPerRound: minClients, minNewEvents: 3, localEpochs: 1, noiseMode: 'local' },
    privacy: { epsilonBudget: 100, secureAggregation: false },
    limits: { perIpPerMinute: 0, perClientPerMinute: 0 },
    logLevel: 'error',
  };
}

/** SDK data-* attributes for the scenarios: a fixed backend skips the warm-up race on this slow machine. */
export const SDK_ATTRS = { backend: 'wasm', 'rank-timeout': '5000' };

/** One shopper: a browser context (own IndexedDB) with every request to the server recorded. */
export interface Shopper {
  context: BrowserContext;
  page: Page;
  /** Requests this shopper's browser sent to the aggregation server. */
  serverRequests: Request[];
  /** Uncaught errors of the page (must stay empty: the SDK never throws into the host page). */
  errors: string[];
}

/** Opens the shop in a new browser context; `gpc` makes navigator.globalPrivacyControl true. */
export async function openShopper(
  browser: Browser,
  stack: Pick<Stack, 'serverUrl' | 'shopUrl'>,
  opts: { gpc?: boolean; path?: string } = {},
): Promise<Shopper> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  if (opts.gpc) {
    await context.addInitScript(() => {
      Object.defineProperty(Navigator.prototype, 'globalPrivacyControl', {
        get: () => true,
        configurable: true,
      });
    });
  }
  const serverRequests: Request[] = [];
  const origin = new URL(stack.serverUrl).origin;
  context.on('request', (r) => {
    if (r.url().startsWith(origin)) serverRequests.push(r);
  });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(stack.shopUrl + (opts.path ?? '/'));
  return { context, page, serverRequests, errors };
}

/** The SDK's status() from the page. */
export function sdkStatus(page: Page): Promise<FedrankStatus> {
  return page.evaluate(() =>
    (window as unknown as { fedrank: { status(): Promise<FedrankStatus> } }).fedrank.status(),
  );
}

/** Polls `probe` until `ok` holds or the timeout passes; returns the last value or throws with it. */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T>,
  ok: (v: T) => boolean,
  timeoutMs = 30_000,
  everyMs = 250,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: T | undefined;
  let lastErr: unknown;
  while (Date.now() < end) {
    try {
      last = await probe();
      if (ok(last)) return last;
    } catch (err) {
      lastErr = err;
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(
    `timed out waiting for ${what}; last value: ${JSON.stringify(last)}${lastErr ? `; last error: ${String(lastErr)}` : ''}`,
  );
}

/** GET an admin route with the stack's operator token. */
/** The fields of GET /v1/admin/status the scenarios read. */
export interface AdminStatus {
  model: { modelId: string; version: number };
  round: { id: number; accepted: number } | null;
  privacy: { epsilonSpent: number };
}

/** The fields of GET /v1/admin/rounds the scenarios read. */
export interface AdminRounds {
  rounds: {
    id: number;
    state: string;
    participants: number;
    resultVersion: number | null;
    epsilonAfter: number | null;
  }[];
}

export async function admin<T = Record<string, unknown>>(
  stack: Pick<Stack, 'serverUrl' | 'token'>,
  path: string,
): Promise<T> {
  const res = await fetch(`${stack.serverUrl}/v1/admin/${path}`, {
    headers: { authorization: `Bearer ${stack.token}` },
  });
  if (!res.ok) throw new Error(`admin ${path}: HTTP ${res.status}`);
  return (await res.json()) as T;
}

/** The product ids of the grid, in the order the page shows them now. */
export function gridOrder(page: Page): Promise<{ id: string; category: string }[]> {
  return page.$$eval('[data-fedrank-list] > [data-fedrank-item]', (els) =>
    els.map((e) => ({
      id: e.getAttribute('data-fedrank-item')!,
      category: e.getAttribute('data-fedrank-category')!,
    })),
  );
}

/** Mean position (0 = top) of a category's items in a grid order. */
export function meanPosition(order: { category: string }[], category: string): number {
  const pos = order.flatMap((x, i) => (x.category === category ? [i] : []));
  return pos.reduce((a, b) => a + b, 0) / Math.max(1, pos.length);
}

/** Clicks `n` grid tiles of `category` (closing the quick view each time), as a shopper would. */
export async function clickCategory(page: Page, category: string, n: number): Promise<void> {
  const tiles = page.locator(`[data-fedrank-item][data-fedrank-category="${category}"] .tile`);
  const count = await tiles.count();
  for (let i = 0; i < n; i++) {
    await tiles.nth(i % count).click();
    await page.locator('#quick button[value="close"]').click();
  }
}
