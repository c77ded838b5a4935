/**
 * SQLite SecAggStore (better-sqlite3) in tables of its own, on the server's database or a file of its own.
 * PRAGMA secure_delete=ON: the pages freed when a round closes (keys, sealed shares, the masked sum,
 * revealed shares) are overwritten with zeros instead of lingering in the file. Every method is one
 * transaction, so a SIGKILL leaves either the state before a message or after it.
 */
import Database from 'better-sqlite3';
import type { PeerKeys, RevealedShare, SealedShare } from '../../shared/secagg/messages.ts';
import { decodeShareY, encodeShareY, SHARE_BYTES } from '../../shared/secagg/shamir.ts';
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
`;

const KIND_CODE = { 'self-seed': 1, 'mask-key': 2 } as const;
const SHARE_ENTRY = 5 + SHARE_BYTES;

function toJson(r: SecAggRoundRecord): string {
  return JSON.stringify({
    ...r,
    params: { ...r.params, seed: Buffer.from(r.params.seed).toString('base64') },
  });
}

function fromJson(s: string): SecAggRoundRecord {
  const r = JSON.parse(s) as SecAggRoundRecord & { params: { seed: string } };
  return { ...r, params: { ...r.params, seed: new Uint8Array(Buffer.from(r.params.seed, 'base64')) } };
}

function packShares(shares: RevealedShare[]): Buffer {
  const b = Buffer.alloc(shares.length * SHARE_ENTRY);
  shares.forEach((s, i) => {
    b.writeUInt32LE(s.of, i * SHARE_ENTRY);
    b.writeUInt8(KIND_CODE[s.kind], i * SHARE_ENTRY + 4);
    b.set(encodeShareY(s.y), i * SHARE_ENTRY + 5);
  });
  return b;
}

function unpackShares(b: Uint8Array): RevealedShare[] {
  const out: RevealedShare[] = [];
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  for (let o = 0; o < b.length; o += SHARE_ENTRY) {
    const y = decodeShareY(b.subarray(o + 5, o + SHARE_ENTRY));
    if (!y) throw new Error('stored share is corrupt');
    out.push({ of: v.getUint32(o, true), kind: v.getUint8(o + 4) === 1 ? 'self-seed' : 'mask-key', y });
  }
  return out;
}

const bytes = (b: Buffer): Uint8Array => new Uint8Array(b.buffer, b.byteOffset, b.byteLength);

/** A SecAggStore in SQLite tables secagg_*. */
export class SqliteSecAggStore implements SecAggStore {
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
      for (const t of ['secagg_adverts', 'secagg_shares', 'secagg_masked', 'secagg_unmasks'])
        this.db.prepare(`DELETE FROM ${t} WHERE round = ?`).run(r.round);
      this.save(r);
    })();
  }
}
