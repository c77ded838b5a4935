import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { finalizeTokens, importTokenKey, prepareTokens } from '../../shared/tokens/blind.ts';
import { currentTokenKey, tokenHeader, tokensByProofOfWork } from '../../shared/tokens/client.ts';
import { fromBase64Url, toBase64Url } from '../../shared/tokens/codec.ts';
import { checkPow, solvePow } from '../../shared/tokens/pow.ts';
import type { PowChallenge } from '../../shared/tokens/types.ts';
import { buildServer, type FedrankServer } from '../app.ts';
import { testConfig } from '../testing.ts';
import type { SqliteTokenStore } from './sqlite.ts';
import { injectFetch, shopTokens, TEST_SHOP_SECRET, uploadWith } from './testing.ts';

const servers: FedrankServer[] = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const T0 = Date.parse('2026-03-04T05:06:07Z');
let now = T0;

async function make(tokens: Record<string, unknown> = {}, over: Record<string, unknown> = {}) {
  now = T0;
  const base = { required: true, shopSecret: TEST_SHOP_SECRET, powDifficulty: 8, powPerIpPerDay: 3 };
  const s = await buildServer(testConfig({ ...over, tokens: { ...base, ...tokens } }), {
    logger: false,
    clock: () => now,
  });
  servers.push(s);
  return s;
}

const code = (r: { json(): unknown }) => (r.json() as { error: { code: string } }).error.code;

/** A solved proof-of-work issuance body for `count` update tokens, and the challenge it used. */
async function powBody(s: FedrankServer, count: number, ip = '127.0.0.1') {
  const fetch = injectFetch(s.app, ip);
  const key = await currentTokenKey('', fetch, now);
  const { request } = await prepareTokens(key, 'update', count);
  const ch = (await s.app.inject({ url: '/v1/tokens/challenge' })).json() as PowChallenge;
  const solution = await solvePow(ch.challenge, ch.difficulty, request.blindedMessages);
  return { ...request, challenge: ch.challenge, solution };
}

const pow = (s: FedrankServer, body: unknown, ip = '127.0.0.1') =>
  s.app.inject({ method: 'POST', url: '/v1/tokens/pow', payload: body as object, remoteAddress: ip });

describe('proof-of-work issuance', () => {
  it('a solved challenge buys tokens that redeem', async () => {
    const s = await make();
    const tokens = await tokensByProofOfWork({
      baseUrl: '',
      fetch: injectFetch(s.app),
      purpose: 'update',
      count: 2,
      nowMs: now,
    });
    for (const t of tokens) expect((await uploadWith(s, tokenHeader(t))).statusCode).toBe(201);
  });

  it('refuses a wrong solution, a forged or expired challenge, and a challenge used twice', async () => {
    const s = await make();
    const body = await powBody(s, 1);
    // The first counter after the solution that does not solve it (most do not: 255 in 256).
    let n = Buffer.from(body.solution, 'base64url').readBigUInt64BE() + 1n;
    const at = (i: bigint) =>
      toBase64Url(Uint8Array.from(Buffer.from(i.toString(16).padStart(16, '0'), 'hex')));
    while (await checkPow(body.challenge, 8, body.blindedMessages, at(n))) n += 1n;
    const wrong = await pow(s, { ...body, solution: at(n) });
    expect([wrong.statusCode, code(wrong)]).toEqual([403, 'TOKEN_POW_INVALID']);
    const forgedChallenge = fromBase64Url(body.challenge)!;
    forgedChallenge[0]! ^= 1;
    const forged = await pow(s, { ...body, challenge: toBase64Url(forgedChallenge) });
    expect([forged.statusCode, code(forged)]).toEqual([403, 'TOKEN_POW_INVALID']);
    const first = await pow(s, body);
    expect(first.statusCode).toBe(200);
    const again = await pow(s, body);
    expect([again.statusCode, code(again)]).toEqual([403, 'TOKEN_POW_INVALID']);
    expect(again.json().error.message).toMatch(/already used/);
    const late = await powBody(s, 1);
    now += 16 * 60_000;
    const expired = await pow(s, late);
    expect([expired.statusCode, expired.json().error.message]).toEqual([
      403,
      expect.stringMatching(/expired/),
    ]);
  });

  it('the work covers the blinded messages: a solution cannot be moved to other messages', async () => {
    const s = await make();
    const body = await powBody(s, 1);
    let other = await powBody(s, 1);
    // Other messages that this counter happens to solve too (chance 2^-8) would prove nothing.
    while (await checkPow(body.challenge, 8, other.blindedMessages, body.solution))
      other = await powBody(s, 1);
    const moved = await pow(s, { ...body, blindedMessages: other.blindedMessages });
    expect([moved.statusCode, code(moved)]).toEqual([403, 'TOKEN_POW_INVALID']);
    expect((await pow(s, body)).statusCode).toBe(200);
  });

  it('enforces the per-address quota per day, and can be turned off', async () => {
    const s = await make({ powPerIpPerDay: 3 });
    expect((await pow(s, await powBody(s, 2))).statusCode).toBe(200);
    const over = await pow(s, await powBody(s, 2));
    expect([over.statusCode, code(over)]).toEqual([429, 'TOKEN_QUOTA_EXCEEDED']);
    expect((await pow(s, await powBody(s, 2, '10.1.2.3'), '10.1.2.3')).statusCode).toBe(200);
    const off = await make({ powPerIpPerDay: 0 });
    expect((await off.app.inject({ url: '/v1/tokens/challenge' })).statusCode).toBe(404);
  });

  it('refuses issuance for any key but the current one', async () => {
    const s = await make();
    const body = await powBody(s, 1);
    const r = await pow(s, { ...body, keyId: toBase64Url(new Uint8Array(32)) });
    expect(r.statusCode).toBe(403);
  });
});

describe('unlinkability', () => {
  it('nothing the server stores after issuance and redemption links a redemption to an issuance', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fedrank-unlink-'));
    dirs.push(dir);
    const s = await make({}, { db: join(dir, 'fedrank.db') });
    const sessions = ['session-alice-0001', 'session-bob-00002'];
    const issued: string[] = [];
    const tokens = [];
    for (const session of sessions) {
      // Capture what the issuer saw: the blinded messages and its blind signatures.
      const fetch = injectFetch(s.app);
      const key = await currentTokenKey('', fetch, now);
      const { request, pending } = await prepareTokens(key, 'update', 2);
      const reply = await s.app.inject({
        method: 'POST',
        url: '/v1/tokens/issue',
        headers: { authorization: `Bearer ${TEST_SHOP_SECRET}` },
        payload: { ...request, sessionId: session },
      });
      issued.push(session, ...request.blindedMessages, ...reply.json().blindSignatures);
      tokens.push(...(await finalizeTokens(key, pending, reply.json())));
    }
    const powTokens = await tokensByProofOfWork({
      baseUrl: '',
      fetch: injectFetch(s.app),
      purpose: 'update',
      count: 1,
      nowMs: now,
    });
    for (const t of [...tokens, ...powTokens])
      expect((await uploadWith(s, tokenHeader(t))).statusCode).toBe(201);
    await s.aggregator.idle();

    const store = s.tokens.store as SqliteTokenStore;
    const dump = store.dump();
    const values = (rows: unknown[]) =>
      new Set(rows.flatMap((r) => Object.values(r as object)).filter((v) => typeof v === 'string'));
    const redemption = values(dump.spent);
    const issuance = new Set([...values(dump.quota), ...values(dump.challenges)]);
    // Redemption rows hold the key id (the same for every device this epoch), nonces and bindings.
    expect(dump.spent).toHaveLength(5);
    for (const v of issuance) expect(redemption.has(v)).toBe(false);
    // Issuance rows are per-session counters under a keyed hash: no session id, no blinded message.
    expect(dump.quota).toHaveLength(3);
    expect(dump.quota.map((r) => (r as { count: number }).count).sort()).toEqual([1, 2, 2]);
    // Neither database file holds a session id or any byte string the issuer saw.
    const files = ['fedrank.db', 'fedrank.tokens.db'].map((f) => readFileSync(join(dir, f)));
    for (const v of issued) {
      const probe = v.length > 40 ? Buffer.from(fromBase64Url(v)!.subarray(0, 24)) : Buffer.from(v);
      for (const f of files) expect(f.includes(probe)).toBe(false);
    }
    // The same key signs for everyone: one key, whose id is the only value both sides know.
    expect(s.tokens.ring.published().keys).toHaveLength(1);
    const key = await importTokenKey(s.tokens.ring.published().keys[0]!);
    expect(new Set(tokens.map((t) => toBase64Url(t.keyId)))).toEqual(new Set([key.info.keyId]));
  });
});
