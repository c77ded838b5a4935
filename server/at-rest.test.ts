/**
 * Nothing per shopper at rest: after rounds close, the database file, its WAL and its free pages (read as raw
 * bytes) hold no client's update vector, no update norm, and no client id once dedupe no longer needs it.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { decodeTensorView, encodeTensor } from '../shared/codec/tensor-codec.ts';
import { buildServer, type FedrankServer } from './app.ts';
import { viewNorm } from './ingest.ts';
import { SqliteStore } from './store/sqlite.ts';
import { randomId, testConfig } from './testing.ts';

const dirs: string[] = [];
const servers: FedrankServer[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** The database file and its WAL (when present), as raw bytes. */
function rawBytes(db: string): Buffer {
  const parts = [readFileSync(db)];
  if (existsSync(`${db}-wal`)) parts.push(readFileSync(`${db}-wal`));
  if (existsSync(`${db}-journal`)) parts.push(readFileSync(`${db}-journal`));
  return Buffer.concat(parts);
}

const f64Bytes = (xs: ArrayLike<number>): Buffer => Buffer.from(Float64Array.from(xs).buffer);
/** A REAL column is stored big-endian in SQLite's record format. */
const f64BigEndian = (x: number): Buffer => {
  const b = Buffer.alloc(8);
  b.writeDoubleBE(x);
  return b;
};
const f32Bytes = (xs: Float32Array): Buffer => Buffer.from(xs.buffer, xs.byteOffset, xs.byteLength);

describe('nothing per shopper at rest', () => {
  it('after rounds close: no update vector (f32 or f64), no norm, no client id in file, WAL or free pages', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fedrank-at-rest-'));
    dirs.push(dir);
    const db = join(dir, 'fedrank.db');
    // maxStaleness 0: a closed round's dedupe rows can never be needed again.
    const s = await buildServer(
      testConfig({
        db,
        training: { expectedClientsPerRound: 2 },
        rounds: { minClients: 2, maxClients: 2, maxStaleness: 0 },
      }),
      { logger: false },
    );
    servers.push(s);
    const a = s.aggregator;
    const n = a.model.paramCount;
    const uploads: { values: Float32Array; norm: number; client: string }[] = [];
    for (let k = 0; k < 6; k++) {
      // Distinct random vectors: 4 coordinates of one of them cannot appear by chance.
      const values = new Float32Array(n).map(() => Math.random() - 0.5);
      const body = encodeTensor(
        {
          kind: 'delta',
          modelId: a.model.modelId,
          baseVersion: a.version,
          round: a.open!.round.id,
          encoding: 'f32',
        },
        values,
      );
      const client = randomId('c');
      const res = await s.app.inject({
        method: 'POST',
        url: '/v1/updates',
        payload: Buffer.from(body),
        headers: {
          'content-type': 'application/vnd.fedrank.tensor',
          'x-fedrank-client': client,
          'idempotency-key': randomId('k'),
        },
      });
      expect(res.statusCode).toBe(201);
      await a.idle();
      uploads.push({ values, norm: viewNorm(decodeTensorView(body, { maxCount: n })), client });
    }
    expect(a.version).toBe(3);

    for (const when of ['while serving', 'after shutdown']) {
      if (when === 'after shutdown') await servers.pop()!.close();
      const raw = rawBytes(db);
      for (const [k, u] of uploads.entries()) {
        const what = `upload ${k} ${when}`;
        // The running sum after a round's first upload is that upload (float64, weight 1).
        expect(raw.indexOf(f64Bytes(u.values.subarray(0, 4))), `${what}: its vector as float64`).toBe(-1);
        expect(raw.indexOf(f32Bytes(u.values.subarray(0, 4))), `${what}: its vector as float32`).toBe(-1);
        expect(raw.indexOf(f64Bytes([u.norm])), `${what}: its norm`).toBe(-1);
        expect(raw.indexOf(f64BigEndian(u.norm)), `${what}: its norm as a REAL`).toBe(-1);
        expect(raw.indexOf(Buffer.from(u.client)), `${what}: its client id`).toBe(-1);
      }
    }
  });

  it('a schema-1 database loses its per-update norms on open, file rewritten', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fedrank-at-rest-'));
    dirs.push(dir);
    const path = join(dir, 'old.db');
    const fresh = new SqliteStore({ path });
    await fresh.initialize({ modelId: 'm', version: 0, params: new Float32Array(4), adam: null }, null, 4);
    await fresh.close();
    // Schema 1 as it was: a norm per update, a norm sum per round, a mean norm per closed round.
    const old = new Database(path);
    old.exec(`ALTER TABLE updates ADD COLUMN norm REAL NOT NULL DEFAULT 0;
      ALTER TABLE round_sum ADD COLUMN norm_sum REAL NOT NULL DEFAULT 0;
      ALTER TABLE rounds ADD COLUMN mean_update_norm REAL;
      UPDATE meta SET value = '1' WHERE key = 'schema';`);
    const norm = 1234.56789012345;
    old
      .prepare(
        `INSERT INTO updates (idem_key, client_id, round_id, payload_hash, base_version, weight, norm,
           model_version, received_at) VALUES ('k', 'c', 1, 'h', 0, 1, ?, 0, 't')`,
      )
      .run(norm);
    old.close();
    expect(rawBytes(path).indexOf(f64BigEndian(norm))).toBeGreaterThanOrEqual(0);
    const store = new SqliteStore({ path });
    await store.close();
    expect(rawBytes(path).indexOf(f64BigEndian(norm))).toBe(-1);
    const db = new Database(path, { readonly: true });
    const cols = (
      db.prepare(`SELECT name FROM pragma_table_info('updates')`).all() as { name: string }[]
    ).map((c) => c.name);
    expect(cols).not.toContain('norm');
    expect(db.prepare(`SELECT value FROM meta WHERE key = 'schema'`).get()).toEqual({ value: '2' });
    db.close();
  });
});
