import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PeerKeys, SealedShare } from '../../shared/secagg/messages.ts';
import { defaultSecAggConfig } from './config.ts';
import { simulateRound } from './simulate.ts';
import type { SecAggRoundRecord, SecAggStore } from './store.ts';
import { MemorySecAggStore } from './store-memory.ts';
import { SqliteSecAggStore } from './store-sqlite.ts';
import { pgAvailability, startPgCluster, type PgCluster } from '../store/pg-cluster.ts';
import { PostgresSecAggStore } from './store-postgres.ts';

/** Remembers the keys and sealed shares it stored, to look for them in the file afterwards. */
class RecordingSqliteStore extends SqliteSecAggStore {
  readonly seen: Uint8Array[] = [];
  file = '';
  constructor(private readonly raw: Database.Database) {
    super(raw);
  }
  static openAt(file: string): RecordingSqliteStore {
    const db = new Database(file);
    db.pragma('journal_mode = WAL');
    return new RecordingSqliteStore(db);
  }
  checkpoint(): void {
    this.raw.pragma('wal_checkpoint(TRUNCATE)');
  }
  override async addAdvert(r: SecAggRoundRecord, k: PeerKeys): Promise<void> {
    this.seen.push(k.cPk, k.sPk);
    return super.addAdvert(r, k);
  }
  override async addMaskedInput(r: SecAggRoundRecord, sum: Uint8Array): Promise<void> {
    this.checkpoint(); // the keys and shares reach the main file before the round closes
    return super.addMaskedInput(r, sum);
  }
  override async addShares(r: SecAggRoundRecord, from: number, shares: SealedShare[]): Promise<void> {
    for (const s of shares) this.seen.push(s.sealed);
    return super.addShares(r, from, shares);
  }
}

const dir = mkdtempSync(join(tmpdir(), 'fedrank-secagg-'));
const pg = pgAvailability();
let cluster: PgCluster | null = null;
let dbs = 0;
const pgStores: PostgresSecAggStore[] = [];
beforeAll(async () => {
  if (pg.run) cluster = await startPgCluster({ fsync: false });
}, 60_000);
afterAll(async () => {
  await Promise.all(pgStores.map((s) => s.close()));
  cluster?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** `count` PostgreSQL stores (server processes) on one fresh database. */
async function pgStoresOn(count: number): Promise<PostgresSecAggStore[]> {
  const url = await cluster!.database(`secagg_${dbs++}`);
  const out = await Promise.all(Array.from({ length: count }, () => PostgresSecAggStore.open(url)));
  pgStores.push(...out);
  return out;
}

/** Bytes that mark every masked input, so the file can be searched for them after the round. */
const MARK = 0.0123;

type Made = { store: SecAggStore; file: string | null };
const STORES: [string, () => Promise<Made>][] = [
  ['memory', async () => ({ store: new MemorySecAggStore(), file: null })],
  [
    'sqlite',
    async () => {
      const file = join(dir, `s-${Math.random()}.db`);
      return { store: RecordingSqliteStore.openAt(file), file };
    },
  ],
];
if (pg.run) STORES.push(['postgres', async () => ({ store: (await pgStoresOn(1))[0]!, file: null })]);

describe.each(STORES)('SecAggStore (%s)', (_name, make) => {
  it('hands each client one slot, the same again on rejoin, none past the cohort', async () => {
    const { store } = await make();
    await store.saveRound({ ...(await roundOne()), round: 3 });
    expect(await store.joinSlot(3, 'a', 2)).toBe(1);
    expect(await store.joinSlot(3, 'b', 2)).toBe(2);
    expect(await store.joinSlot(3, 'a', 2)).toBe(1);
    expect(await store.joinSlot(3, 'c', 2)).toBeNull();
    expect(await store.slotOwner(3, 2)).toBe('b');
    expect(await store.slotOwner(3, 3)).toBeNull();
    // A paid join (idempotency key) is bound to its first client id: a replay under another id is refused.
    await store.saveRound({ ...(await roundOne()), round: 4 });
    expect(await store.joinSlot(4, 'a', 3, 'key-1')).toBe(1);
    expect(await store.joinSlot(4, 'a', 3, 'key-1')).toBe(1);
    expect(await store.joinSlot(4, 'b', 3, 'key-1')).toBe('spent');
    expect(await store.joinSlot(4, 'b', 3, 'key-2')).toBe(2);
    expect(await store.slotOwner(4, 3)).toBeNull();
    expect(await store.exclusive(async () => 7)).toBe(7);
    await store.closeRound({ ...(await roundOne()), round: 3, phase: 'failed' });
    expect(await store.slotOwner(3, 1)).toBeNull();
  });

  it('runs a whole round and keeps only the round record afterwards', async () => {
    const { store, file } = await make();
    const rep = await simulateRound({
      config: { ...defaultSecAggConfig(), neighbours: 4 },
      cohort: 8,
      minSurvivors: 5,
      denominator: 8,
      d: 512,
      clipNorm: 1,
      noiseMultiplier: 0.5,
      dropAfterShareKeys: [2],
      update: () => new Float32Array(512).fill(MARK),
      store,
    });
    expect(rep.record.phase).toBe('done');
    expect(rep.result!.ringSum).toEqual(rep.expectedRingSum);
    const saved = await store.loadRound(1);
    expect(saved).toMatchObject({ phase: 'done', masked: rep.record.masked });
    expect(saved!.params.seed).toEqual(rep.record.params.seed);
    expect(await store.adverts(1)).toEqual([]);
    expect(await store.sharesTo(1, 1)).toEqual([]);
    expect(await store.maskedSum(1)).toBeNull();
    expect(await store.unmasks(1)).toEqual([]);
    if (file) {
      const sq = store as RecordingSqliteStore;
      sq.checkpoint();
      sq.close();
      // secure_delete zeroes freed pages: no key or sealed share of the closed round is left in the file.
      const raw = readFileSync(file);
      expect(sq.seen.length).toBeGreaterThan(10);
      for (const b of sq.seen) expect(raw.indexOf(Buffer.from(b))).toBe(-1);
    }
  });
});

/** A round record to store (what a coordinator would open). */
async function roundOne(): Promise<SecAggRoundRecord> {
  const rep = await simulateRound({
    config: { ...defaultSecAggConfig(), neighbours: 2 },
    cohort: 3,
    minSurvivors: 3,
    denominator: 3,
    d: 8,
    clipNorm: 1,
    noiseMultiplier: 0.5,
    update: () => new Float32Array(8),
  });
  return rep.record;
}

describe.skipIf(!pg.run)('PostgresSecAggStore shared by two processes', () => {
  it('serializes exclusive sections across processes and never hands one slot twice', async () => {
    const [a, b] = await pgStoresOn(2);
    await a!.saveRound({ ...(await roundOne()), round: 1 });
    const log: string[] = [];
    const section = (s: SecAggStore, name: string) =>
      s.exclusive(async () => {
        log.push(`${name}+`);
        await new Promise((r) => setTimeout(r, 30));
        log.push(`${name}-`);
      });
    await Promise.all([section(a!, 'a'), section(b!, 'b'), section(a!, 'c'), section(b!, 'd')]);
    for (let i = 0; i < log.length; i += 2) expect(log[i + 1]).toBe(log[i]!.replace('+', '-'));
    const slots = await Promise.all(
      Array.from({ length: 6 }, (_, i) => (i % 2 ? a! : b!).joinSlot(1, `client-${i}`, 4)),
    );
    expect(slots.filter((x) => x !== null).sort()).toEqual([1, 2, 3, 4]);
  });
});
