import { afterEach, describe, expect, it } from 'vitest';
import { tokenHeader } from '../../shared/tokens/client.ts';
import { encodeToken } from '../../shared/tokens/codec.ts';
import { buildServer, type FedrankServer } from '../app.ts';
import { randomId, testConfig, TEST_TOKEN } from '../testing.ts';
import type { SqliteTokenStore } from './sqlite.ts';
import { shopTokens, TEST_SHOP_SECRET, uploadWith } from './testing.ts';

const servers: FedrankServer[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
});

const T0 = Date.parse('2026-03-04T05:06:07Z');
/** The clock of every server and device in this file. */
let now = T0;

async function make(over: Record<string, unknown> = {}): Promise<FedrankServer> {
  now = T0;
  const tokens = { required: true, shopSecret: TEST_SHOP_SECRET, perSessionPerDay: 100 };
  const cfg = testConfig({ ...over, tokens: { ...tokens, ...(over.tokens as object) } });
  const s = await buildServer(cfg, { logger: false, clock: () => now });
  servers.push(s);
  return s;
}

const getTokens = (s: FedrankServer, purpose: 'update' | 'eval', n: number, session = 'session-0001') =>
  shopTokens(s.app, purpose, n, session, now);

const evalReport = (s: FedrankServer, headers: Record<string, string> = {}) =>
  s.app.inject({
    method: 'POST',
    url: '/v1/eval',
    payload: { modelVersion: 0, examples: 5, hitsAt10: 5, ndcgAt10: 5 },
    headers: { 'x-fedrank-client': randomId('c'), ...headers },
  });

const code = (r: { json(): unknown }) => (r.json() as { error: { code: string } }).error.code;

describe('contribution tokens on uploads', () => {
  it('90 uploads from fake ids without tokens: 0 accepted, no round closes, the budget stays unspent', async () => {
    const s = await make({
      training: { clipNorm: 1, noiseMultiplier: 1, noiseMode: 'local', expectedClientsPerRound: 1 },
      privacy: { epsilonBudget: 10 },
    });
    const codes = new Map<string, number>();
    for (let i = 0; i < 90; i++) {
      const r = await uploadWith(s);
      codes.set(`${r.statusCode} ${code(r)}`, (codes.get(`${r.statusCode} ${code(r)}`) ?? 0) + 1);
    }
    await s.aggregator.idle();
    expect(codes).toEqual(new Map([['401 TOKEN_REQUIRED', 90]]));
    expect(s.aggregator.open!.acc.count).toBe(0);
    expect(s.aggregator.version).toBe(0);
    expect(s.aggregator.ledger.epsilon).toBe(0);
    expect(s.metrics.accepted).toBe(0);
    // Forged tokens fare no better: random bytes of a token's length under a real key id.
    const [real] = await getTokens(s, 'update', 1);
    for (let i = 0; i < 10; i++) {
      const forged = { ...real!, signature: crypto.getRandomValues(new Uint8Array(256)) };
      const r = await uploadWith(s, { 'x-fedrank-token': encodeToken(forged) });
      expect([r.statusCode, code(r)]).toEqual([403, 'TOKEN_INVALID']);
    }
    expect(s.aggregator.open!.acc.count).toBe(0);
  });

  it('rounds count token-verified uploads: minClients verified uploads close a round', async () => {
    const s = await make({ rounds: { minClients: 2, maxClients: 2 } });
    const tokens = await getTokens(s, 'update', 2);
    for (const t of tokens) expect((await uploadWith(s, tokenHeader(t))).statusCode).toBe(201);
    await s.aggregator.idle();
    expect(s.aggregator.version).toBe(1);
    expect(s.tokens.admitted).toEqual({ verified: 2, unverified: 0 });
  });

  it('a token is redeemed once; a retry of the same upload is a replay, not a second spend', async () => {
    const s = await make({ rounds: { minClients: 5, maxClients: 10 } });
    const [t] = await getTokens(s, 'update', 1);
    const key = randomId('k');
    const first = await uploadWith(s, { ...tokenHeader(t!), 'idempotency-key': key });
    expect(first.statusCode).toBe(201);
    const retry = await uploadWith(s, { ...tokenHeader(t!), 'idempotency-key': key });
    expect([retry.statusCode, retry.json().duplicate]).toEqual([200, true]);
    const again = await uploadWith(s, tokenHeader(t!));
    expect([again.statusCode, code(again)]).toEqual([409, 'TOKEN_SPENT']);
    await s.aggregator.idle();
    expect(s.aggregator.open!.acc.count).toBe(1);
  });

  it('one token, many concurrent uploads under other idempotency keys: exactly one is counted', async () => {
    const s = await make({ rounds: { minClients: 50, maxClients: 100 } });
    const [t] = await getTokens(s, 'update', 1);
    const replies = await Promise.all(Array.from({ length: 20 }, () => uploadWith(s, tokenHeader(t!))));
    const counts = new Map<number, number>();
    for (const r of replies) counts.set(r.statusCode, (counts.get(r.statusCode) ?? 0) + 1);
    expect(counts).toEqual(
      new Map([
        [201, 1],
        [409, 19],
      ]),
    );
    await s.aggregator.idle();
    expect(s.aggregator.open!.acc.count).toBe(1);
  });

  it('a token for eval reports does not pay for an update, nor the reverse', async () => {
    const s = await make();
    const [e] = await getTokens(s, 'eval', 1);
    const [u] = await getTokens(s, 'update', 1);
    const r = await uploadWith(s, tokenHeader(e!));
    expect([r.statusCode, code(r)]).toEqual([403, 'TOKEN_INVALID']);
    const r2 = await evalReport(s, tokenHeader(u!));
    expect([r2.statusCode, code(r2)]).toEqual([403, 'TOKEN_INVALID']);
  });

  it('tokens stay optional by default: an upload without one is accepted, unverified', async () => {
    const s = await make({ tokens: { required: false } });
    expect((await uploadWith(s)).statusCode).toBe(201);
    expect(s.tokens.admitted).toEqual({ verified: 0, unverified: 1 });
  });
});

describe('contribution tokens on eval reports', () => {
  it('forged eval reports are refused; one with an eval token counts once', async () => {
    const s = await make();
    const forged = await evalReport(s);
    expect([forged.statusCode, code(forged)]).toEqual([401, 'TOKEN_REQUIRED']);
    const [t] = await getTokens(s, 'eval', 1);
    expect((await evalReport(s, tokenHeader(t!))).statusCode).toBe(204);
    const twice = await evalReport(s, tokenHeader(t!));
    expect([twice.statusCode, code(twice)]).toEqual([409, 'TOKEN_SPENT']);
    const totals = await s.aggregator.store.evalTotals([0]);
    expect(totals[0]?.reports).toBe(1);
  });
});

describe('token issuance by the shop backend', () => {
  it('enforces the per-session quota per UTC day', async () => {
    const s = await make({ tokens: { perSessionPerDay: 3 } });
    expect(await getTokens(s, 'update', 2, 'session-A')).toHaveLength(2);
    await expect(getTokens(s, 'update', 2, 'session-A')).rejects.toMatchObject({
      code: 'TOKEN_QUOTA_EXCEEDED',
    });
    expect(await getTokens(s, 'update', 1, 'session-A')).toHaveLength(1);
    await expect(getTokens(s, 'update', 1, 'session-A')).rejects.toMatchObject({
      code: 'TOKEN_QUOTA_EXCEEDED',
    });
    expect(await getTokens(s, 'update', 3, 'session-B')).toHaveLength(3);
    now += 86_400_000;
    expect(await getTokens(s, 'update', 3, 'session-A')).toHaveLength(3);
  });

  it('refuses a wrong or missing shop secret, and everyone when none is configured', async () => {
    const s = await make();
    const body = { sessionId: 'session-0001', keyId: 'x', blindedMessages: [] };
    for (const auth of [undefined, 'Bearer wrong-secret-0123456789', TEST_SHOP_SECRET]) {
      const r = await s.app.inject({
        method: 'POST',
        url: '/v1/tokens/issue',
        payload: body,
        headers: auth ? { authorization: auth } : {},
      });
      expect([r.statusCode, code(r)]).toEqual([401, 'SHOP_UNAUTHORIZED']);
    }
    const none = await make({ tokens: { shopSecret: undefined } });
    const r = await none.app.inject({
      method: 'POST',
      url: '/v1/tokens/issue',
      payload: body,
      headers: { authorization: `Bearer ${TEST_SHOP_SECRET}` },
    });
    expect([r.statusCode, code(r)]).toEqual([401, 'SHOP_UNAUTHORIZED']);
  });

  it('never shows the shop secret, not even to the operator', async () => {
    const s = await make();
    const r = await s.app.inject({
      url: '/v1/admin/config',
      headers: { authorization: `Bearer ${TEST_TOKEN}` },
    });
    expect(r.json().tokens.shopSecret).toBe('(set)');
    expect(r.body).not.toContain(TEST_SHOP_SECRET);
  });

  it('publishes one key per epoch, the same to everyone, and forgets it and its spent nonces after', async () => {
    const s = await make({ tokens: { keyRotationDays: 1 } });
    const keysA = (await s.app.inject({ url: '/v1/tokens/keys' })).json();
    const keysB = (await s.app.inject({ url: '/v1/tokens/keys', remoteAddress: '10.0.0.9' })).json();
    expect(keysA).toEqual(keysB);
    expect(keysA.keys).toHaveLength(1);
    const [t] = await getTokens(s, 'update', 1, 'session-0001');
    expect((await uploadWith(s, tokenHeader(t!))).statusCode).toBe(201);
    const store = s.tokens.store as SqliteTokenStore;
    expect(store.counts().spent).toBe(1);
    now += 86_400_000; // next epoch: a new key issues, the old one still redeems
    const keys2 = (await s.app.inject({ url: '/v1/tokens/keys' })).json();
    expect(keys2.keys).toHaveLength(2);
    const [t2] = await getTokens(s, 'update', 1, 'session-0001');
    now += 2 * 86_400_000; // both epochs over: t2's key expired with its window
    const late = await uploadWith(s, tokenHeader(t2!));
    expect([late.statusCode, code(late)]).toEqual([403, 'TOKEN_INVALID']);
    await s.app.inject({ url: '/v1/tokens/keys' });
    expect(store.counts()).toMatchObject({ keys: 1, spent: 0 });
  });
});
