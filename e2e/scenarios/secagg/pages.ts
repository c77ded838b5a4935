/**
 * Page-side helpers of the secure-aggregation scenarios: clicking grid tiles in one round trip, and the
 * secure-aggregation messages a browser sent, decoded.
 */
import type { Browser, Page, Request } from '@playwright/test';
import type { Stack } from '../../../demo/stack.ts';
import { decodeMessage, SECAGG_CONTENT_TYPE } from '../../../shared/secagg/codec.ts';
import { openShopper, sdkStatus, waitFor, type Shopper } from '../support.ts';

const CATEGORIES = ['Audio', 'Books', 'Outdoor', 'Garden'];

/**
 * Opens one more shopper into `shoppers` (so it is closed with them), records when each of its requests
 * was sent into `sentAt`, runs `prepare` (hooks that must be in place before its SDK starts working), and
 * waits for its SDK.
 */
export async function openTimedShopper(
  browser: Browser,
  stack: Pick<Stack, 'serverUrl' | 'shopUrl'>,
  shoppers: Shopper[],
  sentAt: Map<Request, number>,
  prepare: (s: Shopper) => Promise<void> = async () => {},
): Promise<Shopper> {
  const s = await openShopper(browser, stack);
  shoppers.push(s);
  s.context.on('request', (r) => sentAt.set(r, Date.now()));
  await prepare(s);
  await waitFor(
    'SDK ready',
    () => sdkStatus(s.page),
    (st) => st.ready,
    60_000,
  );
  return s;
}

/** Every shopper clicks `n` tiles of its own category (four categories in turn), all at once. */
export async function clickCategories(shoppers: readonly Shopper[], n: number): Promise<void> {
  await Promise.all(shoppers.map((s, i) => clickTiles(s.page, CATEGORIES[i % CATEGORIES.length]!, n)));
}

/**
 * Clicks `n` grid tiles of `category` in one go, as the page's own click handlers see them (one round trip
 * per page: UI clicks one by one take half a minute for eight pages on two loaded cores).
 */
export function clickTiles(page: Page, category: string, n: number): Promise<void> {
  return page.evaluate(
    ({ category, n }) => {
      const tiles = [
        ...document.querySelectorAll<HTMLElement>(
          `[data-fedrank-item][data-fedrank-category="${category}"] .tile`,
        ),
      ];
      for (let i = 0; i < n; i++) {
        tiles[i % tiles.length]!.click();
        document.querySelector<HTMLDialogElement>('#quick')?.close();
      }
    },
    { category, n },
  );
}

/** A browser's secure-aggregation messages, decoded, with when they were sent. */
export function sentMessages(s: Shopper, sentAt: Map<Request, number>) {
  return s.serverRequests
    .filter(
      (r) =>
        r.method() === 'POST' &&
        r.headers()['content-type'] === SECAGG_CONTENT_TYPE &&
        /^\/v1\/secagg\/rounds\/\d+\/messages$/.test(new URL(r.url()).pathname),
    )
    .map((r) => ({
      body: r.postDataBuffer()!,
      m: decodeMessage(r.postDataBuffer()!),
      at: sentAt.get(r) ?? 0,
    }));
}
