/**
 * SQLite implementation of the TokenStore, in its own file beside the aggregation database. The file
 * holds private keys, so it is created mode 0600 (SQLite gives its -wal and -shm files the same mode),
 * and secure_delete overwrites pruned rows instead of leaving them in free pages.
 */
import { chmodSync, closeSync, mkdirSync, openSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { SpendResult, StoredTokenKey, TokenStore } from './store.ts';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS token_meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS token_keys (
  key_id TEXT PRIMARY KEY, public_key BLOB NOT NULL, private_key BLOB NOT NULL,
  not_before INTEGER NOT NULL UNIQUE, issue_until INTEGER NOT NULL, redeem_until INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS token_spent (
  key_id TEXT NOT NULL, nonce TEXT NOT NULL, binding TEXT, keep_until INTEGER NOT NULL,
  PRIMARY KEY (key_id, nonce)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS token_quota (
  bucket TEXT NOT NULL, day INTEGER NOT NULL, count INTEGER NOT NULL, PRIMARY KEY (bucket, day)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS token_challenges (id TEXT PRIMARY KEY, keep_until INTEGER NOT NULL) WITHOUT ROWID;
`;

interface KeyRow {
  key_id: string;
  public_key: Buffer;
  private_key: Buffer;
  not_before: number;
  issue_until: number;
  redeem_until: number;
}

/** Options: the file (':memory:' for tests) and the fsync policy of the main store. */
export interface SqliteTokenStoreOptions {
  path: string;
  durability?: 'full' | 'normal';
}

/** TokenStore over better-sqlite3. */
export class SqliteTokenStore implements TokenStore {
  private readonly db: Database.Database;

  constructor(opts: SqliteTokenStoreOptions) {
    if (opts.path !== ':memory:') {
      mkdirSync(dirname(opts.path), { recursive: true });
      // Create it 0600 before SQLite opens it, and tighten a file an older version left wider.
      closeSync(openSync(opts.path, 'a', 0o600));
      chmodSync(opts.path, 0o600);
    }
    this.db = new Database(opts.path);
    this.db.pragma('journal_mode = WAL');
    // A spent nonce must survive what the update it paid for survives.
    this.db.pragma(`synchronous = ${opts.durability === 'normal' ? 'NORMAL' : 'FULL'}`);
    this.db.pragma('secure_delete = ON');
    this.db.exec(SCHEMA);
  }

  async keys(): Promise<StoredTokenKey[]> {
    const rows = this.db.prepare('SELECT * FROM token_keys ORDER BY not_before').all() as KeyRow[];
    return rows.map((r) => ({
      keyId: r.key_id,
      publicKey: new Uint8Array(r.public_key),
      privateKey: new Uint8Array(r.private_key),
      notBefore: r.not_before,
      issueUntil: r.issue_until,
      redeemUntil: r.redeem_until,
    }));
  }

  async addKey(k: StoredTokenKey): Promise<void> {
    this.db
      .prepare(
        `INSERT OR IGNORE INTO token_keys (key_id, public_key, private_key, not_before, issue_until, redeem_until)
         VALUES (?, ?, ?, ?, ?, ?)`,
      )
      .run(k.keyId, k.publicKey, k.privateKey, k.notBefore, k.issueUntil, k.redeemUntil);
  }

  async secret(): Promise<Uint8Array> {
    return this.db.transaction(() => {
      const row = this.db.prepare(`SELECT value FROM token_meta WHERE key = 'secret'`).get() as
        { value: Buffer } | undefined;
      if (row) return new Uint8Array(row.value);
      const s = randomBytes(32);
      this.db.prepare(`INSERT INTO token_meta (key, value) VALUES ('secret', ?)`).run(s);
      return new Uint8Array(s);
    })();
  }

  async takeQuota(bucket: string, day: number, n: number, max: number): Promise<boolean> {
    return this.db.transaction(() => {
      const row = this.db
        .prepare('SELECT count FROM token_quota WHERE bucket = ? AND day = ?')
        .get(bucket, day) as { count: number } | undefined;
      const used = row?.count ?? 0;
      if (used + n > max) return false;
      this.db
        .prepare(
          `INSERT INTO token_quota (bucket, day, count) VALUES (?, ?, ?)
           ON CONFLICT (bucket, day) DO UPDATE SET count = count + excluded.count`,
        )
        .run(bucket, day, n);
      return true;
    })();
  }

  async spend(keyId: string, nonce: string, binding: string | null, keepUntil: number): Promise<SpendResult> {
    return this.db.transaction((): SpendResult => {
      const ins = this.db
        .prepare('INSERT OR IGNORE INTO token_spent (key_id, nonce, binding, keep_until) VALUES (?, ?, ?, ?)')
        .run(keyId, nonce, binding, keepUntil);
      if (ins.changes === 1) return 'spent';
      const row = this.db
        .prepare('SELECT binding FROM token_spent WHERE key_id = ? AND nonce = ?')
        .get(keyId, nonce) as { binding: string | null };
      return binding !== null && row.binding === binding ? 'replay' : 'already-spent';
    })();
  }

  async useChallenge(id: string, keepUntil: number): Promise<boolean> {
    const r = this.db
      .prepare('INSERT OR IGNORE INTO token_challenges (id, keep_until) VALUES (?, ?)')
      .run(id, keepUntil);
    return r.changes === 1;
  }

  async prune(nowMs: number, today: number): Promise<void> {
    this.db.transaction(() => {
      const gone = this.db.prepare('SELECT key_id FROM token_keys WHERE redeem_until <= ?').all(nowMs) as {
        key_id: string;
      }[];
      for (const { key_id } of gone) {
        this.db.prepare('DELETE FROM token_spent WHERE key_id = ?').run(key_id);
        this.db.prepare('DELETE FROM token_keys WHERE key_id = ?').run(key_id);
      }
      this.db.prepare('DELETE FROM token_spent WHERE keep_until <= ?').run(nowMs);
      this.db.prepare('DELETE FROM token_quota WHERE day < ?').run(today);
      this.db.prepare('DELETE FROM token_challenges WHERE keep_until <= ?').run(nowMs);
    })();
  }

  /** Row counts per table (tests and the benchmark check what is kept). */
  counts(): Record<'keys' | 'spent' | 'quota' | 'challenges', number> {
    const n = (t: string): number =>
      (this.db.prepare(`SELECT count(*) AS n FROM ${t}`).get() as { n: number }).n;
    return {
      keys: n('token_keys'),
      spent: n('token_spent'),
      quota: n('token_quota'),
      challenges: n('token_challenges'),
    };
  }

  /** Every stored value of the redemption and issuance tables, as text (the unlinkability test reads it). */
  dump(): { spent: unknown[]; quota: unknown[]; challenges: unknown[] } {
    const all = (t: string): unknown[] => this.db.prepare(`SELECT * FROM ${t}`).all();
    return { spent: all('token_spent'), quota: all('token_quota'), challenges: all('token_challenges') };
  }

  async close(): Promise<void> {
    this.db.close();
  }
}
