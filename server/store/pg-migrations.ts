/**
 * Versioned schema of the PostgreSQL store. Each migration runs once, in its own transaction, recorded in
 * schema_migrations; starts are serialized by a session advisory lock, so several processes starting at once
 * apply each migration exactly once. Migrations are append-only: never edit one that has shipped.
 */
import type pg from 'pg';
import { FedrankError } from '../../shared/errors.ts';

/** One schema step. */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/** Advisory lock key held while migrating ("fedrank" as a 63-bit constant). */
export const MIGRATION_LOCK_KEY = 0x6665_6472_616e_6bn;

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'rounds, partial sums, updates, model, evals',
    // Large bytea columns are stored uncompressed (STORAGE EXTERNAL): float sums do not compress, and
    // pglz trying at every commit costs CPU for nothing.
    sql: `
CREATE TABLE model (
  id INTEGER PRIMARY KEY CHECK (id = 1), model_id TEXT NOT NULL, version INTEGER NOT NULL,
  param_count INTEGER NOT NULL, params BYTEA NOT NULL, adam_m BYTEA, adam_v BYTEA);
ALTER TABLE model ALTER COLUMN params SET STORAGE EXTERNAL, ALTER COLUMN adam_m SET STORAGE EXTERNAL,
  ALTER COLUMN adam_v SET STORAGE EXTERNAL;
CREATE TABLE rounds (
  id INTEGER PRIMARY KEY, base_version INTEGER NOT NULL, opened_at TEXT NOT NULL, closed_at TEXT,
  state TEXT NOT NULL CHECK (state IN ('open', 'closed')),
  accepted INTEGER NOT NULL DEFAULT 0,
  participants INTEGER NOT NULL DEFAULT 0, weight_sum DOUBLE PRECISION NOT NULL DEFAULT 0,
  noise_std DOUBLE PRECISION, sigma DOUBLE PRECISION, q DOUBLE PRECISION,
  epsilon_after DOUBLE PRECISION, result_version INTEGER);
CREATE UNIQUE INDEX one_open_round ON rounds (state) WHERE state = 'open';
CREATE TABLE round_partials (
  round_id INTEGER NOT NULL REFERENCES rounds (id), writer TEXT NOT NULL, sum BYTEA NOT NULL,
  weight DOUBLE PRECISION NOT NULL, count INTEGER NOT NULL, sq_weight_sum DOUBLE PRECISION NOT NULL,
  max_weight DOUBLE PRECISION NOT NULL, PRIMARY KEY (round_id, writer));
ALTER TABLE round_partials ALTER COLUMN sum SET STORAGE EXTERNAL;
CREATE TABLE updates (
  idem_key TEXT PRIMARY KEY, client_id TEXT NOT NULL, round_id INTEGER NOT NULL REFERENCES rounds (id),
  payload_hash TEXT NOT NULL, base_version INTEGER NOT NULL, weight DOUBLE PRECISION NOT NULL,
  model_version INTEGER NOT NULL, received_at TEXT NOT NULL, UNIQUE (round_id, client_id));
CREATE TABLE evals (
  model_version INTEGER PRIMARY KEY, reports INTEGER NOT NULL, examples BIGINT NOT NULL,
  hits DOUBLE PRECISION NOT NULL, ndcg DOUBLE PRECISION NOT NULL);
`,
  },
  {
    version: 2,
    name: 'contribution tokens (server/tokens/postgres.ts)',
    // Times are epoch milliseconds (BIGINT); nothing here names a shopper (see server/tokens/store.ts).
    sql: `
CREATE TABLE token_meta (key TEXT PRIMARY KEY, value BYTEA NOT NULL);
CREATE TABLE token_keys (
  key_id TEXT PRIMARY KEY, public_key BYTEA NOT NULL, private_key BYTEA NOT NULL,
  not_before BIGINT NOT NULL UNIQUE, issue_until BIGINT NOT NULL, redeem_until BIGINT NOT NULL);
CREATE TABLE token_spent (
  key_id TEXT NOT NULL, nonce TEXT NOT NULL, binding TEXT, keep_until BIGINT NOT NULL,
  PRIMARY KEY (key_id, nonce));
CREATE TABLE token_quota (
  bucket TEXT NOT NULL, day INTEGER NOT NULL, count INTEGER NOT NULL, PRIMARY KEY (bucket, day));
CREATE TABLE token_challenges (id TEXT PRIMARY KEY, keep_until BIGINT NOT NULL);
`,
  },
  {
    version: 3,
    name: 'secure aggregation rounds (server/secagg/store-postgres.ts)',
    // Keys, sealed shares, the masked sum, revealed shares and slot owners live only while their round is
    // open: closeRound deletes them. The masked sum is rewritten per input and does not compress.
    sql: `
CREATE TABLE secagg_rounds (round INTEGER PRIMARY KEY, record TEXT NOT NULL);
CREATE TABLE secagg_adverts (
  round INTEGER NOT NULL, slot INTEGER NOT NULL, c_pk BYTEA NOT NULL, s_pk BYTEA NOT NULL,
  PRIMARY KEY (round, slot));
CREATE TABLE secagg_shares (
  round INTEGER NOT NULL, sender INTEGER NOT NULL, recipient INTEGER NOT NULL, sealed BYTEA NOT NULL,
  PRIMARY KEY (round, recipient, sender));
CREATE TABLE secagg_masked (round INTEGER PRIMARY KEY, sum BYTEA NOT NULL);
ALTER TABLE secagg_masked ALTER COLUMN sum SET STORAGE EXTERNAL;
CREATE TABLE secagg_unmasks (
  round INTEGER NOT NULL, sender INTEGER NOT NULL, shares BYTEA NOT NULL, PRIMARY KEY (round, sender));
CREATE TABLE secagg_slots (
  round INTEGER NOT NULL, slot INTEGER NOT NULL, client TEXT NOT NULL, contribution TEXT,
  PRIMARY KEY (round, slot), UNIQUE (round, client), UNIQUE (round, contribution));
`,
  },
  {
    version: 4,
    name: 'one-round-trip group commit (fedrank_commit_partial)',
    // A batch's commit as one statement (postgres.ts commitPartial): the updates, this writer's partial
    // sum, then the round's count last, so its row lock is held only from there to COMMIT. A closed or
    // full round raises FR001 and the statement's implicit transaction writes nothing.
    sql: `
CREATE FUNCTION fedrank_commit_partial(
  p_round INTEGER, p_writer TEXT, p_capacity INTEGER,
  p_keys TEXT[], p_clients TEXT[], p_rounds INTEGER[], p_hashes TEXT[], p_bases INTEGER[],
  p_weights DOUBLE PRECISION[], p_versions INTEGER[], p_received TEXT[],
  p_sum BYTEA, p_weight DOUBLE PRECISION, p_count INTEGER, p_sq_weight_sum DOUBLE PRECISION,
  p_max_weight DOUBLE PRECISION)
RETURNS INTEGER LANGUAGE plpgsql AS $$
DECLARE
  n INTEGER := cardinality(p_keys);
  total INTEGER;
BEGIN
  INSERT INTO updates (idem_key, client_id, round_id, payload_hash, base_version, weight, model_version,
      received_at)
    SELECT * FROM unnest(p_keys, p_clients, p_rounds, p_hashes, p_bases, p_weights, p_versions, p_received);
  INSERT INTO round_partials (round_id, writer, sum, weight, count, sq_weight_sum, max_weight)
    VALUES (p_round, p_writer, p_sum, p_weight, p_count, p_sq_weight_sum, p_max_weight)
    ON CONFLICT (round_id, writer) DO UPDATE SET sum = excluded.sum, weight = excluded.weight,
      count = excluded.count, sq_weight_sum = excluded.sq_weight_sum, max_weight = excluded.max_weight;
  UPDATE rounds SET accepted = accepted + n
    WHERE id = p_round AND state = 'open' AND accepted + n <= p_capacity
    RETURNING accepted INTO total;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'round % is closed or full', p_round USING ERRCODE = 'FR001';
  END IF;
  RETURN total;
END $$;
`,
  },
];

/** Applies the missing migrations; returns the versions it applied. Safe to call from many processes at once. */
export async function migrate(
  pool: pg.Pool,
  migrations: readonly Migration[] = MIGRATIONS,
): Promise<number[]> {
  const client = await pool.connect();
  const applied: number[] = [];
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY.toString()]);
    await client.query(
      `CREATE TABLE IF NOT EXISTS schema_migrations (
         version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())`,
    );
    const done = new Set(
      (await client.query<{ version: number }>('SELECT version FROM schema_migrations')).rows.map(
        (r) => r.version,
      ),
    );
    const known = Math.max(0, ...migrations.map((m) => m.version));
    const newest = Math.max(0, ...done);
    if (newest > known)
      throw new FedrankError(
        'STORE_CORRUPT',
        `database schema version ${newest} is newer than this server knows (${known}); upgrade fedrank`,
      );
    for (const m of migrations) {
      if (done.has(m.version)) continue;
      await client.query('BEGIN');
      try {
        await client.query(m.sql);
        await client.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [
          m.version,
          m.name,
        ]);
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK');
        throw err;
      }
      applied.push(m.version);
    }
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY.toString()]).catch(() => {});
    client.release();
  }
  return applied;
}
