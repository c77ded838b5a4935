import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import type { PeerKeys, SealedShare } from '../../shared/secagg/messages.ts';
import { defaultSecAggConfig } from './config.ts';
import { simulateRound } from './simulate.ts';
import type { SecAggRoundRecord, SecAggStore } from './store.ts';
import { MemorySecAggStore } from './store-memory.ts';
import { SqliteSecAggStore } from './store-sqlite.ts';

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
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Bytes that mark every masked input, so the file can be searched for them after the round. */
const MARK = 0.0123;

describe.each([
  ['memory', () => ({ store: new MemorySecAggStore() as SecAggStore, file: null as string | null })],
  [
    'sqlite',
    () => {
      const file = join(dir, `s-${Math.random()}.db`);
      return { store: RecordingSqliteStore.openAt(file) as SecAggStore, file };
    },
  ],
])('SecAggStore (%s)', (_name, make) => {
  it('runs a whole round and keeps only the round record afterwards', async () => {
    const { store, file } = make();
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
