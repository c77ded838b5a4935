/**
 * SQLite implementation of the Store (better-sqlite3, embedded, synchronous under an async facade).
 * WAL journal; synchronous=FULL by default so a commit survives power loss (NORMAL survives process crashes,
 * which is all SIGKILL can do, at less fsync cost). Every mutating method is one transaction.
 */
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { FedrankError } from '../../shared/errors.ts';
import {
  bytes,
  f32,
  sumBytes,
  toAcc,
  toRound,
  toUpdate,
  updateRow,
  type RoundRow,
  type SumRow,
  type UpdateRow,
} from './rows.ts';
import type {
  EvalTotals,
  RoundAccumulator,
  RoundRecord,
  Store,
  StoredModel,
  StoredState,
  UpdateRecord,
} from './types.ts';

const SCHEMA_VERSION = 2;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS model (
  id INTEGER PRIMARY KEY CHECK (id = 1), model_id TEXT NOT NULL, version INTEGER NOT NULL,
  params BLOB NOT NULL, adam_m BLOB, adam_v BLOB);
CREATE TABLE IF NOT EXISTS rounds (
  id INTEGER PRIMARY KEY, base_version INTEGER NOT NULL, opened_at TEXT NOT NULL, closed_at TEXT,
  state TEXT NOT NULL CHECK (state IN ('open', 'closed')), participants INTEGER NOT NULL DEFAULT 0,
  weight_sum REAL NOT NULL DEFAULT 0, noise_std REAL, sigma REAL, q REAL,
  epsilon_after REAL, result_version INTEGER);
CREATE UNIQUE INDEX IF NOT EXISTS one_open_round ON rounds (state) WHERE state = 'open';
CREATE TABLE IF NOT EXISTS round_sum (
  round_id INTEGER PRIMARY KEY REFERENCES rounds (id), sum BLOB NOT NULL, weight REAL NOT NULL,
  count INTEGER NOT NULL, sq_weight_sum REAL NOT NULL, max_weight REAL NOT NULL);
CREATE TABLE IF NOT EXISTS updates (
  idem_key TEXT PRIMARY KEY, client_id TEXT NOT NULL, round_id INTEGER NOT NULL, payload_hash TEXT NOT NULL,
  base_version INTEGER NOT NULL, weight REAL NOT NULL, model_version INTEGER NOT NULL,
  received_at TEXT NOT NULL, UNIQUE (round_id, client_id));
CREATE TABLE IF NOT EXISTS evals (
  model_version INTEGER PRIMARY KEY, reports INTEGER NOT NULL, examples INTEGER NOT NULL,
  hits REAL NOT NULL, ndcg REAL NOT NULL);
`;

/** Options of the SQLite store. */
export interface SqliteStoreOptions {
  /** File path, or ':memory:'. */
  path: string;
  durability?: 'full' | 'normal';
}

/** Store on one SQLite file. */
export class SqliteStore implements Store {
  private readonly db: Database.Database;
  private readonly stmts;

  constructor(opts: SqliteStoreOptions) {
    if (opts.path !== ':memory:') {
      mkdirSync(dirname(opts.path), { recursive: true, mode: 0o700 });
      // Created owner-only before SQLite opens it; SQLite gives its -wal and -shm files the same mode.
      closeSync(openSync(opts.path, 'a', 0o600));
    }
    this.db = new Database(opts.path);
    // 64 KiB pages: the running sum is one multi-megabyte BLOB rewritten at every commit, and large pages
    // roughly halve the cost of rewriting its overflow chain (measured: ~2x faster commits at 400k params).
    // Only takes effect when the file is created.
    this.db.pragma('page_size = 65536');
    this.db.pragma('journal_mode = WAL');
    // Checkpoint every 64 MiB of WAL, so the sum's pages (rewritten by every commit) are copied into the
    // database file once per many commits instead of at nearly every one.
    this.db.pragma('wal_autocheckpoint = 1024');
    this.db.pragma(`synchronous = ${opts.durability === 'normal' ? 'NORMAL' : 'FULL'}`);
    this.db.pragma('foreign_keys = ON');
    // Deleted rows and replaced BLOBs (the running sum of a closed round) are overwritten with zeros, not
    // left in free pages where a copy of the file would still hold them.
    this.db.pragma('secure_delete = ON');
    this.db.exec(SCHEMA);
    let schema = this.db.prepare(`SELECT value FROM meta WHERE key = 'schema'`).get() as
      { value: string } | undefined;
    if (schema && Number(schema.value) === 1) schema = this.migrateFrom1();
    if (schema && Number(schema.value) !== SCHEMA_VERSION)
      throw new FedrankError('STORE_CORRUPT', `database schema ${schema.value}, expected ${SCHEMA_VERSION}`);
    const db = this.db;
    this.stmts = {
      model: db.prepare('SELECT * FROM model WHERE id = 1'),
      openRound: db.prepare(`SELECT * FROM rounds WHERE state = 'open'`),
      roundSum: db.prepare('SELECT * FROM round_sum WHERE round_id = ?'),
      roundState: db.prepare('SELECT state FROM rounds WHERE id = ?'),
      closedPrivacy: db.prepare(`SELECT q, sigma FROM rounds WHERE state = 'closed' ORDER BY id`),
      findUpdate: db.prepare('SELECT * FROM updates WHERE idem_key = ?'),
      clientInRound: db.prepare('SELECT 1 FROM updates WHERE round_id = ? AND client_id = ?'),
      insertUpdate: db.prepare(
        `INSERT INTO updates (idem_key, client_id, round_id, payload_hash, base_version, weight,
           model_version, received_at) VALUES (@idem_key, @client_id, @round_id, @payload_hash, @base_version,
           @weight, @model_version, @received_at)`,
      ),
      upsertSum: db.prepare(
        `INSERT INTO round_sum (round_id, sum, weight, count, sq_weight_sum, max_weight)
         VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (round_id) DO UPDATE SET sum = excluded.sum,
         weight = excluded.weight, count = excluded.count, sq_weight_sum = excluded.sq_weight_sum, max_weight = excluded.max_weight`,
      ),
      insertRound: db.prepare(
        `INSERT INTO rounds (id, base_version, opened_at, state) VALUES (?, ?, ?, 'open')`,
      ),
      closeRound: db.prepare(
        `UPDATE rounds SET state = 'closed', closed_at = @closed_at, participants = @participants,
           weight_sum = @weight_sum, noise_std = @noise_std,
           sigma = @sigma, q = @q, epsilon_after = @epsilon_after, result_version = @result_version
         WHERE id = @id AND state = 'open'`,
      ),
      deleteSum: db.prepare('DELETE FROM round_sum WHERE round_id = ?'),
      // A replay is only ever accepted while its base version is fresh: older dedupe rows serve nothing.
      pruneUpdates: db.prepare('DELETE FROM updates WHERE base_version < ?'),
      saveModel: db.prepare(
        `INSERT INTO model (id, model_id, version, params, adam_m, adam_v) VALUES (1, ?, ?, ?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET model_id = excluded.model_id, version = excluded.version,
         params = excluded.params, adam_m = excluded.adam_m, adam_v = excluded.adam_v`,
      ),
      listRounds: db.prepare('SELECT * FROM rounds ORDER BY id DESC LIMIT ?'),
      addEval: db.prepare(
        `INSERT INTO evals (model_version, reports, examples, hits, ndcg) VALUES (?, 1, ?, ?, ?)
         ON CONFLICT (model_version) DO UPDATE SET reports = reports + 1, examples = examples + excluded.examples,
         hits = hits + excluded.hits, ndcg = ndcg + excluded.ndcg`,
      ),
      evalOf: db.prepare('SELECT * FROM evals WHERE model_version = ?'),
      setMeta: db.prepare('INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)'),
      getMeta: db.prepare('SELECT value FROM meta WHERE key = ?'),
    };
  }

  async load(): Promise<StoredState | null> {
    return this.db.transaction(() => {
      const m = this.stmts.model.get() as
        | { model_id: string; version: number; params: Buffer; adam_m: Buffer | null; adam_v: Buffer | null }
        | undefined;
      if (!m) return null;
      const n = Number((this.stmts.getMeta.get('paramCount') as { value: string } | undefined)?.value);
      const params = f32(m.params);
      if (params.length !== n)
        throw new FedrankError('STORE_CORRUPT', `model has ${params.length} params, meta ${n}`);
      const adam = m.adam_m && m.adam_v ? { m: f32(m.adam_m), v: f32(m.adam_v) } : null;
      const row = this.stmts.openRound.get() as RoundRow | undefined;
      let open: StoredState['open'] = null;
      if (row) {
        const s = this.stmts.roundSum.get(row.id) as SumRow | undefined;
        if (!s) throw new FedrankError('STORE_CORRUPT', `open round ${row.id} has no running sum`);
        const acc = toAcc(s, n);
        open = { round: toRound(row), acc };
      }
      const closedPrivacy = this.stmts.closedPrivacy.all() as { q: number; sigma: number }[];
      return { model: { modelId: m.model_id, version: m.version, params, adam }, open, closedPrivacy };
    })();
  }

  async initialize(model: StoredModel, firstRound: RoundRecord | null, paramCount: number): Promise<void> {
    this.db.transaction(() => {
      if (this.stmts.model.get()) throw new FedrankError('STORE_CORRUPT', 'store is already initialized');
      this.stmts.setMeta.run('schema', String(SCHEMA_VERSION));
      this.stmts.setMeta.run('paramCount', String(paramCount));
      this.saveModel(model);
      if (firstRound) this.insertOpenRound(firstRound, paramCount);
    })();
  }

  async findUpdates(keys: string[]): Promise<Map<string, UpdateRecord>> {
    const out = new Map<string, UpdateRecord>();
    for (const k of keys) {
      const r = this.stmts.findUpdate.get(k) as UpdateRow | undefined;
      if (r) out.set(k, toUpdate(r));
    }
    return out;
  }

  async clientsInRound(roundId: number, clientIds: string[]): Promise<Set<string>> {
    const out = new Set<string>();
    for (const c of clientIds) if (this.stmts.clientInRound.get(roundId, c) !== undefined) out.add(c);
    return out;
  }

  async commitUpdates(roundId: number, updates: UpdateRecord[], acc: RoundAccumulator): Promise<void> {
    this.db.transaction(() => {
      // A batch belongs to the round it was admitted to: never to one that closed meanwhile.
      const r = this.stmts.roundState.get(roundId) as { state: string } | undefined;
      if (r?.state !== 'open') throw new FedrankError('STORE_CORRUPT', `round ${roundId} is not open`);
      for (const u of updates) this.stmts.insertUpdate.run(updateRow(u));
      this.writeSum(roundId, acc);
    })();
  }

  async closeRound(
    closed: RoundRecord,
    model: StoredModel,
    next: RoundRecord | null,
    keepFromVersion: number,
  ): Promise<void> {
    this.db.transaction(() => {
      const res = this.stmts.closeRound.run({
        id: closed.id,
        closed_at: closed.closedAt,
        participants: closed.participants,
        weight_sum: closed.weightSum,
        noise_std: closed.noiseStd,
        sigma: closed.sigma,
        q: closed.q,
        epsilon_after: closed.epsilonAfter,
        result_version: closed.resultVersion,
      });
      if (res.changes !== 1) throw new FedrankError('STORE_CORRUPT', `round ${closed.id} is not open`);
      this.stmts.deleteSum.run(closed.id);
      this.stmts.pruneUpdates.run(keepFromVersion);
      this.saveModel(model);
      if (next) this.insertOpenRound(next, model.params.length);
    })();
    this.scrubWal();
  }

  /**
   * Copies the WAL into the file and truncates it: the WAL holds every running sum of the round just
   * closed, and two successive ones differ by one upload. Busy readers can delay it to the next close.
   */
  private scrubWal(): void {
    this.db.pragma('wal_checkpoint(TRUNCATE)');
  }

  /** Schema 1 kept each update's norm and the round's norm sum (per shopper at rest): dropped, file rewritten. */
  private migrateFrom1(): { value: string } {
    this.db.transaction(() => {
      this.db.exec('ALTER TABLE updates DROP COLUMN norm');
      this.db.exec('ALTER TABLE round_sum DROP COLUMN norm_sum');
      this.db.exec('ALTER TABLE rounds DROP COLUMN mean_update_norm');
      this.db.prepare(`UPDATE meta SET value = ? WHERE key = 'schema'`).run(String(SCHEMA_VERSION));
    })();
    this.db.exec('VACUUM');
    this.scrubWal();
    return { value: String(SCHEMA_VERSION) };
  }

  async openRound(round: RoundRecord, paramCount: number): Promise<void> {
    this.db.transaction(() => this.insertOpenRound(round, paramCount))();
  }

  async listRounds(limit: number): Promise<RoundRecord[]> {
    return (this.stmts.listRounds.all(limit) as RoundRow[]).map(toRound);
  }

  async addEval(r: Omit<EvalTotals, 'reports'>): Promise<void> {
    this.stmts.addEval.run(r.modelVersion, r.examples, r.hitsAt10, r.ndcgAt10);
  }

  async evalTotals(versions: number[]): Promise<EvalTotals[]> {
    const out: EvalTotals[] = [];
    for (const v of versions) {
      const r = this.stmts.evalOf.get(v) as
        { model_version: number; reports: number; examples: number; hits: number; ndcg: number } | undefined;
      if (r)
        out.push({
          modelVersion: v,
          reports: r.reports,
          examples: r.examples,
          hitsAt10: r.hits,
          ndcgAt10: r.ndcg,
        });
    }
    return out;
  }

  async ping(): Promise<boolean> {
    return this.db.prepare('SELECT 1 AS ok').get() !== undefined;
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }

  private saveModel(m: StoredModel): void {
    this.stmts.saveModel.run(
      m.modelId,
      m.version,
      bytes(m.params),
      m.adam ? bytes(m.adam.m) : null,
      m.adam ? bytes(m.adam.v) : null,
    );
  }

  private insertOpenRound(r: RoundRecord, paramCount: number): void {
    this.stmts.insertRound.run(r.id, r.baseVersion, r.openedAt);
    this.writeSum(r.id, {
      sum: new Float64Array(paramCount),
      weight: 0,
      count: 0,
      sqWeightSum: 0,
      maxWeight: 0,
    });
  }

  private writeSum(roundId: number, a: RoundAccumulator): void {
    this.stmts.upsertSum.run(roundId, sumBytes(a.sum), a.weight, a.count, a.sqWeightSum, a.maxWeight);
  }
}
