import { afterEach, describe, expect, it } from 'vitest';
import { startServer } from '../server/app.ts';
import type { RunningServer } from '../server/app.ts';
import { testConfig } from '../server/testing.ts';
import type { Catalog } from './catalog-types.ts';
import { startShoppers } from './shoppers.ts';
import type { ShopperSim } from './shoppers.ts';

const catalog: Catalog = {
  seed: 1,
  products: Array.from({ length: 60 }, (_, i) => ({
    id: `p${i}`,
    name: `Product ${i}`,
    category: `cat${i % 3}`,
    brand: `brand${i % 5}`,
    price: 5 + i,
    hue: (i * 37) % 360,
    rating: 4,
  })),
};

let server: RunningServer | null = null;
let sim: ShopperSim | null = null;
afterEach(async () => {
  await sim?.stop();
  await server?.close();
  sim = null;
  server = null;
});

async function until(cond: () => boolean): Promise<void> {
  while (!cond()) await new Promise((r) => setTimeout(r, 20));
}

describe('simulated shoppers', () => {
  it('drive the device core: contribute within their budget, then stop contributing', async () => {
    server = await startServer(
      testConfig({
        port: 0,
        host: '127.0.0.1',
        training: { clipNorm: 1, noiseMultiplier: 1, noiseMode: 'local', minNewEvents: 2 },
        rounds: { minClients: 2, maxClients: 2, deadlineSeconds: null, maxStaleness: 5, stalenessAlpha: 0.5 },
      }),
    );
    sim = await startShoppers({ serverUrl: server.url, count: 3, catalog, pauseMs: 2, evalReports: false });
    // sigma 1 at delta 1e-5 spends about 4.4 then 6.5 of the cap of 8: two contributions per device.
    await until(() => sim!.stats().budgetExhausted === 3);
    const s = sim.stats();
    expect(s.updatesAccepted).toBeGreaterThanOrEqual(3);
    expect(s.updatesAccepted).toBeLessThanOrEqual(6);
    const accepted = s.updatesAccepted;
    await new Promise((r) => setTimeout(r, 200));
    expect(sim.stats().updatesAccepted).toBe(accepted);
    expect(s.errors).toBe(0);
  }, 60_000);

  it('run secure rounds: the device core with the SecAggSubmitter, nothing uploaded in the clear', async () => {
    server = await startServer(
      testConfig({
        port: 0,
        host: '127.0.0.1',
        training: {
          clipNorm: 1,
          noiseMultiplier: 1,
          noiseMode: 'distributed',
          expectedClientsPerRound: 5,
          minNewEvents: 2,
        },
        rounds: { minClients: 5, maxClients: 8, deadlineSeconds: null, maxStaleness: 5, stalenessAlpha: 0.5 },
        privacy: { secureAggregation: true },
      }),
    );
    sim = await startShoppers({ serverUrl: server.url, count: 8, catalog, pauseMs: 2, evalReports: false });
    const secure = server.secure!;
    await until(() => secure.status().totals.completed >= 1 && server!.aggregator.version >= 1);
    const done = secure.status().recent.find((r) => r.phase === 'done')!;
    expect(done.survivors.unmask).toBeGreaterThanOrEqual(done.minSurvivors);
    // Every shopper whose unmask the server took hears 202 and counts its contribution as accepted.
    await until(() => sim!.stats().updatesAccepted >= done.survivors.unmask);
    expect(server.metrics.accepted).toBe(0); // no plain upload was ever counted
    expect(sim.stats().errors).toBe(0);
  }, 120_000);
});
