/**
 * PostgreSQL SecAggStore, shared by several server processes on one database (tables secagg_*, migration 3
 * of server/store/pg-migrations.ts). Every method is one transaction, so a SIGKILL of a process leaves
 * either the state before a message or after it. `exclusive` holds a session advisory lock: PostgreSQL
 * drops it with the connection of a killed process, so a crash never leaves the round locked.
 * At close the round's keys, shares, masked sum, revealed shares and owners are deleted and the tables
 * VACUUMed (as the main store does with partial sums); PostgreSQL has no secure_delete, so the freed
 * space is reused rather than zeroed.
 */
import pg from 'pg';
import type { PeerKeys, RevealedShare, SealedShare } from '../../shared/secagg/messages.ts';
import { migrate } from '../store/pg-migrations.ts';
import { inTransaction } from '../store/pg-tx.ts';
import { bytes, fromJson, packShares, toJson, unpackShares } from './store-codec.ts';
import type { SecAggRoundRecord, SecAggStore } from './store.ts';

/** Advisory lock key of secure-round state changes ("fedrSAGg" as a 63-bit constant). */
export const SECAGG_LOCK_KEY = 0x6665_6472_5341_4767n.toString();

const TABLES = ['secagg_adverts', 'secagg_shares', 'secagg_masked', 'secagg_unmasks', 'secagg_slots'];
const SAVE =
  'INSERT INTO secagg_rounds (round, record) VALUES ($1, $2) ON CONFLICT (round) DO UPDATE SET record = excluded.record';

const buf = (b: Uint8Array): Buffer => Buffer.from(b.buffer, b.byteOffset, b.byteLength);

type Q = Pick<pg.PoolClient, 'query'>;

/** A SecAggStore in PostgreSQL tables secagg_*. */
export class PostgresSecAggStore implements SecAggStore {
  readonly shared = true;

  private constructor(private readonly pool: pg.Pool) {}

  /** Connects and applies pending migrations (safe from several processes at once). */
  static async open(url: string, maxConnections = 6): Promise<PostgresSecAggStore> {
    // Two at least: an exclusive section holds one connection for its lock, its queries need another.
    const pool = new pg.Pool({ connectionString: url, max: Math.max(2, maxConnections) });
    pool.on('error', () => {});
    try {
      await migrate(pool);
    } catch (err) {
      await pool.end();
      throw err;
    }
    return new PostgresSecAggStore(pool);
  }

  async close(): Promise<void> {
    await this.pool.end();
  }

  private tx<T>(fn: (c: Q) => Promise<T>): Promise<T> {
    return inTransaction(this.pool, fn);
  }

  async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const c = await this.pool.connect();
    let unlocked = false;
    try {
      await c.query('SELECT pg_advisory_lock($1)', [SECAGG_LOCK_KEY]);
      try {
        return await fn();
      } finally {
        await c.query('SELECT pg_advisory_unlock($1)', [SECAGG_LOCK_KEY]).then(
          () => (unlocked = true),
          () => {},
        );
      }
    } finally {
      // A connection whose unlock failed is closed, which releases the lock.
      c.release(!unlocked);
    }
  }

  async joinSlot(
    round: number,
    client: string,
    n: number,
    contribution: string | null = null,
  ): Promise<number | null | 'spent'> {
    return this.tx(async (c) => {
      // The round row serializes joins, so two processes never hand out the same slot.
      await c.query('SELECT 1 FROM secagg_rounds WHERE round = $1 FOR UPDATE', [round]);
      if (contribution !== null) {
        const paid = await c.query('SELECT client FROM secagg_slots WHERE round = $1 AND contribution = $2', [
          round,
          contribution,
        ]);
        if (paid.rows[0] && paid.rows[0].client !== client) return 'spent';
      }
      const mine = await c.query('SELECT slot FROM secagg_slots WHERE round = $1 AND client = $2', [
        round,
        client,
      ]);
      if (mine.rows[0]) return mine.rows[0].slot as number;
      const taken = Number(
        (await c.query('SELECT count(*) AS n FROM secagg_slots WHERE round = $1', [round])).rows[0].n,
      );
      if (taken >= n) return null;
      await c.query('INSERT INTO secagg_slots VALUES ($1, $2, $3, $4)', [
        round,
        taken + 1,
        client,
        contribution,
      ]);
      return taken + 1;
    });
  }

  async slotOwner(round: number, slot: number): Promise<string | null> {
    const r = await this.pool.query('SELECT client FROM secagg_slots WHERE round = $1 AND slot = $2', [
      round,
      slot,
    ]);
    return (r.rows[0]?.client as string | undefined) ?? null;
  }

  async saveRound(r: SecAggRoundRecord): Promise<void> {
    await this.pool.query(SAVE, [r.round, toJson(r)]);
  }
  async loadRound(round: number): Promise<SecAggRoundRecord | null> {
    const r = await this.pool.query('SELECT record FROM secagg_rounds WHERE round = $1', [round]);
    return r.rows[0] ? fromJson(r.rows[0].record as string) : null;
  }
  async latestRound(): Promise<SecAggRoundRecord | null> {
    const r = await this.pool.query('SELECT record FROM secagg_rounds ORDER BY round DESC LIMIT 1');
    return r.rows[0] ? fromJson(r.rows[0].record as string) : null;
  }
  async addAdvert(r: SecAggRoundRecord, k: PeerKeys): Promise<void> {
    await this.tx(async (c) => {
      await c.query('INSERT INTO secagg_adverts VALUES ($1, $2, $3, $4)', [
        r.round,
        k.slot,
        buf(k.cPk),
        buf(k.sPk),
      ]);
      await c.query(SAVE, [r.round, toJson(r)]);
    });
  }
  async adverts(round: number): Promise<PeerKeys[]> {
    const r = await this.pool.query(
      'SELECT slot, c_pk, s_pk FROM secagg_adverts WHERE round = $1 ORDER BY slot',
      [round],
    );
    return (r.rows as { slot: number; c_pk: Buffer; s_pk: Buffer }[]).map((x) => ({
      slot: x.slot,
      cPk: bytes(x.c_pk),
      sPk: bytes(x.s_pk),
    }));
  }
  async addShares(r: SecAggRoundRecord, from: number, shares: SealedShare[]): Promise<void> {
    await this.tx(async (c) => {
      if (shares.length)
        await c.query(
          'INSERT INTO secagg_shares SELECT $1::int, $2::int, * FROM unnest($3::int[], $4::bytea[])',
          [r.round, from, shares.map((s) => s.peer), shares.map((s) => buf(s.sealed))],
        );
      await c.query(SAVE, [r.round, toJson(r)]);
    });
  }
  async sharesTo(round: number, to: number): Promise<SealedShare[]> {
    const r = await this.pool.query(
      'SELECT sender, sealed FROM secagg_shares WHERE round = $1 AND recipient = $2 ORDER BY sender',
      [round, to],
    );
    return (r.rows as { sender: number; sealed: Buffer }[]).map((x) => ({
      peer: x.sender,
      sealed: bytes(x.sealed),
    }));
  }
  async addMaskedInput(r: SecAggRoundRecord, sum: Uint8Array): Promise<void> {
    await this.tx(async (c) => {
      await c.query(
        'INSERT INTO secagg_masked VALUES ($1, $2) ON CONFLICT (round) DO UPDATE SET sum = excluded.sum',
        [r.round, buf(sum)],
      );
      await c.query(SAVE, [r.round, toJson(r)]);
    });
  }
  async maskedSum(round: number): Promise<Uint8Array | null> {
    const r = await this.pool.query('SELECT sum FROM secagg_masked WHERE round = $1', [round]);
    return r.rows[0] ? bytes(r.rows[0].sum as Buffer) : null;
  }
  async addUnmask(r: SecAggRoundRecord, from: number, shares: RevealedShare[]): Promise<void> {
    await this.tx(async (c) => {
      await c.query('INSERT INTO secagg_unmasks VALUES ($1, $2, $3)', [r.round, from, packShares(shares)]);
      await c.query(SAVE, [r.round, toJson(r)]);
    });
  }
  async unmasks(round: number): Promise<{ from: number; shares: RevealedShare[] }[]> {
    const r = await this.pool.query(
      'SELECT sender, shares FROM secagg_unmasks WHERE round = $1 ORDER BY sender',
      [round],
    );
    return (r.rows as { sender: number; shares: Buffer }[]).map((x) => ({
      from: x.sender,
      shares: unpackShares(bytes(x.shares)),
    }));
  }
  async closeRound(r: SecAggRoundRecord): Promise<void> {
    await this.tx(async (c) => {
      for (const t of TABLES) await c.query(`DELETE FROM ${t} WHERE round <= $1`, [r.round]);
      await c.query(SAVE, [r.round, toJson(r)]);
    });
    // Dead row versions (every rewrite of the masked sum, the deleted keys and shares) are reclaimed now
    // rather than at autovacuum's leisure. Best effort: the round has closed either way.
    for (const t of TABLES) await this.pool.query(`VACUUM ${t}`).catch(() => {});
  }
}
