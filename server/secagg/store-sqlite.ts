/**
 * SQLite SecAggStore (better-sqlite3) in tables of its own, on the server's database or a file of its own.
 * PRAGMA secure_delete=ON: the pages freed when a round closes (keys, sealed shares, the masked sum,
 * revealed shares) are overwritten with zeros instead of lingering in the file. Every method is one
 * transaction, so a SIGKILL leaves either the state before a message or after it.
 */
import Database from 'better-sqlite3';
import type { PeerKeys, RevealedShare, SealedShare } from '../../shared/secagg/messages.ts';
import { bytes, fromJson, packShares, toJson, unpackShares } from './store-codec.ts';
import type { SecAggRoundRecord, SecAggStore } from './store.ts';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS secagg_rounds (round INTEGER PRIMARY KEY, record TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS secagg_adverts (
  round INTEGER NOT NULL, slot INTEGER NOT NULL, c_pk BLOB NOT NULL, s_pk BLOB NOT NULL,
  PRIMARY KEY (round, slot));
CREATE TABLE IF NOT EXISTS secagg_shares (
  round INTEGER NOT NULL, sender INTEGER NOT NULL, recipient INTEGER NOT NULL, sealed BLOB NOT NULL,
  PRIMARY KEY (round, recipient, sender));
CREATE TABLE IF NOT EXISTS secagg_masked (round INTEGER PRIMARY KEY, sum BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS secagg_unmasks (
  round INTEGER NOT NULL, sender INTEGER NOT NULL, shares BLOB NOT NULL, PRIMARY KEY (round, sender));
CREATE TABLE IF NOT EXISTS secagg_slots (
  round INTEGER NOT NULL, slot INTEGER NOT NULL, client TEXT NOT NULL, contribution TEXT,
  PRIMARY KEY (round, slot), UNIQUE (round, client), UNIQUE (round, contribution));
`;

/** A SecAggStore in SQLite tables secagg_*. */
export class SqliteSecAggStore implements SecAggStore {
  readonly shared = false;
  private readonly save;

  /** Uses `db` (shared with the main store, or opened from a path); turns secure_delete on for it. */
  constructor(private readonly db: Database.Database) {
    db.pragma('secure_delete = ON');
    db.exec(SCHEMA);
    const stmt = db.prepare(
      'INSERT INTO secagg_rounds (round, record) VALUES (?, ?) ON CONFLICT (round) DO UPDATE SET record = excluded.record',
    );
    this.save = (r: SecAggRoundRecord): void => void stmt.run(r.round, toJson(r));
  }

  /** Opens (or creates) a database file with WAL and full sync. */
  static open(path: string): SqliteSecAggStore {
    const db = new Database(path);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    return new SqliteSecAggStore(db);
  }

  close(): void {
    this.db.close();
  }

  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    return fn();
  }
  async joinSlot(
    round: number,
    client: string,
    n: number,
    contribution: string | null = null,
  ): Promise<number | null | 'spent'> {
    return this.db.transaction((): number | null | 'spent' => {
      if (contribution !== null) {
        const paid = this.db
          .prepare('SELECT client FROM secagg_slots WHERE round = ? AND contribution = ?')
          .get(round, contribution) as { client: string } | undefined;
        if (paid && paid.client !== client) return 'spent';
      }
      const mine = this.db
        .prepare('SELECT slot FROM secagg_slots WHERE round = ? AND client = ?')
        .get(round, client) as { slot: number } | undefined;
      if (mine) return mine.slot;
      const { taken } = this.db
        .prepare('SELECT count(*) AS taken FROM secagg_slots WHERE round = ?')
        .get(round) as { taken: number };
      if (taken >= n) return null;
      this.db
        .prepare('INSERT INTO secagg_slots VALUES (?, ?, ?, ?)')
        .run(round, taken + 1, client, contribution);
      return taken + 1;
    })();
  }
  async slotOwner(round: number, slot: number): Promise<string | null> {
    const row = this.db
      .prepare('SELECT client FROM secagg_slots WHERE round = ? AND slot = ?')
      .get(round, slot) as { client: string } | undefined;
    return row?.client ?? null;
  }
  async saveRound(r: SecAggRoundRecord): Promise<void> {
    this.save(r);
  }
  async loadRound(round: number): Promise<SecAggRoundRecord | null> {
    const row = this.db.prepare('SELECT record FROM secagg_rounds WHERE round = ?').get(round) as
      { record: string } | undefined;
    return row ? fromJson(row.record) : null;
  }
  async latestRound(): Promise<SecAggRoundRecord | null> {
    const row = this.db.prepare('SELECT record FROM secagg_rounds ORDER BY round DESC LIMIT 1').get() as
      { record: string } | undefined;
    return row ? fromJson(row.record) : null;
  }
  async addAdvert(r: SecAggRoundRecord, k: PeerKeys): Promise<void> {
    this.db.transaction(() => {
      this.db.prepare('INSERT INTO secagg_adverts VALUES (?, ?, ?, ?)').run(r.round, k.slot, k.cPk, k.sPk);
      this.save(r);
    })();
  }
  async adverts(round: number): Promise<PeerKeys[]> {
    const rows = this.db
      .prepare('SELECT slot, c_pk, s_pk FROM secagg_adverts WHERE round = ? ORDER BY slot')
      .all(round) as { slot: number; c_pk: Buffer; s_pk: Buffer }[];
    return rows.map((x) => ({ slot: x.slot, cPk: bytes(x.c_pk), sPk: bytes(x.s_pk) }));
  }
  async addShares(r: SecAggRoundRecord, from: number, shares: SealedShare[]): Promise<void> {
    const ins = this.db.prepare('INSERT INTO secagg_shares VALUES (?, ?, ?, ?)');
    this.db.transaction(() => {
      for (const s of shares) ins.run(r.round, from, s.peer, s.sealed);
      this.save(r);
    })();
  }
  async sharesTo(round: number, to: number): Promise<SealedShare[]> {
    const rows = this.db
      .prepare('SELECT sender, sealed FROM secagg_shares WHERE round = ? AND recipient = ? ORDER BY sender')
      .all(round, to) as { sender: number; sealed: Buffer }[];
    return rows.map((x) => ({ peer: x.sender, sealed: bytes(x.sealed) }));
  }
  async addMaskedInput(r: SecAggRoundRecord, sum: Uint8Array): Promise<void> {
    this.db.transaction(() => {
      this.db
        .prepare(
          'INSERT INTO secagg_masked VALUES (?, ?) ON CONFLICT (round) DO UPDATE SET sum = excluded.sum',
        )
        .run(r.round, sum);
      this.save(r);
    })();
  }
  async maskedSum(round: number): Promise<Uint8Array | null> {
    const row = this.db.prepare('SELECT sum FROM secagg_masked WHERE round = ?').get(round) as
      { sum: Buffer } | undefined;
    return row ? bytes(row.sum) : null;
  }
  async addUnmask(r: SecAggRoundRecord, from: number, shares: RevealedShare[]): Promise<void> {
    this.db.transaction(() => {
      this.db.prepare('INSERT INTO secagg_unmasks VALUES (?, ?, ?)').run(r.round, from, packShares(shares));
      this.save(r);
    })();
  }
  async unmasks(round: number): Promise<{ from: number; shares: RevealedShare[] }[]> {
    const rows = this.db
      .prepare('SELECT sender, shares FROM secagg_unmasks WHERE round = ? ORDER BY sender')
      .all(round) as { sender: number; shares: Buffer }[];
    return rows.map((x) => ({ from: x.sender, shares: unpackShares(bytes(x.shares)) }));
  }
  async closeRound(r: SecAggRoundRecord): Promise<void> {
    this.db.transaction(() => {
      for (const t of ['secagg_adverts', 'secagg_shares', 'secagg_masked', 'secagg_unmasks', 'secagg_slots'])
        this.db.prepare(`DELETE FROM ${t} WHERE round = ?`).run(r.round);
      this.save(r);
    })();
  }
}
