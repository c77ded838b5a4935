/**
 * Scale scenario: two `fedrank serve` processes on one PostgreSQL (a throwaway cluster) behind a small
 * round-robin proxy (the load balancer). Three browsers (real Chromium contexts, the built SDK) and one
 * simulated Node shopper (the product's device core) fill a secure cohort of four; one server process is
 * SIGKILLed while the secure round is past advertising, then restarted. The secure round still closes
 * (through either process), both processes serve the same new model, and every contribution a device saw
 * acknowledged is in a closed round.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from '@playwright/test';
import { registerTfjsResolveHook } from '../../../cli/tfjs-node.ts';
import { freePort, spawnAggregationServer, type AggregationServer } from '../../../demo/aggregation.ts';
import { loadCatalog, startShop } from '../../../demo/shop-server.ts';
import type { Stack } from '../../../demo/stack.ts';
import { pgAvailability, startPgCluster } from '../../../server/store/pg-cluster.ts';
import {
  SDK_ATTRS,
  clickCategory,
  openShopper,
  sdkStatus,
  waitFor,
  type AdminRounds,
  type Shopper,
} from '../support.ts';
import { startProxy } from './proxy.ts';

// The simulated shopper runs tfjs-core in this Node process (demo/shoppers.ts, imported below).
registerTfjsResolveHook();

const TOKEN = 'scale-scenario-operator-token-0123456789';

test('two processes on PostgreSQL behind a proxy: a secure round survives a SIGKILL', async ({ browser }) => {
  // 3.9 min on the 2-core machine under a load average of ~46 (other engineers' runs); far less alone.
  test.setTimeout(360_000);
  const pg = pgAvailability();
  test.skip(!pg.run, pg.reason);
  const cluster = await startPgCluster({ fsync: false });
  const dir = mkdtempSync(join(tmpdir(), 'fedrank-scale-'));
  const shop = await startShop({ serverUrl: '', port: 0, host: '127.0.0.1', sdkAttributes: SDK_ATTRS });
  const ports = [await freePort(), await freePort()];
  const backends = ports.map((p) => `http://127.0.0.1:${p}`);
  const proxy = await startProxy(backends);
  shop.setServerUrl(proxy.url);
  const config = {
    host: '127.0.0.1',
    store: await cluster.database('scale'),
    operatorToken: TOKEN,
    allowedOrigins: [shop.url],
    tokens: { required: false },
    rounds: { minClients: 3, maxClients: 4, deadlineSeconds: null, maxStaleness: 3 },
    training: {
      noiseMode: 'distributed',
      expectedClientsPerRound: 3,
      minNewEvents: 3,
      localEpochs: 1,
      clipNorm: 0.05,
    },
    privacy: { epsilonBudget: 100, secureAggregation: true },
    secureAggregation: { deadlines: { advertise: 20, share: 30, mask: 60, unmask: 30 } },
    limits: { perIpPerMinute: 0, perClientPerMinute: 0 },
    logLevel: 'error',
  };
  const dirs = ports.map((_, i) => join(dir, `p${i}`));
  for (const d of dirs) mkdirSync(d);
  const start = (i: number): Promise<AggregationServer> =>
    spawnAggregationServer({ ...config, port: ports[i] }, dirs[i]!, 60_000);
  const servers = [await start(0), await start(1)];
  const shoppers: Shopper[] = [];
  const { startShoppers } = await import('../../../demo/shoppers.ts');
  const sim = await startShoppers({
    serverUrl: proxy.url,
    count: 1,
    catalog: loadCatalog(),
    tokens: 'off',
    evalReports: false,
    pauseMs: 200,
  });
  const get = async <T>(base: string, path: string): Promise<T> =>
    (await (await fetch(base + path, { headers: { authorization: `Bearer ${TOKEN}` } })).json()) as T;
  try {
    // openShopper reads only the shop and server URLs of a stack.
    const stack = { shopUrl: shop.url, serverUrl: proxy.url } as Stack;
    for (let i = 0; i < 3; i++) shoppers.push(await openShopper(browser, stack));
    for (const s of shoppers)
      await waitFor(
        'SDK ready',
        () => sdkStatus(s.page),
        (st) => st.ready,
        60_000,
      );
    const categories = ['Audio', 'Books', 'Outdoor'];
    await Promise.all(shoppers.map((s, i) => clickCategory(s.page, categories[i]!, 4)));

    // Mid-round: once the cohort has advertised, SIGKILL process 0, then bring it back.
    await waitFor(
      'a secure round past advertising',
      () =>
        get<{ secureAggregation: { current: { phase: string } | null } }>(backends[1]!, '/v1/admin/status'),
      (st) => ['share', 'mask', 'unmask'].includes(st.secureAggregation.current?.phase ?? ''),
      120_000,
      1000,
    );
    await servers[0]!.close('SIGKILL');
    servers[0] = await start(0);

    const closed = await waitFor(
      'a closed round on both processes',
      () => Promise.all(backends.map((b) => get<{ version: number }>(b, '/v1/model'))),
      (ms) => ms.every((m) => m.version >= 1),
      150_000,
      500,
    );
    expect(closed[0]!.version).toBe(closed[1]!.version);
    await sim.stop();
    const acked = (await Promise.all(shoppers.map((s) => sdkStatus(s.page)))).map((st) => st.updatesSent);
    expect(acked.reduce((a, b) => a + b, 0)).toBeGreaterThan(0); // browsers completed secure rounds
    const rounds = await get<AdminRounds>(backends[1]!, '/v1/admin/rounds');
    const counted = rounds.rounds.filter((r) => r.state === 'closed').reduce((a, r) => a + r.participants, 0);
    // Every acknowledged secure contribution is in a closed round (a round may also hold masked inputs whose
    // devices left before they saw the unmask through).
    expect(counted).toBeGreaterThanOrEqual(acked.reduce((a, b) => a + b, 0) + sim.stats().updatesAccepted);
    for (const s of shoppers) expect(s.errors).toEqual([]);
  } finally {
    await sim.stop().catch(() => {});
    for (const s of shoppers) await s.context.close().catch(() => {});
    await Promise.allSettled(servers.map((s) => s.close('SIGKILL')));
    await proxy.close();
    await shop.close();
    cluster.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
