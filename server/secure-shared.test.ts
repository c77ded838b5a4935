/**
 * Secure aggregation on two server processes sharing one PostgreSQL database, in process: every request of
 * every shopper alternates between the two servers; the round unmasks once, its exact ring sum is the
 * survivors' encoded inputs, both serve the new model at once, and no secret of the round is left. A
 * deadline passed while both tick is acted on once.
 */
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ringAddInto } from '../shared/secagg/ring.ts';
import { buildServer, type FedrankServer } from './app.ts';
import type { SecAggResult } from './secagg/coordinator.ts';
import { pgAvailability, startPgCluster, type PgCluster } from './store/pg-cluster.ts';
import { testConfig } from './testing.ts';
import { currentSecureRound, injectRelay, relayShopper } from './testing-relay.ts';

const COHORT = 6;
const SECRET_TABLES = ['secagg_adverts', 'secagg_shares', 'secagg_masked', 'secagg_unmasks', 'secagg_slots'];

const pgs = pgAvailability();
describe.skipIf(!pgs.run)('secure aggregation on two servers sharing one PostgreSQL', () => {
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

  async function pair() {
    const url = await cluster.database(`secure_${dbs++}`);
    let clock = 1_800_000_000_000;
    const results: { ringSum: Uint32Array; by: number }[] = [];
    const config = testConfig({
      store: url,
      training: { clipNorm: 1, noiseMultiplier: 1, noiseMode: 'distributed', expectedClientsPerRound: 3 },
      rounds: { minClients: 3, maxClients: COHORT },
      privacy: { secureAggregation: true },
    });
    for (let i = 0; i < 2; i++)
      servers.push(
        await buildServer(config, {
          logger: false,
          clock: () => clock,
          onSecAggResult: (r: SecAggResult) => results.push({ ringSum: r.ringSum.slice(), by: i }),
        }),
      );
    let turn = 0;
    const next = (): FedrankServer => servers[turn++ % 2]!;
    const secrets = async (): Promise<number> => {
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      let n = 0;
      for (const t of SECRET_TABLES) n += Number((await c.query(`SELECT count(*) AS n FROM ${t}`)).rows[0].n);
      await c.end();
      return n;
    };
    return { a: servers[0]!, b: servers[1]!, next, results, secrets, advance: (ms: number) => (clock += ms) };
  }

  it('runs one round over both: exact survivors sum, one close, both serve the new model', async () => {
    const { a, b, next, results, secrets, advance } = await pair();
    const { round, forRound } = await currentSecureRound(a);
    expect(await currentSecureRound(b)).toEqual({ round, forRound }); // b joined a's round, opened none
    const d = a.aggregator.model.paramCount;
    const shoppers = Array.from({ length: COHORT }, (_, i) => relayShopper(injectRelay(next), i + 1, round));
    for (const x of shoppers) await x.advertise();
    for (const x of shoppers) await x.share();
    const survivors = shoppers.slice(0, COHORT - 1); // the last closes its page after sharing keys
    const { bits } = (await a.secure!.store.loadRound(round))!.params.encoding;
    const want = new Uint32Array(d);
    for (const [i, x] of survivors.entries()) {
      const input = await x.mask(new Float32Array(d).fill(0.01 * (i + 1)));
      ringAddInto(want, input, bits);
    }
    advance(121_000); // past the mask deadline: both servers stop waiting for the last one
    await Promise.all([a.secure!.check(), b.secure!.check()]);
    for (const x of survivors) {
      const res = await next().app.inject({ url: `/v1/secagg/rounds/${round}` });
      if ((res.json() as { phase: string }).phase !== 'unmask') break;
      await x.unmask();
    }
    await Promise.all([a.secure!.check(), b.secure!.check()]);
    await Promise.all([a.aggregator.idle(), b.aggregator.idle()]);

    expect(results).toHaveLength(1); // unmasked once, by whichever server took the last unmask
    expect(results[0]!.ringSum).toEqual(want);
    for (const s of [a, b]) {
      const m = (await s.app.inject({ url: '/v1/model' })).json() as { version: number };
      expect(m.version).toBe(1);
    }
    expect(Array.from(b.aggregator.params)).toEqual(Array.from(a.aggregator.params));
    expect(await secrets()).toBe(0);
    // The next aggregation round has one secure round, named alike by both.
    const nextRound = await currentSecureRound(a);
    expect(nextRound).toEqual({ round: round + 1, forRound: forRound + 1 });
    expect(await currentSecureRound(b)).toEqual(nextRound);
    const t = [a, b].map((s) => s.secure!.status().totals);
    expect(t[0]!.completed + t[1]!.completed).toBe(1);
    expect(t[0]!.opened + t[1]!.opened).toBe(2);
  });

  it('a deadline both servers see is acted on once: one failure, one fresh round', async () => {
    const { a, b, next, secrets, advance } = await pair();
    const { round, forRound } = await currentSecureRound(a);
    const few = Array.from({ length: 2 }, (_, i) => relayShopper(injectRelay(next), i + 1, round));
    for (const x of few) await x.advertise();
    advance(31_000); // past the advertise deadline with 2 < minSurvivors
    await Promise.all([a.secure!.check(), b.secure!.check(), a.secure!.check(), b.secure!.check()]);
    const t = [a, b].map((s) => s.secure!.status().totals);
    expect(t[0]!.failed + t[1]!.failed).toBe(1);
    expect(t[0]!.opened + t[1]!.opened).toBe(2);
    expect((await a.secure!.store.loadRound(round))!.phase).toBe('failed');
    expect(await currentSecureRound(b)).toEqual({ round: round + 1, forRound });
    expect(await secrets()).toBe(0);
    expect(a.aggregator.version).toBe(0);
  });
});
