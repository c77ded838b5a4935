import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { ringAddInto } from '../shared/secagg/ring.ts';
import { buildServer, type FedrankServer } from './app.ts';
import { MemorySecAggStore } from './secagg/store-memory.ts';
import type { SecAggResult } from './secagg/coordinator.ts';
import { ddgLedgerSigma } from './secure-accounting.ts';
import { constantDelta, testConfig } from './testing.ts';
import { currentSecureRound, injectRelay, relayId, relayShopper } from './testing-relay.ts';

const COHORT = 8;

function secureConfig() {
  return testConfig({
    training: { clipNorm: 1, noiseMultiplier: 1, noiseMode: 'distributed', expectedClientsPerRound: 3 },
    rounds: { minClients: 3, maxClients: COHORT },
    privacy: { secureAggregation: true },
  });
}

async function setup() {
  let clock = 1_800_000_000_000;
  const results: { mean: Float32Array; ringSum: Uint32Array; round: number }[] = [];
  const logs: { level: number; msg: string; secureRound?: number }[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _e, done) {
      for (const l of chunk.toString().split('\n')) if (l) logs.push(JSON.parse(l));
      done();
    },
  });
  const store = new MemorySecAggStore();
  const s = await buildServer(secureConfig(), {
    logger: { level: 'info', stream: sink },
    clock: () => clock,
    secAggStore: store,
    // Copies: the lifecycle wipes the result once merged.
    onSecAggResult: (r: SecAggResult) =>
      results.push({ mean: r.mean.slice(), ringSum: r.ringSum.slice(), round: r.record.round }),
  });
  return { s, store, results, logs, advance: (ms: number) => (clock += ms) };
}

const id = relayId;
const shopper = (s: FedrankServer, i: number, round: number) =>
  relayShopper(
    injectRelay(() => s),
    i,
    round,
  );
const current = currentSecureRound;

describe('secure rounds in the server lifecycle', () => {
  it('closes the aggregation round with the decoded mean of the survivors; two drop after sharing keys', async () => {
    const { s, store, results, advance } = await setup();
    try {
      const agg = s.aggregator;
      const before = agg.params.slice();
      const d = agg.model.paramCount;
      const { round, forRound } = await current(s);
      expect(forRound).toBe(agg.open!.round.id);
      const shoppers = Array.from({ length: COHORT }, (_, i) => shopper(s, i + 1, round));
      for (const x of shoppers) await x.advertise();
      for (const x of shoppers) await x.share();
      // Shoppers 7 and 8 close their pages after sharing keys.
      const survivors = shoppers.slice(0, COHORT - 2);
      const want = new Uint32Array(d);
      let bits = 0;
      for (const [i, x] of survivors.entries()) {
        const input = await x.mask(new Float32Array(d).fill(0.01 * (i + 1)));
        bits = (await store.loadRound(round))!.params.encoding.bits;
        ringAddInto(want, input, bits);
      }
      advance(121_000); // past the mask deadline: the server stops waiting for the two
      for (const x of survivors) {
        if ((await store.loadRound(round))!.phase === 'done') break;
        await x.unmask();
      }
      await s.secure!.check();
      await agg.idle();

      expect(results).toHaveLength(1);
      expect(results[0]!.ringSum).toEqual(want); // the server's sum is exactly the survivors' encoded inputs
      expect(agg.version).toBe(1);
      // fedavg at learning rate 1, robust bounds off: the model moved by exactly the decoded mean.
      const moved = agg.params.map((p, i) => p - before[i]!);
      for (let i = 0; i < d; i++) expect(moved[i]).toBeCloseTo(results[0]!.mean[i]!, 6);
      // The ledger counts the distributed discrete Gaussian as run, at the survivor threshold.
      const r = (await store.loadRound(round))!;
      const rec = (
        await s.app.inject({
          method: 'GET',
          url: '/v1/admin/rounds',
          headers: { authorization: 'Bearer test-operator-token-0123456789' },
        })
      ).json() as { rounds: { id: number; sigma: number; participants: number }[] };
      const closed = rec.rounds.find((x) => x.id === forRound)!;
      expect(closed.sigma).toBeCloseTo(ddgLedgerSigma(r.params.encoding, r.params.minSurvivors), 9);
      expect(closed.participants).toBe(COHORT - 2);
      // Nothing masked or unmasked is kept, and the next aggregation round has a secure round of its own.
      expect(r.phase).toBe('done');
      expect(await store.maskedSum(round)).toBeNull();
      expect(await store.unmasks(round)).toEqual([]);
      expect(await current(s)).toEqual({ round: round + 1, forRound: forRound + 1 });
      const status = (
        await s.app.inject({
          method: 'GET',
          url: '/v1/admin/status',
          headers: { authorization: 'Bearer test-operator-token-0123456789' },
        })
      ).json() as {
        secureAggregation: { recent: { survivors: object; dropouts: number }[]; totals: object };
      };
      expect(status.secureAggregation.recent[0]).toMatchObject({
        survivors: { advertise: 8, share: 8, mask: 6 },
        dropouts: 2,
      });
      expect(status.secureAggregation.totals).toMatchObject({ opened: 2, completed: 1, failed: 0 });
    } finally {
      await s.close();
    }
  });

  it('refuses plain uploads while rounds are secure', async () => {
    const { s } = await setup();
    try {
      const agg = s.aggregator;
      const body = constantDelta(
        { modelId: agg.model.modelId, baseVersion: 0, round: 1 },
        agg.model.paramCount,
        0,
      );
      await expect(agg.submit(id(1), id(2), body)).rejects.toMatchObject({ code: 'SECURE_ROUND_ONLY' });
    } finally {
      await s.close();
    }
  });

  it('fails a round below threshold without unmasking and opens a fresh secure round for the same aggregation round', async () => {
    const { s, store, logs, advance } = await setup();
    try {
      const { round, forRound } = await current(s);
      const few = Array.from({ length: 3 }, (_, i) => shopper(s, i + 1, round));
      for (const x of few) await x.advertise();
      advance(31_000); // past the advertise deadline with 3 < minSurvivors
      await s.secure!.check();
      const failed = (await store.loadRound(round))!;
      expect(failed.phase).toBe('failed');
      expect(await store.adverts(round)).toEqual([]);
      expect(s.aggregator.version).toBe(0);
      expect(await current(s)).toEqual({ round: round + 1, forRound });
      expect(s.secure!.status().totals).toMatchObject({ failed: 1, completed: 0 });
      expect(logs.filter((l) => l.secureRound === round)).toMatchObject([
        { level: 40, msg: 'secure round failed' },
      ]);
    } finally {
      await s.close();
    }
  });

  it('a round nobody joined expires at info, not as a warning (an idle shop is not a fault)', async () => {
    const { s, logs, advance } = await setup();
    try {
      const { round } = await current(s);
      advance(31_000);
      await s.secure!.check();
      expect(await current(s)).toMatchObject({ round: round + 1 });
      expect(s.secure!.status().totals).toMatchObject({ failed: 1 });
      expect(logs.filter((l) => l.secureRound === round)).toMatchObject([
        { level: 30, msg: 'secure round expired with no participants' },
      ]);
    } finally {
      await s.close();
    }
  });
});
