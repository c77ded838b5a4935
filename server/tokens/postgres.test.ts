/**
 * Contribution tokens on a PostgreSQL store shared by several server processes: a nonce, a quota and a
 * challenge are each taken once over all processes. Runs on a throwaway cluster (skipped without initdb).
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { tokenHeader } from '../../shared/tokens/client.ts';
import { buildServer, type FedrankServer } from '../app.ts';
import { pgAvailability, startPgCluster, type PgCluster } from '../store/pg-cluster.ts';
import { randomId, testConfig } from '../testing.ts';
import { PostgresTokenStore } from './postgres.ts';
import type { StoredTokenKey } from './store.ts';
import { shopTokens, TEST_SHOP_SECRET, uploadWith } from './testing.ts';

const pg = pgAvailability();
describe.skipIf(!pg.run)('contribution tokens on PostgreSQL', () => {
  let cluster: PgCluster;
  let dbs = 0;
  const closers: { close(): Promise<void> }[] = [];
  beforeAll(async () => {
    cluster = await startPgCluster({ fsync: false });
  }, 60_000);
  afterEach(async () => {
    for (const c of closers.splice(0)) await c.close();
  });
  afterAll(() => cluster?.stop());

  async function twoStores(): Promise<[PostgresTokenStore, PostgresTokenStore]> {
    const url = await cluster.database(`tokens_${dbs++}`);
    const a = await PostgresTokenStore.open({ url });
    const b = await PostgresTokenStore.open({ url });
    closers.push(a, b);
    return [a, b];
  }

  const key = (notBefore: number, id = `key-${notBefore}`): StoredTokenKey => ({
    keyId: id,
    publicKey: new Uint8Array([1, 2, 3]),
    privateKey: new Uint8Array([4, 5, 6]),
    notBefore,
    issueUntil: notBefore + 10,
    redeemUntil: notBefore + 20,
  });

  it('two processes share one secret, one key per epoch, and spend each nonce once', async () => {
    const [a, b] = await twoStores();
    const [sa, sb] = await Promise.all([a.secret(), b.secret()]);
    expect(sa).toHaveLength(32);
    expect(sb).toEqual(sa);
    await Promise.all([a.addKey(key(100, 'first')), b.addKey(key(100, 'second'))]);
    const keys = await b.keys();
    expect(keys).toHaveLength(1);
    expect(keys[0]).toMatchObject({ notBefore: 100, issueUntil: 110, redeemUntil: 120 });
    expect(keys[0]!.privateKey).toEqual(new Uint8Array([4, 5, 6]));

    const spends = await Promise.all(
      Array.from({ length: 10 }, (_, i) => (i % 2 ? a : b).spend(keys[0]!.keyId, 'n1', `req-${i}`, 1000)),
    );
    expect(spends.filter((r) => r === 'spent')).toHaveLength(1);
    expect(spends.filter((r) => r === 'already-spent')).toHaveLength(9);
    const binding = `req-${spends.indexOf('spent')}`;
    expect(await a.spend(keys[0]!.keyId, 'n1', binding, 1000)).toBe('replay');
    expect(await b.spend(keys[0]!.keyId, 'n1', null, 1000)).toBe('already-spent');
  });

  it('quotas and challenges hold over both processes; prune drops what can no longer matter', async () => {
    const [a, b] = await twoStores();
    const takes = await Promise.all(
      Array.from({ length: 8 }, (_, i) => (i % 2 ? a : b).takeQuota('q', 7, 1, 5)),
    );
    expect(takes.filter(Boolean)).toHaveLength(5);
    expect(await a.takeQuota('q', 8, 6, 5)).toBe(false);
    const uses = await Promise.all([a.useChallenge('ch', 50), b.useChallenge('ch', 50)]);
    expect(uses.filter(Boolean)).toHaveLength(1);

    await a.addKey(key(0));
    await a.spend('key-0', 'n', null, 1000);
    await a.prune(20, 8);
    expect(await b.keys()).toEqual([]);
    expect(await b.spend('key-0', 'n', null, 1000)).toBe('spent'); // its record went with the key
    expect(await b.takeQuota('q', 7, 5, 5)).toBe(true); // day 7 is before today (8): pruned
    expect(await b.useChallenge('ch', 50)).toBe(false); // kept until 50
    await b.prune(50, 8);
    expect(await b.useChallenge('ch', 60)).toBe(true);
  });

  it('a token spent on one server is refused by the other (two processes, one database)', async () => {
    const url = await cluster.database(`tokens_servers_${dbs++}`);
    const config = testConfig({
      store: url,
      rounds: { minClients: 5, maxClients: 10 },
      tokens: { required: true, shopSecret: TEST_SHOP_SECRET, perSessionPerDay: 100 },
    });
    const servers: FedrankServer[] = [];
    for (let i = 0; i < 2; i++) servers.push(await buildServer(config, { logger: false }));
    closers.push(...servers);
    const [a, b] = servers as [FedrankServer, FedrankServer];
    // Issued by one process, verified by the other: the key ring is shared too.
    const [t] = await shopTokens(a.app, 'update', 1);
    const first = await uploadWith(b, tokenHeader(t!));
    expect(first.statusCode).toBe(201);
    const again = await uploadWith(a, { ...tokenHeader(t!), 'idempotency-key': randomId('k') });
    expect([again.statusCode, (again.json() as { error: { code: string } }).error.code]).toEqual([
      409,
      'TOKEN_SPENT',
    ]);
    await a.aggregator.refresh(); // the round's count over both processes
    expect(a.aggregator.roundAccepted).toBe(1);
  });
});
