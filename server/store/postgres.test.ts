/**
 * What the PostgreSQL store adds to the Store contract: migrations applied once under concurrent starts,
 * the shared-round operations of two writers (partial sums, global capacity, one close, NOTIFY), and the
 * multi-megabyte sums rewritten per commit stored without compression.
 */
import pgClient from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newRound } from '../round-close.ts';
import { MIGRATIONS } from './pg-migrations.ts';
import { pgAvailability, startPgCluster, type PgCluster } from './pg-cluster.ts';
import { PostgresStore } from './postgres.ts';
import { StoreConflict, type RoundAccumulator, type UpdateRecord } from './types.ts';

const N = 4;
const T0 = '2026-01-01T00:00:00.000Z';

function update(key: string, client: string, round = 1): UpdateRecord {
  return {
    idempotencyKey: key,
    clientId: client,
    roundId: round,
    payloadHash: `h-${key}`,
    baseVersion: 0,
    weight: 1,
    modelVersion: 0,
    receivedAt: T0,
  };
}
function partial(count: number, value: number): RoundAccumulator {
  return {
    sum: new Float64Array(N).fill(value),
    weight: count,
    count,
    sqWeightSum: count,
    maxWeight: 1,
  };
}

const pg = pgAvailability();
describe.skipIf(!pg.run)('PostgresStore (shared by several processes)', () => {
  let cluster: PgCluster;
  let n = 0;
  beforeAll(async () => {
    cluster = await startPgCluster({ fsync: false });
  }, 60_000);
  afterAll(() => cluster?.stop());

  /** Two stores (two "processes") on one fresh, initialized database. */
  async function two(): Promise<[PostgresStore, PostgresStore]> {
    const url = await cluster.database(`shared_${n++}`);
    const [a, b] = await Promise.all([PostgresStore.open({ url }), PostgresStore.open({ url })]);
    await a.initialize(
      { modelId: 'm', version: 0, params: new Float32Array(N), adam: null },
      newRound(1, 0, T0),
      N,
    );
    return [a, b];
  }

  it('applies each migration once when several processes start at once', async () => {
    const url = await cluster.database(`migrate_${n++}`);
    const stores = await Promise.all(Array.from({ length: 4 }, () => PostgresStore.open({ url })));
    const c = await PostgresStore.open({ url });
    await Promise.all([...stores, c].map((s) => s.close()));
    const { default: pgLib } = await import('pg');
    const client = new pgLib.Client({ connectionString: url });
    await client.connect();
    const rows = (await client.query('SELECT version FROM schema_migrations ORDER BY version')).rows;
    await client.end();
    expect(rows.map((r: { version: number }) => r.version)).toEqual(MIGRATIONS.map((m) => m.version));
  });

  it('merges the partial sums of two writers; the global count caps the round', async () => {
    const [a, b] = await two();
    expect(await a.commitPartial(1, [update('a1', 'c1'), update('a2', 'c2')], partial(2, 1), 4)).toBe(2);
    expect(await b.commitPartial(1, [update('b1', 'c3')], partial(1, 10), 4)).toBe(3);
    // b's next commit would make 5 > 4: refused, nothing written
    await expect(
      b.commitPartial(1, [update('b2', 'c4'), update('b3', 'c5')], partial(3, 20), 4),
    ).rejects.toThrow(StoreConflict);
    expect(await b.partial(1, N)).toMatchObject({ count: 1 });
    expect((await a.head()).round).toEqual({ id: 1, accepted: 3 });
    const s = await a.load();
    expect(s!.open!.acc.count).toBe(3);
    expect([...s!.open!.acc.sum]).toEqual([11, 11, 11, 11]);
    await Promise.all([a.close(), b.close()]);
  });

  it('a key or client taken by the other writer is a conflict that writes nothing', async () => {
    const [a, b] = await two();
    await a.commitPartial(1, [update('k1', 'c1')], partial(1, 1), 100);
    await expect(b.commitPartial(1, [update('k1', 'c9')], partial(1, 1), 100)).rejects.toThrow(StoreConflict);
    await expect(b.commitPartial(1, [update('k2', 'c1')], partial(1, 1), 100)).rejects.toThrow(StoreConflict);
    expect((await a.head()).round!.accepted).toBe(1);
    expect((await b.partial(1, N)).count).toBe(0);
    await Promise.all([a.close(), b.close()]);
  });

  it('exactly one of two concurrent closes wins; the other process is notified; late commits conflict', async () => {
    const [a, b] = await two();
    const notified = [0, 0];
    a.onChange(() => notified[0]!++);
    b.onChange(() => notified[1]!++);
    await a.commitPartial(1, [update('a1', 'c1')], partial(1, 2), 100);
    await b.commitPartial(1, [update('b1', 'c2')], partial(1, 4), 100);
    const merged: number[] = [];
    const plan = (m: RoundAccumulator) => {
      merged.push(m.count, m.sum[0]!);
      const r = newRound(1, 0, T0);
      return {
        closed: { ...r, state: 'closed' as const, participants: m.count, resultVersion: 1, q: 1, sigma: 1 },
        model: {
          modelId: 'm',
          version: 1,
          params: new Float32Array(N).fill(m.sum[0]! / m.count),
          adam: null,
        },
        next: newRound(2, 1, T0),
        keepFromVersion: 1,
      };
    };
    const won = await Promise.all([a.closeMerged(1, plan), b.closeMerged(1, plan)]);
    expect(won.filter(Boolean)).toHaveLength(1);
    expect(merged).toEqual([2, 6]);
    // Once the close has committed, neither process's partial sum of the round is kept (then VACUUMed), and
    // the dedupe records below keepFromVersion went in the close's own transaction.
    expect((await a.partial(1, N)).count).toBe(0);
    expect((await b.partial(1, N)).count).toBe(0);
    expect((await a.findUpdates(['a1', 'b1'])).size).toBe(0);
    await expect(a.commitPartial(1, [update('a2', 'c3')], partial(2, 3), 100)).rejects.toThrow(StoreConflict);
    expect(await b.head()).toEqual({ version: 1, round: { id: 2, accepted: 0 } });
    const s = await b.load();
    expect([...s!.model.params]).toEqual([3, 3, 3, 3]);
    expect(s!.open!.acc.count).toBe(0);
    // The loser is notified (a process ignores its own NOTIFY); delivery is asynchronous after the commit.
    const loser = won[0] ? 1 : 0;
    while (notified[loser] === 0) await new Promise((r) => setTimeout(r, 10));
    expect(notified[loser]).toBeGreaterThan(0);
    await Promise.all([a.close(), b.close()]);
  });

  it('stores the sums rewritten per commit uncompressed: pglz never tries them (STORAGE EXTERNAL)', async () => {
    const url = await cluster.database(`storage_${n++}`);
    await (await PostgresStore.open({ url })).close(); // migrates, as a server start does
    const c = new pgClient.Client({ connectionString: url });
    await c.connect();
    try {
      const cols = await c.query<{ col: string; attstorage: string }>(
        `SELECT attrelid::regclass || '.' || attname AS col, attstorage FROM pg_attribute
         WHERE (attrelid::regclass::text, attname) IN
           (('round_partials', 'sum'), ('secagg_masked', 'sum'), ('model', 'params'))`,
      );
      expect(cols.rows.map((r) => [r.col, r.attstorage]).sort()).toEqual([
        ['model.params', 'e'],
        ['round_partials.sum', 'e'],
        ['secagg_masked.sum', 'e'],
      ]);
      // Zeros compress a thousandfold: stored as is, they take their full size.
      await c.query(`INSERT INTO rounds (id, base_version, opened_at, state) VALUES (1, 0, 'x', 'open')`);
      await c.query(`INSERT INTO round_partials VALUES (1, 'w', $1, 0, 0, 0, 0)`, [Buffer.alloc(1 << 20)]);
      const r = await c.query<{ size: number; method: string | null }>(
        `SELECT pg_column_size(sum) AS size, pg_column_compression(sum) AS method FROM round_partials`,
      );
      expect(r.rows[0]).toEqual({ size: 1 << 20, method: null });
    } finally {
      await c.end();
    }
  });
});
