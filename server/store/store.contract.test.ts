/**
 * The Store contract, one suite run on every implementation: SQLite (a temp file) and PostgreSQL (a
 * throwaway cluster, see pg-cluster.ts). Every method's behaviour, atomicity of the mutating ones, and that
 * everything reads back the same after closing and reopening the store.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { newRound } from '../round-close.ts';
import { pgAvailability, startPgCluster, type PgCluster } from './pg-cluster.ts';
import { PostgresStore } from './postgres.ts';
import { SqliteStore } from './sqlite.ts';
import type { RoundAccumulator, RoundRecord, Store, StoredModel, UpdateRecord } from './types.ts';

const N = 10;
const T0 = '2026-01-01T00:00:00.000Z';

interface Harness {
  /** A fresh, empty store. */
  fresh(): Promise<Store>;
  /** The same store's backing database, opened again (after close). */
  reopen(): Promise<Store>;
}

function model(version: number, fill = version): StoredModel {
  return { modelId: 'm1', version, params: new Float32Array(N).fill(fill), adam: null };
}
function acc(count: number, value: number): RoundAccumulator {
  return {
    sum: new Float64Array(N).fill(value),
    weight: count,
    count,
    sqWeightSum: count,
    maxWeight: count > 0 ? 1 : 0,
  };
}
function update(key: string, client: string, round: number, baseVersion = 0): UpdateRecord {
  return {
    idempotencyKey: key,
    clientId: client,
    roundId: round,
    payloadHash: `h-${key}`,
    baseVersion,
    weight: 1,
    modelVersion: 0,
    receivedAt: T0,
  };
}
function closedRound(r: RoundRecord, participants: number): RoundRecord {
  return {
    ...r,
    state: 'closed',
    closedAt: T0,
    participants,
    weightSum: participants,
    noiseStd: 0.5,
    sigma: 1.5,
    q: 1,
    epsilonAfter: 2.5,
    resultVersion: r.baseVersion + 1,
  };
}

function contract(name: string, harness: () => Harness): void {
  describe(`Store contract: ${name}`, () => {
    let h: Harness;
    let store: Store;
    beforeEach(async () => {
      h = harness();
      store = await h.fresh();
      return async () => {
        await store.close();
      };
    });
    const reopen = async (): Promise<Store> => {
      await store.close();
      store = await h.reopen();
      return store;
    };

    it('a fresh store loads as null, pings, and initializes once', async () => {
      expect(await store.load()).toBeNull();
      expect(await store.ping()).toBe(true);
      const r1 = newRound(1, 0, T0);
      await store.initialize(model(0, 0.25), r1, N);
      await expect(store.initialize(model(0), r1, N)).rejects.toThrow(/already initialized/);
      const s = await (await reopen()).load();
      expect(s!.model.version).toBe(0);
      expect([...s!.model.params]).toEqual(new Array(N).fill(0.25));
      expect(s!.model.adam).toBeNull();
      expect(s!.open!.round.id).toBe(1);
      expect(s!.open!.round.state).toBe('open');
      expect(s!.open!.acc.count).toBe(0);
      expect([...s!.open!.acc.sum]).toEqual(new Array(N).fill(0));
      expect(s!.closedPrivacy).toEqual([]);
    });

    it('keeps FedAdam moments', async () => {
      const m = model(0);
      m.adam = { m: new Float32Array(N).fill(0.5), v: new Float32Array(N).fill(0.125) };
      await store.initialize(m, null, N);
      const s = await (await reopen()).load();
      expect([...s!.model.adam!.m]).toEqual(new Array(N).fill(0.5));
      expect([...s!.model.adam!.v]).toEqual(new Array(N).fill(0.125));
      expect(s!.open).toBeNull();
    });

    it('commits updates with the running sum; finds them by key and client after reopening', async () => {
      await store.initialize(model(0), newRound(1, 0, T0), N);
      await store.commitUpdates(1, [update('k1', 'c1', 1), update('k2', 'c2', 1)], acc(2, 1.5));
      await store.commitUpdates(1, [update('k3', 'c3', 1)], acc(3, 2.5));
      await reopen();
      const found = await store.findUpdates(['k1', 'k3', 'missing']);
      expect([...found.keys()].sort()).toEqual(['k1', 'k3']);
      expect(found.get('k1')).toMatchObject({ clientId: 'c1', roundId: 1, payloadHash: 'h-k1', weight: 1 });
      expect(await store.clientsInRound(1, ['c1', 'c3', 'c9'])).toEqual(new Set(['c1', 'c3']));
      expect(await store.clientsInRound(2, ['c1'])).toEqual(new Set());
      expect(await store.findUpdates([])).toEqual(new Map());
      const s = await store.load();
      expect(s!.open!.acc).toMatchObject({ weight: 3, count: 3, sqWeightSum: 3, maxWeight: 1 });
      expect([...s!.open!.acc.sum]).toEqual(new Array(N).fill(2.5));
    });

    it('a commit is atomic: a duplicate key or client writes nothing', async () => {
      await store.initialize(model(0), newRound(1, 0, T0), N);
      await store.commitUpdates(1, [update('k1', 'c1', 1)], acc(1, 1));
      await expect(
        store.commitUpdates(1, [update('k2', 'c2', 1), update('k1', 'cx', 1)], acc(3, 9)),
      ).rejects.toThrow();
      await expect(store.commitUpdates(1, [update('k3', 'c1', 1)], acc(2, 9))).rejects.toThrow();
      await reopen();
      expect([...(await store.findUpdates(['k1', 'k2', 'k3'])).keys()]).toEqual(['k1']);
      const s = await store.load();
      expect(s!.open!.acc.count).toBe(1);
      expect([...s!.open!.acc.sum]).toEqual(new Array(N).fill(1));
    });

    it('commits a batch of many updates as one; its sum is kept as float32', async () => {
      await store.initialize(model(0), newRound(1, 0, T0), N);
      const batch = Array.from({ length: 300 }, (_, i) => update(`k${i}`, `c${i}`, 1));
      await store.commitUpdates(1, batch, acc(300, 0.1));
      await reopen();
      expect((await store.findUpdates(batch.map((u) => u.idempotencyKey))).size).toBe(300);
      const s = await store.load();
      expect(s!.open!.acc).toMatchObject({ weight: 300, count: 300 });
      // The persisted copy of the float64 sum is rounded once to float32 (store/rows.ts sumBytes).
      expect([...s!.open!.acc.sum]).toEqual(new Array(N).fill(Math.fround(0.1)));
    });

    it('a batch for a round that is no longer open is refused and writes nothing', async () => {
      const r1 = newRound(1, 0, T0);
      await store.initialize(model(0), r1, N);
      await store.commitUpdates(1, [update('k1', 'c1', 1)], acc(1, 1));
      await store.closeRound(closedRound(r1, 1), model(1), newRound(2, 1, T0), 0);
      await expect(store.commitUpdates(1, [update('late', 'c2', 1)], acc(2, 5))).rejects.toThrow();
      await reopen();
      expect((await store.findUpdates(['late'])).size).toBe(0);
      const s = await store.load();
      expect(s!.open!.round.id).toBe(2);
      expect(s!.open!.acc.count).toBe(0);
      expect([...s!.open!.acc.sum]).toEqual(new Array(N).fill(0));
    });

    it('closes a round with the new model and the next round, once', async () => {
      const r1 = newRound(1, 0, T0);
      await store.initialize(model(0), r1, N);
      await store.commitUpdates(1, [update('k1', 'c1', 1)], acc(1, 1));
      const r2 = newRound(2, 1, T0);
      await store.closeRound(closedRound(r1, 1), model(1, 7), r2, 0);
      await expect(store.closeRound(closedRound(r1, 1), model(2), null, 0)).rejects.toThrow(/not open/);
      await reopen();
      const s = await store.load();
      expect(s!.model.version).toBe(1);
      expect([...s!.model.params]).toEqual(new Array(N).fill(7));
      expect(s!.open!.round).toMatchObject({ id: 2, baseVersion: 1, state: 'open' });
      expect(s!.open!.acc.count).toBe(0);
      expect([...s!.open!.acc.sum]).toEqual(new Array(N).fill(0));
      expect(s!.closedPrivacy).toEqual([{ q: 1, sigma: 1.5 }]);
      const rounds = await store.listRounds(10);
      expect(rounds.map((r) => r.id)).toEqual([2, 1]);
      expect(rounds[1]).toMatchObject({
        state: 'closed',
        closedAt: T0,
        participants: 1,
        weightSum: 1,
        noiseStd: 0.5,
        sigma: 1.5,
        q: 1,
        epsilonAfter: 2.5,
        resultVersion: 1,
      });
      expect(await store.listRounds(1)).toHaveLength(1);
      // The old round's updates are still found by key (replays get their original ack).
      expect((await store.findUpdates(['k1'])).get('k1')!.roundId).toBe(1);
    });

    it('a close deletes the update records below keepFromVersion in the same transaction', async () => {
      const r1 = newRound(1, 0, T0);
      await store.initialize(model(0), r1, N);
      await store.commitUpdates(1, [update('old', 'c1', 1, 0), update('new', 'c2', 1, 1)], acc(2, 1));
      await store.closeRound(closedRound(r1, 2), model(1), newRound(2, 1, T0), 1);
      await reopen();
      expect([...(await store.findUpdates(['old', 'new'])).keys()]).toEqual(['new']);
      expect(await store.clientsInRound(1, ['c1', 'c2'])).toEqual(new Set(['c2']));
    });

    it('closing without a next round leaves none open; openRound opens one, and only one', async () => {
      const r1 = newRound(1, 0, T0);
      await store.initialize(model(0), r1, N);
      await store.closeRound(closedRound(r1, 0), model(1), null, 0);
      expect((await store.load())!.open).toBeNull();
      await store.openRound(newRound(2, 1, T0), N);
      await expect(store.openRound(newRound(3, 1, T0), N)).rejects.toThrow();
      await reopen();
      const s = await store.load();
      expect(s!.open!.round.id).toBe(2);
      expect(s!.open!.acc.count).toBe(0);
    });

    it('adds evaluation reports per model version', async () => {
      await store.initialize(model(0), null, N);
      await store.addEval({ modelVersion: 0, examples: 10, hitsAt10: 3, ndcgAt10: 1.5 });
      await store.addEval({ modelVersion: 0, examples: 5, hitsAt10: 1, ndcgAt10: 0.5 });
      await store.addEval({ modelVersion: 2, examples: 1, hitsAt10: 0, ndcgAt10: 0 });
      await reopen();
      expect(await store.evalTotals([0, 1, 2])).toEqual([
        { modelVersion: 0, reports: 2, examples: 15, hitsAt10: 4, ndcgAt10: 2 },
        { modelVersion: 2, reports: 1, examples: 1, hitsAt10: 0, ndcgAt10: 0 },
      ]);
      expect(await store.evalTotals([])).toEqual([]);
    });
  });
}

describe('sqlite', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'fedrank-contract-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  let n = 0;
  contract('SQLite', () => {
    const path = join(dir, `s${n++}.db`);
    const open = async (): Promise<Store> => new SqliteStore({ path, durability: 'normal' });
    return { fresh: open, reopen: open };
  });
});

const pg = pgAvailability();
describe.skipIf(!pg.run)('postgres', () => {
  let cluster: PgCluster;
  beforeAll(async () => {
    cluster = await startPgCluster({ fsync: false });
  }, 60_000);
  afterAll(() => cluster?.stop());
  let n = 0;
  contract('PostgreSQL', () => {
    let url: Promise<string> | null = null;
    const open = async (): Promise<Store> => {
      url ??= cluster.database(`contract_${n++}`);
      return PostgresStore.open({ url: await url });
    };
    return { fresh: open, reopen: open };
  });
});
