/**
 * The arrival gate of the secure-aggregation scenario. A secure round's cohort is whoever joins during its
 * advertise window (10 s on the demo configuration); on two loaded cores twenty devices finish training
 * seconds apart, and a round that fails below the threshold sends them into exponential back-off. The gate
 * holds each device's GET /v1/secagg/current (where a contribution starts its round) until every device
 * is waiting and the open round has most of its window left, then lets them all through: one cohort, no
 * protocol message touched.
 */
import type { BrowserContext, Route } from '@playwright/test';
import type { FetchLike } from '../../../shared/device/http.ts';

/**
 * A browser whose latest lookup reached the gate within this long is waiting: still held, or given up at
 * its 15 s deadline and about to retry after a back-off of a few seconds (its first or second).
 */
const BROWSER_RECENT_MS = 12_000;

const isCurrent = (url: string): boolean => new URL(url).pathname === '/v1/secagg/current';

/** Holds the devices' round lookups until `open()`. */
export class ArrivalGate {
  private opened = false;
  private readonly browsers = new Map<number, number>();
  private readonly held: Route[] = [];
  private readonly nodes = new Set<() => void>();

  /** Holds browser `who`'s round lookups (a route on its context). */
  async holdBrowser(who: number, context: BrowserContext): Promise<void> {
    await context.route(
      (url) => isCurrent(url.href),
      async (route) => {
        if (this.opened) return route.continue();
        this.browsers.set(who, Date.now());
        this.held.push(route);
      },
    );
  }

  /** The simulated shoppers' transport, with their round lookups held. */
  nodeFetch(inner: FetchLike): FetchLike {
    return async (url, req) => {
      if (!this.opened && isCurrent(url)) {
        await new Promise<void>((ok) => {
          const go = (): void => {
            this.nodes.delete(go);
            ok();
          };
          this.nodes.add(go);
        });
      }
      return inner(url, req);
    };
  }

  /** Devices waiting now: browsers (by index) that asked recently, and simulated shoppers. */
  waiting(): { browsers: number[]; nodes: number } {
    const now = Date.now();
    const browsers = [...this.browsers].filter(([, at]) => now - at < BROWSER_RECENT_MS).map(([w]) => w);
    return { browsers: browsers.sort((a, b) => a - b), nodes: this.nodes.size };
  }

  /** Lets every held request through; later ones pass at once. */
  async open(): Promise<void> {
    this.opened = true;
    for (const go of [...this.nodes]) go();
    // A request the browser already gave up on cannot continue: its retry passes the open gate.
    await Promise.all(this.held.splice(0).map((r) => r.continue().catch(() => {})));
  }
}
