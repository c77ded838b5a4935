/**
 * PostgreSQL implementation of the TokenStore, in the database of the PostgreSQL aggregation store, so
 * that every server process spends a nonce, takes a quota or uses a challenge against the same rows: a
 * token is accepted once over all processes, not once per process. Each method is one statement (or one
 * transaction) whose uniqueness constraint decides a race between processes.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { migrate } from '../store/pg-migrations.ts';
import { inTransaction } from '../store/pg-tx.ts';
import type { SpendResult, StoredTokenKey, TokenStore } from './store.ts';

interface KeyRow {
  key_id: string;
  public_key: Buffer;
  private_key: Buffer;
  not_before: string;
  issue_until: string;
  redeem_until: string;
}

/** Options: the store's URL (postgres://USER@HOST:PORT/DB) and a pool size (default 4). */
export interface PostgresTokenStoreOptions {
  url: string;
  maxConnections?: number;
}

/** TokenStore over node-postgres. */
export class PostgresTokenStore implements TokenStore {
  private constructor(private readonly pool: pg.Pool) {}

  /** Connects and applies pending migrations (the token tables are migration 2 of pg-migrations.ts). */
  static async open(opts: PostgresTokenStoreOptions): Promise<PostgresTokenStore> {
    const pool = new pg.Pool({ connectionString: opts.url, max: opts.maxConnections ?? 4 });
    // An idle client losing its connection (server restart) must not crash the process.
    pool.on('error', () => {});
    try {
      await migrate(pool);
      return new PostgresTokenStore(pool);
    } catch (err) {
      await pool.end();
      throw err;
    }
  }

  async keys(): Promise<StoredTokenKey[]> {
    const rows = (await this.pool.query('SELECT * FROM token_keys ORDER BY not_before')).rows as KeyRow[];
    return rows.map((r) => ({
      keyId: r.key_id,
      publicKey: new Uint8Array(r.public_key),
      privateKey: new Uint8Array(r.private_key),
      notBefore: Number(r.not_before),
      issueUntil: Number(r.issue_until),
      redeemUntil: Number(r.redeem_until),
    }));
  }

  async addKey(k: StoredTokenKey): Promise<void> {
    // Two processes rotating at once: the unique not_before keeps the first writer's key.
    await this.pool.query(
      `INSERT INTO token_keys (key_id, public_key, private_key, not_before, issue_until, redeem_until)
       VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING`,
      [
        k.keyId,
        Buffer.from(k.publicKey),
        Buffer.from(k.privateKey),
        k.notBefore,
        k.issueUntil,
        k.redeemUntil,
      ],
    );
  }

  async secret(): Promise<Uint8Array> {
    await this.pool.query(
      `INSERT INTO token_meta (key, value) VALUES ('secret', $1) ON CONFLICT (key) DO NOTHING`,
      [randomBytes(32)],
    );
    const row = (await this.pool.query(`SELECT value FROM token_meta WHERE key = 'secret'`)).rows[0] as {
      value: Buffer;
    };
    return new Uint8Array(row.value);
  }

  async takeQuota(bucket: string, day: number, n: number, max: number): Promise<boolean> {
    if (n > max) return false;
    // One statement: the row lock of the upsert serializes processes taking the same bucket.
    const r = await this.pool.query(
      `INSERT INTO token_quota (bucket, day, count) VALUES ($1, $2, $3)
       ON CONFLICT (bucket, day) DO UPDATE SET count = token_quota.count + excluded.count
       WHERE token_quota.count + excluded.count <= $4`,
      [bucket, day, n, max],
    );
    return r.rowCount === 1;
  }

  async spend(keyId: string, nonce: string, binding: string | null, keepUntil: number): Promise<SpendResult> {
    const ins = await this.pool.query(
      `INSERT INTO token_spent (key_id, nonce, binding, keep_until) VALUES ($1, $2, $3, $4)
       ON CONFLICT (key_id, nonce) DO NOTHING`,
      [keyId, nonce, binding, keepUntil],
    );
    if (ins.rowCount === 1) return 'spent';
    const row = (
      await this.pool.query('SELECT binding FROM token_spent WHERE key_id = $1 AND nonce = $2', [
        keyId,
        nonce,
      ])
    ).rows[0] as { binding: string | null } | undefined;
    return binding !== null && row?.binding === binding ? 'replay' : 'already-spent';
  }

  async useChallenge(id: string, keepUntil: number): Promise<boolean> {
    const r = await this.pool.query(
      'INSERT INTO token_challenges (id, keep_until) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING',
      [id, keepUntil],
    );
    return r.rowCount === 1;
  }

  async prune(nowMs: number, today: number): Promise<void> {
    await inTransaction(this.pool, async (c) => {
      await c.query(
        'DELETE FROM token_spent WHERE key_id IN (SELECT key_id FROM token_keys WHERE redeem_until <= $1)',
        [nowMs],
      );
      await c.query('DELETE FROM token_keys WHERE redeem_until <= $1', [nowMs]);
      await c.query('DELETE FROM token_spent WHERE keep_until <= $1', [nowMs]);
      await c.query('DELETE FROM token_quota WHERE day < $1', [today]);
      await c.query('DELETE FROM token_challenges WHERE keep_until <= $1', [nowMs]);
    });
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
