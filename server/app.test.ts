import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { decodeTensor, encodeTensor } from '../shared/codec/tensor-codec.ts';
import { parseManifest, parseUpdateAck } from '../shared/protocol-parse.ts';
import { buildServer, type FedrankServer } from './app.ts';
import { SqliteStore } from './store/sqlite.ts';
import { constantDelta, randomId, testConfig, TEST_TOKEN } from './testing.ts';

const servers: FedrankServer[] = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function make(over: Record<string, unknown> = {}, deps = {}): Promise<FedrankServer> {
  const s = await buildServer(testConfig(over), { logger: false, ...deps });
  servers.push(s);
  return s;
}

const auth = { authorization: `Bearer ${TEST_TOKEN}` };
const TENSOR = 'application/vnd.fedrank.tensor';

function upload(s: FedrankServer, body: Uint8Array | string, headers: Record<string, string> = {}) {
  return s.app.inject({
    method: 'POST',
    url: '/v1/updates',
    payload: typeof body === 'string' ? body : Buffer.from(body),
    headers: {
      'content-type': TENSOR,
      'x-fedrank-client': randomId('c'),
      'idempotency-key': randomId('k'),
      ...headers,
    },
  });
}

function delta(
  s: FedrankServer,
  value = 1,
  over: Partial<{ baseVersion: number; round: number; encoding: 'f32' | 'i8' }> = {},
) {
  const a = s.aggregator;
  return constantDelta(
    { modelId: a.model.modelId, baseVersion: a.version, round: a.open?.round.id ?? 0, ...over },
    a.model.paramCount,
    value,
  );
}

function codeOf(res: { json(): unknown }): string {
  return (res.json() as { error: { code: string } }).error.code;
}

describe('public endpoints', () => {
  it('GET /v1/model serves a manifest the client parser accepts, with ETag and 304', async () => {
    const s = await make();
    const res = await s.app.inject('/v1/model');
    expect(res.statusCode).toBe(200);
    const m = parseManifest(res.json());
    expect(m.version).toBe(0);
    expect(m.paramCount).toBe(s.aggregator.model.paramCount);
    expect(m.paramCount).toBeLessThan(200);
    expect(m.round).toMatchObject({ id: 1, state: 'open', minClients: 2, maxClients: 3 });
    const etag = res.headers.etag as string;
    expect(etag).toMatch(/^"m-/);
    const again = await s.app.inject({ url: '/v1/model', headers: { 'if-none-match': etag } });
    expect(again.statusCode).toBe(304);
    expect(again.body).toBe('');
    // An upload changes nothing public: no count of accepted updates, not even through the ETag.
    await upload(s, delta(s));
    await s.aggregator.idle();
    const same = await s.app.inject({ url: '/v1/model', headers: { 'if-none-match': etag } });
    expect(same.statusCode).toBe(304);
    expect(JSON.stringify((await s.app.inject('/v1/model')).json())).not.toMatch(/accepted/);
    // The operator sees the count.
    const st = (await s.app.inject({ url: '/v1/admin/status', headers: auth })).json();
    expect(st.round.accepted).toBe(1);
    await upload(s, delta(s));
    await upload(s, delta(s)); // maxClients: the round closes and the model version changes
    await s.aggregator.idle();
    const changed = await s.app.inject({ url: '/v1/model', headers: { 'if-none-match': etag } });
    expect(changed.statusCode).toBe(200);
  });

  it('GET /v1/model/weights serves the codec f32 weights with ETag and 304', async () => {
    const s = await make();
    const res = await s.app.inject('/v1/model/weights');
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toContain(TENSOR);
    const { header, values } = decodeTensor(new Uint8Array(res.rawPayload), { maxCount: 1e6 });
    expect(header).toMatchObject({ kind: 'weights', modelId: s.aggregator.model.modelId, baseVersion: 0 });
    expect(Array.from(values)).toEqual(Array.from(s.aggregator.model.init()));
    const again = await s.app.inject({
      url: '/v1/model/weights',
      headers: { 'if-none-match': res.headers.etag as string },
    });
    expect(again.statusCode).toBe(304);
  });

  it('POST /v1/updates acknowledges, replays as duplicate, and closes the round at maxClients', async () => {
    const s = await make({ training: { expectedClientsPerRound: 3 } });
    const key = randomId('k');
    const client = randomId('c');
    const body = delta(s, 2);
    const first = await upload(s, body, { 'idempotency-key': key, 'x-fedrank-client': client });
    expect(first.statusCode).toBe(201);
    expect(parseUpdateAck(first.json())).toEqual({
      accepted: true,
      duplicate: false,
      round: 1,
      modelVersion: 0,
    });
    const replay = await upload(s, body, { 'idempotency-key': key, 'x-fedrank-client': client });
    expect(replay.statusCode).toBe(200);
    expect(replay.json()).toEqual({ accepted: true, duplicate: true, round: 1, modelVersion: 0 });
    expect(s.aggregator.open!.acc.count).toBe(1);
    // octet-stream is accepted too
    expect((await upload(s, delta(s, 4), { 'content-type': 'application/octet-stream' })).statusCode).toBe(
      201,
    );
    expect((await upload(s, delta(s, 6))).statusCode).toBe(201);
    await s.aggregator.idle();
    expect(s.aggregator.version).toBe(1);
    expect(s.aggregator.open!.round.id).toBe(2);
    // FedAvg with learning rate 1: global += sum / D with the fixed denominator D = 3: (2 + 4 + 6) / 3
    const init = s.aggregator.model.init();
    const w = decodeTensor(new Uint8Array((await s.app.inject('/v1/model/weights')).rawPayload), {
      maxCount: 1e6,
    });
    for (let i = 0; i < init.length; i++) expect(w.values[i]).toBeCloseTo(init[i]! + 4, 5);
    // a replay after the round closed still gets its original ack
    const late = await upload(s, body, { 'idempotency-key': key, 'x-fedrank-client': client });
    expect(late.json()).toEqual({ accepted: true, duplicate: true, round: 1, modelVersion: 0 });
  });

  it('POST /v1/eval records a report shown per round by the admin API', async () => {
    const s = await make({ rounds: { minClients: 1, maxClients: 1 }, evals: { minReports: 1 } });
    await upload(s, delta(s));
    await s.aggregator.idle();
    const client = randomId('c');
    const report = { modelVersion: 1, examples: 10, hitsAt10: 4, ndcgAt10: 2.5 };
    const res = await s.app.inject({
      method: 'POST',
      url: '/v1/eval',
      payload: report,
      headers: { 'x-fedrank-client': client },
    });
    expect(res.statusCode).toBe(204);
    const rounds = (await s.app.inject({ url: '/v1/admin/rounds', headers: auth })).json().rounds;
    expect(rounds[1]).toMatchObject({ id: 1, state: 'closed', participants: 1, resultVersion: 1 });
    expect(rounds[1].eval).toEqual({ reports: 1, examples: 10, minReports: 1, hitAt10: 0.4, ndcgAt10: 0.25 });
  });

  it('GET /healthz and /metrics', async () => {
    const s = await make();
    expect((await s.app.inject('/healthz')).json()).toMatchObject({ ok: true, modelVersion: 0, round: 1 });
    await upload(s, delta(s));
    await upload(s, 'nope');
    const m = await s.app.inject('/metrics');
    expect(m.headers['content-type']).toContain('text/plain');
    expect(m.body).toContain('fedrank_model_version 0');
    expect(m.body).toContain('fedrank_rounds_closed_total 0');
    expect(m.body).toMatch(/fedrank_epsilon_spent\{party="observers",unit="shopper"\} 0/);
    // Public metrics count no uploads: differenced between scrapes, counts give each round's cohort size.
    expect(m.body).not.toMatch(/accepted|duplicate|rejected|ingest_seconds/);
    const full = await s.app.inject({ url: '/v1/admin/metrics', headers: auth });
    expect(full.body).toContain('fedrank_updates_accepted_total 1');
    expect(full.body).toContain('fedrank_updates_rejected_total{code="CODEC_BAD_MAGIC"} 1');
    expect(full.body).toMatch(/fedrank_ingest_seconds_count 1/);
    expect((await s.app.inject('/v1/admin/metrics')).statusCode).toBe(401);
  });

  it('serves the dashboard at /dashboard/ and redirects /dashboard', async () => {
    const s = await make();
    const r = await s.app.inject('/dashboard');
    expect(r.statusCode).toBe(301);
    expect(r.headers.location).toBe('/dashboard/');
    const page = await s.app.inject('/dashboard/');
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toContain('text/html');
    expect((await s.app.inject('/dashboard/vendor/uPlot.iife.min.js')).statusCode).toBe(200);
    expect((await s.app.inject('/dashboard/vendor/package.json')).statusCode).toBe(404);
  });

  it('sends CORS headers only to allowed storefront origins', async () => {
    const s = await make({ allowedOrigins: ['https://shop.example'] });
    const ok = await s.app.inject({ url: '/v1/model', headers: { origin: 'https://shop.example' } });
    expect(ok.headers['access-control-allow-origin']).toBe('https://shop.example');
    // The worker reads these cross-origin: caching, a busy server's Retry-After, a secure round's phase.
    expect(String(ok.headers['access-control-expose-headers']).toLowerCase().split(/,\s*/)).toEqual([
      'etag',
      'retry-after',
      'x-fedrank-secagg-phase',
    ]);
    const pre = await s.app.inject({
      method: 'OPTIONS',
      url: '/v1/updates',
      headers: { origin: 'https://shop.example', 'access-control-request-method': 'POST' },
    });
    expect(pre.headers['access-control-allow-origin']).toBe('https://shop.example');
    const evil = await s.app.inject({
      method: 'OPTIONS',
      url: '/v1/updates',
      headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' },
    });
    expect(evil.headers['access-control-allow-origin']).toBeUndefined();
  });
});

describe('admin endpoints', () => {
  it('status, rounds, rejections and config with the token', async () => {
    const s = await make();
    await upload(s, delta(s));
    await upload(s, new Uint8Array([1, 2, 3]));
    const st = (await s.app.inject({ url: '/v1/admin/status', headers: auth })).json();
    expect(st).toMatchObject({
      health: { ok: true },
      model: { version: 0, paramCount: s.aggregator.model.paramCount },
      round: { id: 1, accepted: 1, minClients: 2 },
      totals: { accepted: 1, rejected: 1 },
      privacy: { delta: 1e-5, epsilonBudget: null },
    });
    const rounds = (await s.app.inject({ url: '/v1/admin/rounds?limit=5', headers: auth })).json();
    expect(rounds.rounds).toHaveLength(1);
    expect(rounds.rounds[0]).toMatchObject({ id: 1, state: 'open', participants: 1 });
    const rej = (await s.app.inject({ url: '/v1/admin/rejections', headers: auth })).json();
    expect(rej.byReason).toEqual({ CODEC_BAD_MAGIC: 1 });
    const cfg = (await s.app.inject({ url: '/v1/admin/config', headers: auth })).json();
    expect(cfg.operatorToken).toBe('(set)');
    expect(JSON.stringify(cfg)).not.toContain(TEST_TOKEN);
    expect(cfg.rounds.maxClients).toBe(3);
  });
});

describe('one test per error code', () => {
  it('BAD_REQUEST: malformed eval report, bad rounds limit', async () => {
    const s = await make();
    const r = await s.app.inject({
      method: 'POST',
      url: '/v1/eval',
      payload: { modelVersion: 0, examples: -1 },
      headers: { 'x-fedrank-client': randomId('c') },
    });
    expect([r.statusCode, codeOf(r)]).toEqual([400, 'BAD_REQUEST']);
    const bad = await s.app.inject({ url: '/v1/admin/rounds?limit=abc', headers: auth });
    expect(codeOf(bad)).toBe('BAD_REQUEST');
    const json = await s.app.inject({
      method: 'POST',
      url: '/v1/eval',
      payload: '{"modelVersion":',
      headers: { 'x-fedrank-client': randomId('c'), 'content-type': 'application/json' },
    });
    expect(codeOf(json)).toBe('BAD_REQUEST');
  });

  it('UNSUPPORTED_MEDIA_TYPE', async () => {
    const s = await make();
    const r = await upload(s, delta(s), { 'content-type': 'image/png' });
    expect([r.statusCode, codeOf(r)]).toEqual([415, 'UNSUPPORTED_MEDIA_TYPE']);
    const j = await upload(s, '{"a":1}', { 'content-type': 'application/json' });
    expect(codeOf(j)).toBe('UNSUPPORTED_MEDIA_TYPE');
  });

  it('PAYLOAD_TOO_LARGE', async () => {
    const s = await make();
    const r = await upload(s, new Uint8Array(1_000_000));
    expect([r.statusCode, codeOf(r)]).toEqual([413, 'PAYLOAD_TOO_LARGE']);
  });

  it('NOT_FOUND and METHOD_NOT_ALLOWED', async () => {
    const s = await make();
    const nf = await s.app.inject('/v1/nothing');
    expect([nf.statusCode, codeOf(nf)]).toEqual([404, 'NOT_FOUND']);
    const na = await s.app.inject({ method: 'DELETE', url: '/v1/model' });
    expect([na.statusCode, codeOf(na)]).toEqual([405, 'METHOD_NOT_ALLOWED']);
  });

  it('UNAUTHORIZED: missing, wrong and malformed tokens', async () => {
    const s = await make();
    for (const h of [
      {},
      { authorization: 'Bearer wrong-token-xxxxxxxxxxxx' },
      { authorization: TEST_TOKEN },
    ]) {
      const r = await s.app.inject({ url: '/v1/admin/status', headers: h });
      expect([r.statusCode, codeOf(r)]).toEqual([401, 'UNAUTHORIZED']);
    }
  });

  it('FORBIDDEN_ORIGIN', async () => {
    const s = await make({ allowedOrigins: ['https://shop.example'] });
    const r = await upload(s, delta(s), { origin: 'https://evil.example' });
    expect([r.statusCode, codeOf(r)]).toEqual([403, 'FORBIDDEN_ORIGIN']);
    expect((await upload(s, delta(s), { origin: 'https://shop.example' })).statusCode).toBe(201);
  });

  it('RATE_LIMITED per client and per IP', async () => {
    const s = await make({ limits: { perClientPerMinute: 2, perIpPerMinute: 0 } });
    const client = randomId('c');
    await upload(s, delta(s), { 'x-fedrank-client': client });
    await upload(s, delta(s), { 'x-fedrank-client': client });
    const r = await upload(s, delta(s), { 'x-fedrank-client': client });
    expect([r.statusCode, codeOf(r)]).toEqual([429, 'RATE_LIMITED']);
    const ip = await make({ limits: { perClientPerMinute: 0, perIpPerMinute: 3 } });
    for (let i = 0; i < 3; i++) await ip.app.inject('/healthz');
    const r2 = await ip.app.inject('/v1/model');
    expect([r2.statusCode, codeOf(r2)]).toEqual([429, 'RATE_LIMITED']);
  });

  it('INTERNAL and UNAVAILABLE when the store fails', async () => {
    const store = new SqliteStore({ path: ':memory:' });
    const s = await make({}, { store });
    store.listRounds = async () => {
      throw new Error('disk on fire');
    };
    const r = await s.app.inject({ url: '/v1/admin/rounds', headers: auth });
    expect([r.statusCode, codeOf(r)]).toEqual([500, 'INTERNAL']);
    expect(r.body).not.toContain('disk on fire');
    store.commitUpdates = async () => {
      throw new Error('disk full');
    };
    const u = await upload(s, delta(s));
    expect([u.statusCode, codeOf(u)]).toEqual([503, 'UNAVAILABLE']);
    expect(s.aggregator.open!.acc.count).toBe(0); // the in-memory sum was rolled back from the store
  });

  it('CODEC_* codes for malformed payloads', async () => {
    const s = await make();
    const good = delta(s, 1);
    const cases: [string, Uint8Array][] = [];
    const mut = (f: (b: Uint8Array) => void, from = good): Uint8Array => {
      const b = from.slice();
      f(b);
      return b;
    };
    cases.push(['CODEC_BAD_MAGIC', mut((b) => (b[0] = 0x58))]);
    cases.push(['CODEC_UNSUPPORTED_VERSION', mut((b) => (b[4] = 9))]);
    cases.push(['CODEC_BAD_HEADER', mut((b) => (b[5] = 7))]);
    cases.push(['CODEC_TRUNCATED', good.slice(0, good.length - 3)]);
    const longer = new Uint8Array(good.length + 4);
    longer.set(good);
    cases.push(['CODEC_OVERSIZED', longer]);
    cases.push(['CODEC_COUNT_MISMATCH', mut((b) => new DataView(b.buffer).setUint32(24, 12, true))]);
    const nan = mut((b) => new DataView(b.buffer).setFloat32(b.length - 4, NaN, true));
    cases.push(['CODEC_NON_FINITE', nan]);
    const i8 = delta(s, 1, { encoding: 'i8' });
    cases.push(['CODEC_BAD_VALUE', mut((b) => (b[b.length - 1] = 0x80), i8)]);
    const weights = encodeTensor(
      { kind: 'weights', modelId: s.aggregator.model.modelId, baseVersion: 0, round: 1, encoding: 'f32' },
      new Float32Array(s.aggregator.model.paramCount),
    );
    cases.push(['CODEC_BAD_HEADER', weights]);
    for (const [code, body] of cases) {
      const r = await upload(s, body);
      expect([r.statusCode, codeOf(r)], code).toEqual([400, code]);
    }
    expect(s.aggregator.open!.acc.count).toBe(0);
  });

  it('UPDATE_MISSING_CLIENT_ID and UPDATE_MISSING_IDEMPOTENCY_KEY', async () => {
    const s = await make();
    for (const c of ['', 'short', 'has space in it xxxxxxxx', 'x'.repeat(65)]) {
      const r = await upload(s, delta(s), { 'x-fedrank-client': c });
      expect(codeOf(r)).toBe('UPDATE_MISSING_CLIENT_ID');
    }
    const k = await upload(s, delta(s), { 'idempotency-key': 'bad key!' });
    expect([k.statusCode, codeOf(k)]).toEqual([400, 'UPDATE_MISSING_IDEMPOTENCY_KEY']);
  });

  it('UPDATE_WRONG_MODEL and UPDATE_WRONG_SHAPE', async () => {
    const s = await make();
    const d = s.aggregator.model.paramCount;
    const wrong = constantDelta({ modelId: 'other-model', baseVersion: 0, round: 1 }, d, 1);
    expect(codeOf(await upload(s, wrong))).toBe('UPDATE_WRONG_MODEL');
    const shape = constantDelta({ modelId: s.aggregator.model.modelId, baseVersion: 0, round: 1 }, d - 1, 1);
    expect(codeOf(await upload(s, shape))).toBe('UPDATE_WRONG_SHAPE');
    const big = constantDelta({ modelId: s.aggregator.model.modelId, baseVersion: 0, round: 1 }, d + 1, 1);
    expect(codeOf(await upload(s, big))).toBe('CODEC_OVERSIZED'); // count above the model's size
  });

  it('UPDATE_STALE, UPDATE_FUTURE_VERSION and UPDATE_WRONG_ROUND; stale-but-allowed is down-weighted', async () => {
    const s = await make({ rounds: { minClients: 1, maxClients: 1, maxStaleness: 1, stalenessAlpha: 1 } });
    expect(codeOf(await upload(s, delta(s, 1, { baseVersion: 1 })))).toBe('UPDATE_FUTURE_VERSION');
    expect(codeOf(await upload(s, delta(s, 1, { round: 2 })))).toBe('UPDATE_WRONG_ROUND');
    await upload(s, delta(s, 1)); // closes round 1 -> version 1
    await s.aggregator.idle();
    await upload(s, delta(s, 1)); // closes round 2 -> version 2
    await s.aggregator.idle();
    expect(s.aggregator.version).toBe(2);
    const stale = await upload(s, delta(s, 1, { baseVersion: 0, round: 1 }));
    expect([stale.statusCode, codeOf(stale)]).toEqual([409, 'UPDATE_STALE']);
    const ok = await upload(s, delta(s, 1, { baseVersion: 1, round: 2 }));
    expect(ok.statusCode).toBe(201);
    await s.aggregator.idle();
    const rounds = (await s.app.inject({ url: '/v1/admin/rounds', headers: auth })).json().rounds;
    expect(rounds[1]).toMatchObject({ id: 3, state: 'closed', participants: 1, weightSum: 0.5 }); // 1/(1+1)^1
  });

  it('UPDATE_NORM_TOO_LARGE fits the noise: bound C + s(sqrt(d)+z) with the int8 allowance', async () => {
    const s = await make({ training: { clipNorm: 1, noiseMultiplier: 2, noiseMode: 'local' } });
    const d = s.aggregator.model.paramCount;
    const bound = s.aggregator.normBound(0); // C + s*(sqrt(d)+z) with s = sigma*C
    expect(bound).toBeCloseTo(1 + 2 * (Math.sqrt(d) + 8), 3);
    const per = (bound * 1.01) / Math.sqrt(d);
    const r = await upload(s, delta(s, per));
    expect([r.statusCode, codeOf(r)]).toEqual([422, 'UPDATE_NORM_TOO_LARGE']);
    expect((await upload(s, delta(s, (bound * 0.99) / Math.sqrt(d)))).statusCode).toBe(201);
    expect(s.aggregator.normBound(256)).toBeCloseTo(bound * (1 + Math.sqrt(d) / 127), 3);
  });

  it('UPDATE_ALREADY_CONTRIBUTED and UPDATE_IDEMPOTENCY_CONFLICT', async () => {
    const s = await make();
    const client = randomId('c');
    const key = randomId('k');
    await upload(s, delta(s, 1), { 'x-fedrank-client': client, 'idempotency-key': key });
    const again = await upload(s, delta(s, 1), { 'x-fedrank-client': client });
    expect([again.statusCode, codeOf(again)]).toEqual([409, 'UPDATE_ALREADY_CONTRIBUTED']);
    const conflict = await upload(s, delta(s, 2), { 'x-fedrank-client': client, 'idempotency-key': key });
    expect([conflict.statusCode, codeOf(conflict)]).toEqual([409, 'UPDATE_IDEMPOTENCY_CONFLICT']);
    // concurrent: same key twice in one batch counts once; same client twice counts once
    const k2 = randomId('k');
    const c2 = randomId('c');
    const body = delta(s, 1);
    const [a, b, c] = await Promise.all([
      upload(s, body, { 'idempotency-key': k2, 'x-fedrank-client': c2 }),
      upload(s, body, { 'idempotency-key': k2, 'x-fedrank-client': c2 }),
      upload(s, delta(s, 3), { 'x-fedrank-client': c2 }),
    ]);
    expect([a.statusCode, b.statusCode, codeOf(c)]).toEqual([201, 200, 'UPDATE_ALREADY_CONTRIBUTED']);
    expect(s.aggregator.open!.acc.count).toBe(2);
  });

  it('BUDGET_EXHAUSTED: no round opens once one more would exceed the budget, and it says why', async () => {
    const s = await make({
      training: { noiseMultiplier: 1, clipNorm: 100 },
      rounds: { minClients: 1, maxClients: 1 },
      privacy: { epsilonBudget: 8 },
    });
    let closed = 0;
    while (s.aggregator.open && closed < 100) {
      expect((await upload(s, delta(s, 1))).statusCode).toBe(201);
      await s.aggregator.idle();
      closed++;
    }
    expect(s.aggregator.open).toBeNull();
    expect(s.aggregator.ledger.epsilon).toBeLessThanOrEqual(8);
    expect(closed).toBeGreaterThan(1);
    const r = await upload(s, delta(s, 1));
    expect([r.statusCode, codeOf(r)]).toEqual([409, 'BUDGET_EXHAUSTED']);
    expect(codeOf(r)).toBe('BUDGET_EXHAUSTED');
    const st = (await s.app.inject({ url: '/v1/admin/status', headers: auth })).json();
    expect(st.budgetExhausted).toBe(true);
    expect(st.roundNote).toMatch(/epsilon budget 8 .* would be exceeded/);
    expect(st.privacy.epsilonSpent).toBeLessThanOrEqual(8);
  });

  it('CONFIG_INVALID without an operator token, and for bad settings', async () => {
    const prev = process.env.FEDRANK_OPERATOR_TOKEN;
    delete process.env.FEDRANK_OPERATOR_TOKEN;
    try {
      const cfg = testConfig();
      delete cfg.operatorToken;
      await expect(buildServer(cfg, { logger: false })).rejects.toThrow(/CONFIG|operator token/);
      cfg.operatorToken = 'short';
      await expect(buildServer(cfg, { logger: false })).rejects.toThrow(/at least 16/);
    } finally {
      if (prev !== undefined) process.env.FEDRANK_OPERATOR_TOKEN = prev;
    }
    expect(() => testConfig({ rounds: { minClients: 5, maxClients: 2 } })).toThrow(/rounds.maxClients/);
    expect(() => testConfig({ port: 'x' })).toThrow(/CONFIG|port/);
    expect(() => testConfig({ nope: 1 })).toThrow(/nope: unknown key/);
  });

  it('STORE_CORRUPT for a database of another schema; CONFIG_INVALID for another model', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fedrank-'));
    dirs.push(dir);
    const db = join(dir, 'x.db');
    const s = await buildServer(testConfig({ db }), { logger: false });
    await s.close();
    await expect(
      buildServer(testConfig({ db, model: { spec: { dim: 3 } } }), { logger: false }),
    ).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
    const raw = new Database(db);
    raw.prepare(`UPDATE meta SET value = '99' WHERE key = 'schema'`).run();
    raw.close();
    await expect(buildServer(testConfig({ db }), { logger: false })).rejects.toMatchObject({
      code: 'STORE_CORRUPT',
    });
  });
});
