/**
 * PostgreSQL implementation of the Store (node-postgres pool), shared by several server processes.
 *
 * Multi-process design: every process keeps a partial sum of the updates it accepted, persisted as its own
 * row (round_partials, keyed by round and a per-process writer id) in the same transaction as the update
 * rows: one statement per batch (fedrank_commit_partial, migration 4), so one round trip. Updates are
 * unique per idempotency key and per (round, client). The round row carries the global accepted count; a
 * commit increments it as its last statement (WHERE state = 'open'), so the row lock is held only from
 * there to COMMIT and processes never serialize on the multi-megabyte sum writes. A close
 * takes the round row FOR UPDATE, so exactly one process closes a round and no commit can slip in between
 * its merge of the partial sums and its commit; a commit that arrives after it finds the round closed and
 * rolls back (StoreConflict). Closes NOTIFY the other processes, which reload at once.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { FedrankError } from '../../shared/errors.ts';
import { migrate } from './pg-migrations.ts';
import { inTransaction } from './pg-tx.ts';
import { mergedPartials, ownPartial, scrubPartials } from './pg-partials.ts';
import { bytes, f32, sumBytes, toRound, toUpdate, type RoundRow, type UpdateRow } from './rows.ts';
import {
  StoreConflict,
  type CloseWrite,
  type EvalTotals,
  type RoundAccumulator,
  type RoundHead,
  type RoundRecord,
  type SharedRounds,
  type Store,
  type StoredModel,
  type StoredState,
  type UpdateRecord,
} from './types.ts';

const CHANNEL = 'fedrank_rounds';

/** SQLSTATE fedrank_commit_partial raises when the round is closed or would overfill (pg-migrations.ts). */
const ROUND_CLOSED_OR_FULL = 'FR001';

/** Unique violation, serialization failure, deadlock: another process won the race. */
function isRace(err: unknown): boolean {
  const code = (err as { code?: string }).code;
  return code === '23505' || code === '40001' || code === '40P01';
}

/** Options of the PostgreSQL store. */
export interface PostgresStoreOptions {
  /** postgres://USER@HOST:PORT/DB */
  url: string;
  /** Pool size (default 10). */
  maxConnections?: number;
}

/** Store on a PostgreSQL database, safe for several server processes at once. */
export class PostgresStore implements Store, SharedRounds {
  readonly shared: SharedRounds = this;
  /** This process's writer id: the key of its partial sums. */
  readonly writer = randomUUID();
  private listener: pg.PoolClient | null = null;
  private readonly listeners: (() => void)[] = [];

  private constructor(private readonly pool: pg.Pool) {}

  /** Connects, applies pending migrations and starts listening for other processes' round changes. */
  static async open(opts: PostgresStoreOptions): Promise<PostgresStore> {
    const pool = new pg.Pool({ connectionString: opts.url, max: opts.maxConnections ?? 10 });
    // An idle client losing its connection (server restart) must not crash the process.
    pool.on('error', () => {});
    try {
      await migrate(pool);
      const store = new PostgresStore(pool);
      await store.listen();
      return store;
    } catch (err) {
      await pool.end();
      throw err;
    }
  }

  private async listen(): Promise<void> {
    const c = await this.pool.connect();
    c.on('notification', (msg) => {
      // A process's own closes are applied in memory already.
      if (msg.payload?.startsWith(`${this.writer} `)) return;
      for (const l of this.listeners) l();
    });
    c.on('error', () => {});
    await c.query(`LISTEN ${CHANNEL}`);
    this.listener = c;
  }

  onChange(listener: () => void): void {
    this.listeners.push(listener);
  }

  /** Runs `fn` in one transaction on one connection. */
  private tx<T>(fn: (c: pg.PoolClient) => Promise<T>, mode = 'BEGIN'): Promise<T> {
    return inTransaction(this.pool, fn, mode);
  }

  async load(): Promise<StoredState | null> {
    return this.tx(async (c) => {
      const m = (await c.query('SELECT * FROM model WHERE id = 1')).rows[0] as
        | {
            model_id: string;
            version: number;
            param_count: number;
            params: Buffer;
            adam_m: Buffer | null;
            adam_v: Buffer | null;
          }
        | undefined;
      if (!m) return null;
      const n = m.param_count;
      const params = f32(m.params, n);
      const adam = m.adam_m && m.adam_v ? { m: f32(m.adam_m, n), v: f32(m.adam_v, n) } : null;
      const row = (await c.query(`SELECT * FROM rounds WHERE state = 'open'`)).rows[0] as
        RoundRow | undefined;
      let open: StoredState['open'] = null;
      if (row) {
        const acc = await mergedPartials(c, row.id, n);
        if (acc.count !== row.accepted)
          throw new FedrankError(
            'STORE_CORRUPT',
            `round ${row.id}: partial sums count ${acc.count}, round ${row.accepted}`,
          );
        open = { round: toRound(row), acc };
      }
      const closedPrivacy = (await c.query(`SELECT q, sigma FROM rounds WHERE state = 'closed' ORDER BY id`))
        .rows as { q: number; sigma: number }[];
      return { model: { modelId: m.model_id, version: m.version, params, adam }, open, closedPrivacy };
    }, 'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
  }

  async initialize(model: StoredModel, firstRound: RoundRecord | null, paramCount: number): Promise<void> {
    await this.tx(async (c) => {
      // Two processes initializing a fresh database at once: the primary key lets exactly one win.
      try {
        await this.saveModel(c, model, paramCount, true);
      } catch (err) {
        if (isRace(err)) throw new FedrankError('STORE_CORRUPT', 'store is already initialized');
        throw err;
      }
      if (firstRound) await this.insertRound(c, firstRound);
    });
  }

  async findUpdates(keys: string[]): Promise<Map<string, UpdateRecord>> {
    const out = new Map<string, UpdateRecord>();
    if (keys.length === 0) return out;
    const rows = (await this.pool.query('SELECT * FROM updates WHERE idem_key = ANY($1)', [keys]))
      .rows as UpdateRow[];
    for (const r of rows) out.set(r.idem_key, toUpdate(r));
    return out;
  }

  async clientsInRound(roundId: number, clientIds: string[]): Promise<Set<string>> {
    if (clientIds.length === 0) return new Set();
    const rows = (
      await this.pool.query('SELECT client_id FROM updates WHERE round_id = $1 AND client_id = ANY($2)', [
        roundId,
        clientIds,
      ])
    ).rows as { client_id: string }[];
    return new Set(rows.map((r) => r.client_id));
  }

  async commitUpdates(roundId: number, updates: UpdateRecord[], acc: RoundAccumulator): Promise<void> {
    await this.commitPartial(roundId, updates, acc, 2 ** 31 - 1);
  }

  async commitPartial(
    roundId: number,
    updates: UpdateRecord[],
    partial: RoundAccumulator,
    capacity: number,
  ): Promise<number> {
    // One statement, one round trip, its own transaction (migration 4): the updates, this writer's
    // partial sum, then the round's count; acknowledged only once it returns, i.e. after COMMIT.
    try {
      const r = await this.pool.query(
        `SELECT fedrank_commit_partial($1::int, $2::text, $3::int, $4::text[], $5::text[], $6::int[],
           $7::text[], $8::int[], $9::float8[], $10::int[], $11::text[], $12::bytea, $13::float8, $14::int,
           $15::float8, $16::float8) AS accepted`,
        [
          roundId,
          this.writer,
          capacity,
          updates.map((u) => u.idempotencyKey),
          updates.map((u) => u.clientId),
          updates.map((u) => u.roundId),
          updates.map((u) => u.payloadHash),
          updates.map((u) => u.baseVersion),
          updates.map((u) => u.weight),
          updates.map((u) => u.modelVersion),
          updates.map((u) => u.receivedAt),
          sumBytes(partial.sum),
          partial.weight,
          partial.count,
          partial.sqWeightSum,
          partial.maxWeight,
        ],
      );
      return (r.rows[0] as { accepted: number }).accepted;
    } catch (err) {
      if ((err as { code?: string }).code === ROUND_CLOSED_OR_FULL)
        throw new StoreConflict(`round ${roundId} is closed or full`);
      if (isRace(err)) throw new StoreConflict(`another process won: ${(err as Error).message}`);
      throw err;
    }
  }

  async head(): Promise<RoundHead> {
    const r = await this.pool.query(
      `SELECT m.version, r.id, r.accepted FROM model m LEFT JOIN rounds r ON r.state = 'open' WHERE m.id = 1`,
    );
    const row = r.rows[0] as { version: number; id: number | null; accepted: number | null } | undefined;
    if (!row) throw new FedrankError('STORE_CORRUPT', 'store is not initialized');
    return { version: row.version, round: row.id === null ? null : { id: row.id, accepted: row.accepted! } };
  }

  async partial(roundId: number, paramCount: number): Promise<RoundAccumulator> {
    return ownPartial(this.pool, roundId, this.writer, paramCount);
  }

  async closeMerged(roundId: number, plan: (merged: RoundAccumulator) => CloseWrite): Promise<boolean> {
    const won = await this.tx(async (c) => {
      const r = await c.query(`SELECT * FROM rounds WHERE id = $1 FOR UPDATE`, [roundId]);
      const row = r.rows[0] as RoundRow | undefined;
      if (!row || row.state !== 'open') return false;
      const n = (await c.query('SELECT param_count FROM model WHERE id = 1')).rows[0].param_count as number;
      const merged = await mergedPartials(c, roundId, n);
      if (merged.count !== row.accepted)
        throw new FedrankError(
          'STORE_CORRUPT',
          `round ${roundId}: partial sums count ${merged.count}, round ${row.accepted}`,
        );
      await this.writeClose(c, plan(merged));
      return true;
    });
    if (won) await scrubPartials(this.pool, roundId);
    return won;
  }

  async closeRound(
    closed: RoundRecord,
    model: StoredModel,
    next: RoundRecord | null,
    keepFromVersion: number,
  ): Promise<void> {
    await this.tx(async (c) => {
      const r = await c.query(`SELECT state FROM rounds WHERE id = $1 FOR UPDATE`, [closed.id]);
      if ((r.rows[0] as { state: string } | undefined)?.state !== 'open')
        throw new FedrankError('STORE_CORRUPT', `round ${closed.id} is not open`);
      await this.writeClose(c, { closed, model, next, keepFromVersion });
    });
    await scrubPartials(this.pool, closed.id);
  }

  private async writeClose(c: pg.PoolClient, w: CloseWrite): Promise<void> {
    const { closed, model, next, keepFromVersion } = w;
    await c.query(
      `UPDATE rounds SET state = 'closed', closed_at = $2, participants = $3, weight_sum = $4, noise_std = $5,
         sigma = $6, q = $7, epsilon_after = $8, result_version = $9 WHERE id = $1`,
      [
        closed.id,
        closed.closedAt,
        closed.participants,
        closed.weightSum,
        closed.noiseStd,
        closed.sigma,
        closed.q,
        closed.epsilonAfter,
        closed.resultVersion,
      ],
    );
    // Partial sums of earlier rounds (left by a scrub that failed): no commit can touch them any more. This
    // round's go right after the commit (scrubPartials), so a late commit's row lock never blocks this one.
    await c.query('DELETE FROM round_partials WHERE round_id < $1', [closed.id]);
    // A replay is only ever accepted while its base version is fresh: older dedupe rows serve nothing.
    await c.query('DELETE FROM updates WHERE base_version < $1', [keepFromVersion]);
    await this.saveModel(c, model, model.params.length, false);
    if (next) await this.insertRound(c, next);
    await c.query(`SELECT pg_notify($1, $2)`, [CHANNEL, `${this.writer} version ${model.version}`]);
  }

  async openRound(round: RoundRecord, _paramCount: number): Promise<void> {
    await this.tx(async (c) => {
      try {
        await this.insertRound(c, round);
      } catch (err) {
        if (isRace(err)) throw new StoreConflict(`a round is already open: ${(err as Error).message}`);
        throw err;
      }
      await c.query(`SELECT pg_notify($1, $2)`, [CHANNEL, `${this.writer} open ${round.id}`]);
    });
  }

  async listRounds(limit: number): Promise<RoundRecord[]> {
    const rows = (await this.pool.query('SELECT * FROM rounds ORDER BY id DESC LIMIT $1', [limit]))
      .rows as RoundRow[];
    return rows.map(toRound);
  }

  async addEval(r: Omit<EvalTotals, 'reports'>): Promise<void> {
    await this.pool.query(
      `INSERT INTO evals (model_version, reports, examples, hits, ndcg) VALUES ($1, 1, $2, $3, $4)
       ON CONFLICT (model_version) DO UPDATE SET reports = evals.reports + 1,
       examples = evals.examples + excluded.examples, hits = evals.hits + excluded.hits,
       ndcg = evals.ndcg + excluded.ndcg`,
      [r.modelVersion, r.examples, r.hitsAt10, r.ndcgAt10],
    );
  }

  async evalTotals(versions: number[]): Promise<EvalTotals[]> {
    if (versions.length === 0) return [];
    const rows = (
      await this.pool.query('SELECT * FROM evals WHERE model_version = ANY($1) ORDER BY model_version', [
        versions,
      ])
    ).rows as { model_version: number; reports: number; examples: string; hits: number; ndcg: number }[];
    const byVersion = new Map(rows.map((r) => [r.model_version, r]));
    const out: EvalTotals[] = [];
    for (const v of versions) {
      const r = byVersion.get(v);
      if (r)
        out.push({
          modelVersion: v,
          reports: r.reports,
          examples: Number(r.examples),
          hitsAt10: r.hits,
          ndcgAt10: r.ndcg,
        });
    }
    return out;
  }

  async ping(): Promise<boolean> {
    return (await this.pool.query('SELECT 1 AS ok')).rowCount === 1;
  }

  async close(): Promise<void> {
    if (this.listener) {
      this.listener.release();
      this.listener = null;
    }
    await this.pool.end();
  }

  private async saveModel(c: pg.PoolClient, m: StoredModel, n: number, insert: boolean): Promise<void> {
    const args = [
      m.modelId,
      m.version,
      n,
      bytes(m.params),
      m.adam ? bytes(m.adam.m) : null,
      m.adam ? bytes(m.adam.v) : null,
    ];
    if (insert)
      await c.query(
        `INSERT INTO model (id, model_id, version, param_count, params, adam_m, adam_v) VALUES (1, $1, $2, $3, $4, $5, $6)`,
        args,
      );
    else
      await c.query(
        `UPDATE model SET model_id = $1, version = $2, param_count = $3, params = $4, adam_m = $5, adam_v = $6
         WHERE id = 1`,
        args,
      );
  }

  private async insertRound(c: pg.PoolClient, r: RoundRecord): Promise<void> {
    await c.query(`INSERT INTO rounds (id, base_version, opened_at, state) VALUES ($1, $2, $3, 'open')`, [
      r.id,
      r.baseVersion,
      r.openedAt,
    ]);
  }
}
