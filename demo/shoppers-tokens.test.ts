import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startShoppers } from './shoppers.ts';
import { SHOP_SECRET_FILE, startStack } from './stack.ts';
import { TOKEN_RELAY_PATH } from './token-relay.ts';
import type { Catalog } from './catalog-types.ts';

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

const tmp = mkdtempSync(join(tmpdir(), 'fedrank-tokens-test-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

async function until(cond: () => boolean): Promise<void> {
  while (!cond()) await new Promise((r) => setTimeout(r, 20));
}

describe('the demo stack with contribution tokens', () => {
  it("simulated shoppers pay every upload and eval report with a token from the shop's relay", async () => {
    const stack = await startStack({
      dataDir: join(tmp, 'stack'),
      server: {
        logLevel: 'silent',
        training: { clipNorm: 1, noiseMultiplier: 1, noiseMode: 'local', minNewEvents: 2 },
        rounds: { minClients: 2, maxClients: 2, deadlineSeconds: null, maxStaleness: 5 },
        // Plain rounds (the demo default is secure aggregation, whose cohort three shoppers cannot fill).
        privacy: { secureAggregation: false },
      },
    });
    const sim = await startShoppers({
      serverUrl: stack.serverUrl,
      shopUrl: stack.shopUrl,
      count: 3,
      catalog,
      pauseMs: 2,
    });
    try {
      expect(statSync(join(stack.dataDir, SHOP_SECRET_FILE)).mode & 0o777).toBe(0o600);
      await until(() => sim.stats().updatesAccepted >= 3);
      const s = sim.stats();
      // Only a shopper that tried before its first batch arrived was turned away (and retried with a token).
      expect(Object.keys(s.updatesRefused).filter((c) => c !== 'TOKEN_REQUIRED')).toEqual([]);
      const admitted = stack.tokensAdmitted()!;
      expect(admitted.unverified).toBe(0);
      // Every accepted upload was paid for (eval reports sent before a shopper's first batch are refused).
      expect(admitted.verified).toBeGreaterThanOrEqual(s.updatesAccepted);

      // Without a token an upload is refused; without a shop session the relay signs nothing.
      const bare = await fetch(stack.serverUrl + '/v1/updates', {
        method: 'POST',
        headers: { 'content-type': 'application/vnd.fedrank.tensor', origin: stack.shopUrl },
        body: new Uint8Array(8),
      });
      expect(bare.status).toBe(401);
      expect(((await bare.json()) as { error: { code: string } }).error.code).toBe('TOKEN_REQUIRED');
      const relay = await fetch(stack.shopUrl + TOKEN_RELAY_PATH, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ keyId: 'x', blindedMessages: [] }),
      });
      expect(relay.status).toBe(401);
    } finally {
      await sim.stop();
      await stack.close();
    }
  }, 120_000);
});
