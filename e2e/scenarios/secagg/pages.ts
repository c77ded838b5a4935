/**
 * Page-side helpers of the secure-aggregation scenarios: clicking grid tiles in one round trip, and the
 * secure-aggregation messages a browser sent, decoded.
 */
import type { Page, Request } from '@playwright/test';
import { decodeMessage, SECAGG_CONTENT_TYPE } from '../../../shared/secagg/codec.ts';
import type { Shopper } from '../support.ts';

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
