/**
 * Two aggregation servers on one PostgreSQL database, in process: uploads spread over both close one round
 * once, both serve the new version at once (no waiting for NOTIFY), and a key or client is counted once
 * whichever server it reaches.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildServer, type FedrankServer } from './app.ts';
import { pgAvailability, startPgCluster, type PgCluster } from './store/pg-cluster.ts';
import { PostgresStore } from './store/postgres.ts';
import { constantDelta, randomId, TEST_TOKEN, testConfig } from './testing.ts';

const pg = pgAvailability();
describe.skipIf(!pg.run)('two servers sharing one PostgreSQL', () => {
  let cluster: PgCluster;
  let dbs = 0;
  const servers: FedrankServer[] = [];
  beforeAll(async () => {
    cluster = await startPgCluster({ fsync: false });
  }, 60_000);
  afterEach(async () => {
    for (const s of servers.splice(0)) await s.close();
  });
  afterAll(() => cluster?.stop());

  async function pair(): Promise<[FedrankServer, FedrankServer]> {
    const url = await cluster.database(`pair_${dbs++}`);
    const config = testConfig({ rounds: { minClients: 3, maxClients: 3, maxStaleness: 5 } });
    for (let i = 0; i < 2; i++)
      servers.push(await buildServer(config, { logger: false, store: await PostgresStore.open({ url }) }));
    return [servers[0]!, servers[1]!];
  }

  function upload(s: FedrankServer, value: number, ids = { client: randomId('c'), key: randomId('k') }) {
    const a = s.aggregator;
    const body = constantDelta(
      { modelId: a.model.modelId, baseVersion: a.version, round: a.open!.round.id },
      a.model.paramCount,
      value,
    );
    return s.app.inject({
      method: 'POST',
      url: '/v1/updates',
      payload: Buffer.from(body),
      headers: {
        'content-type': 'application/vnd.fedrank.tensor',
        'x-fedrank-client': ids.client,
        'idempotency-key': ids.key,
      },
    });
  }
  const manifest = async (s: FedrankServer) =>
    (await s.app.inject({ url: '/v1/model' })).json() as { version: number; round: { id: number } };
  /** The open round's exact count over both servers: an operator figure (the manifest has none). */
  const accepted = async (s: FedrankServer): Promise<number> =>
    (
      (
        await s.app.inject({
          url: '/v1/admin/status',
          headers: { authorization: `Bearer ${TEST_TOKEN}` },
        })
      ).json() as { round: { accepted: number } }
    ).round.accepted;

  it('closes a round fed by both once; both serve the new version at once', async () => {
    const [a, b] = await pair();
    expect((await upload(a, 1)).statusCode).toBe(201);
    expect((await upload(b, 2)).statusCode).toBe(201);
    expect(await accepted(a)).toBe(2); // counts b's upload too
    expect((await upload(a, 3)).statusCode).toBe(201);
    await a.aggregator.idle();
    for (const s of [a, b]) {
      const m = await manifest(s);
      expect(m.version).toBe(1);
      expect(m.round).toMatchObject({ id: 2 });
      // The public manifest publishes no count of the round (it would release the cohort size).
      expect(m.round).not.toHaveProperty('accepted');
      expect(await accepted(s)).toBe(0);
    }
    // Both hold the model the one close produced.
    const w = (s: FedrankServer) => s.aggregator.params;
    expect(Array.from(w(b))).toEqual(Array.from(w(a)));
    const auth = { authorization: `Bearer test-operator-token-0123456789` };
    const rounds = (await b.app.inject({ url: '/v1/admin/rounds', headers: auth })).json() as {
      rounds: { id: number; state: string; participants: number }[];
    };
    expect(rounds.rounds.find((r) => r.id === 1)).toMatchObject({ state: 'closed', participants: 3 });
  });

  it('a key replayed to the other server is a duplicate; a client is counted once per round', async () => {
    const [a, b] = await pair();
    const ids = { client: randomId('c'), key: randomId('k') };
    expect((await upload(a, 1, ids)).statusCode).toBe(201);
    const replay = await upload(b, 1, ids);
    expect(replay.statusCode).toBe(200);
    expect(replay.json()).toMatchObject({ duplicate: true, round: 1 });
    const again = await upload(b, 1, { client: ids.client, key: randomId('k') });
    expect(again.statusCode).toBe(409);
    expect(await accepted(a)).toBe(1);
  });
});
