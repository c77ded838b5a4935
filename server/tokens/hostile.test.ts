/**
 * Hostile token and issuance input: random and mutated redemption headers (20,000 through the admission
 * rule, a few hundred over HTTP) and mutated issuance bodies. None may crash (every refusal is a
 * catalogued error below 500), none may be accepted, and issuance never exceeds its quota.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { isFedrankError } from '../../shared/errors.ts';
import { mulberry32 } from '../../shared/model/spec.ts';
import { tokenHeader } from '../../shared/tokens/client.ts';
import { encodeToken, fromBase64Url, toBase64Url } from '../../shared/tokens/codec.ts';
import { buildServer, type FedrankServer } from '../app.ts';
import { constantDelta, randomId, testConfig } from '../testing.ts';
import { admitToken } from './admit.ts';
import { injectFetch, shopTokens, TEST_SHOP_SECRET } from './testing.ts';
import { currentTokenKey } from '../../shared/tokens/client.ts';
import { prepareTokens } from '../../shared/tokens/blind.ts';

/** A mutation of `valid` (base64url of a real token), or random text. */
function mutant(valid: Uint8Array, r: () => number): string {
  const n = (k: number) => Math.floor(r() * k);
  const b = valid.slice();
  switch (n(9)) {
    case 0: // flip 1-4 random bits anywhere
      for (let i = 0, m = 1 + n(4); i < m; i++) b[n(b.length)]! ^= 1 << n(8);
      return toBase64Url(b);
    case 1: // truncate
      return toBase64Url(b.subarray(0, n(b.length)));
    case 2: // extend
      return toBase64Url(new Uint8Array([...b, ...Array.from({ length: 1 + n(300) }, () => n(256))]));
    case 3: // random bytes of a plausible length
      return toBase64Url(Uint8Array.from({ length: 98 + 256 + n(3) - 1 }, () => n(256)));
    case 4: // the real key id and purpose, the rest random
      return toBase64Url(Uint8Array.from(b, (x, i) => (i < 34 ? x : n(256))));
    case 5: // another nonce under the real signature
      for (let i = 34; i < 66; i++) b[i] = n(256);
      return toBase64Url(b);
    case 6: // signature of zeros, ones, or n - 1 style extremes
      b.fill(n(2) ? 0 : 0xff, 98);
      return toBase64Url(b);
    case 7: // random text, not base64url
      return Array.from({ length: n(600) }, () => String.fromCharCode(32 + n(95))).join('');
    default: // swap the version or purpose byte
      b[n(2)] = n(256);
      return toBase64Url(b);
  }
}

describe('hostile tokens', () => {
  let s: FedrankServer;
  afterAll(async () => s?.close());

  it('20,000 random and mutated tokens: 0 crashes, 0 accepted; over HTTP the same', async () => {
    s = await buildServer(
      testConfig({
        tokens: { required: true, shopSecret: TEST_SHOP_SECRET, perSessionPerDay: 10 },
        rounds: { minClients: 1000, maxClients: 10_000 },
      }),
      { logger: false },
    );
    const [valid] = await shopTokens(s.app, 'update', 1);
    const raw = fromBase64Url(encodeToken(valid!))!;
    const ring = s.tokens.ring;
    let spends = 0;
    const deps = {
      redeemable: (id: string) => ring.redeemable(id),
      spend: async () => {
        spends += 1;
        return 'spent' as const;
      },
    };
    const r = mulberry32(14);
    const outcomes = new Map<string, number>();
    for (let i = 0; i < 20_000; i++) {
      const header = mutant(raw, r);
      if (header === encodeToken(valid!)) continue; // a mutation that changed nothing
      try {
        await admitToken({ header, purpose: 'update', required: true, binding: null }, deps);
        outcomes.set('accepted', (outcomes.get('accepted') ?? 0) + 1);
      } catch (err) {
        const k = isFedrankError(err) && err.status < 500 ? err.code : `CRASH ${String(err)}`;
        outcomes.set(k, (outcomes.get(k) ?? 0) + 1);
      }
    }
    // An empty mutant is no token at all (TOKEN_REQUIRED); everything else is TOKEN_INVALID.
    expect(outcomes.get('TOKEN_INVALID')).toBeGreaterThan(19_000);
    expect([...outcomes.keys()].filter((k) => k !== 'TOKEN_INVALID' && k !== 'TOKEN_REQUIRED')).toEqual([]);
    expect(spends).toBe(0);

    // Over HTTP, on both routes that redeem tokens.
    const a = s.aggregator;
    const body = Buffer.from(
      constantDelta({ modelId: a.model.modelId, baseVersion: 0, round: 1 }, a.model.paramCount, 0),
    );
    const statuses = new Map<number, number>();
    for (let i = 0; i < 300; i++) {
      const header = mutant(raw, r);
      const res = await s.app.inject(
        i % 2
          ? {
              method: 'POST',
              url: '/v1/updates',
              payload: body,
              headers: {
                'content-type': 'application/vnd.fedrank.tensor',
                'x-fedrank-client': randomId('c'),
                'idempotency-key': randomId('k'),
                'x-fedrank-token': header,
              },
            }
          : {
              method: 'POST',
              url: '/v1/eval',
              payload: { modelVersion: 0, examples: 1, hitsAt10: 1, ndcgAt10: 1 },
              headers: { 'x-fedrank-client': randomId('c'), 'x-fedrank-token': header },
            },
      );
      statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
    }
    for (const st of statuses.keys()) expect(st === 401 || st === 403).toBe(true);
    await a.idle();
    expect(a.open!.acc.count).toBe(0);
    // The real token still works once: hostile input spent nothing.
    const ok = await s.app.inject({
      method: 'POST',
      url: '/v1/updates',
      payload: body,
      headers: {
        'content-type': 'application/vnd.fedrank.tensor',
        'x-fedrank-client': randomId('c'),
        'idempotency-key': randomId('k'),
        ...tokenHeader(valid!),
      },
    });
    expect(ok.statusCode).toBe(201);
  });

  it('mutated issuance bodies: 0 crashes, proof of work never skipped, the session quota never exceeded', async () => {
    const key = await currentTokenKey('', injectFetch(s.app), Date.now());
    const { request } = await prepareTokens(key, 'update', 2);
    const r = mulberry32(15);
    const n = (k: number) => Math.floor(r() * k);
    const mutateBody = (): Record<string, unknown> => {
      const body: Record<string, unknown> = { ...request, sessionId: 'session-hostile-1' };
      const msgs = request.blindedMessages.map((m) => fromBase64Url(m)!);
      switch (n(6)) {
        case 0:
          msgs[0]![n(msgs[0]!.length)]! ^= 1 << n(8);
          break;
        case 1:
          msgs[0] = msgs[0]!.subarray(0, n(msgs[0]!.length));
          break;
        case 2:
          msgs[1] = new Uint8Array(msgs[1]!.length).fill(0xff); // not below the modulus
          break;
        case 3:
          body.keyId = toBase64Url(Uint8Array.from({ length: 32 }, () => n(256)));
          break;
        case 4:
          body[pickKey(body)] = [null, 1, 'x', {}, [], 'A'.repeat(5000)][n(6)];
          break;
        default:
          body.blindedMessages = Array.from({ length: n(40) }, () => toBase64Url(msgs[0]!));
      }
      if (!('blindedMessages' in body) || body.blindedMessages === request.blindedMessages)
        body.blindedMessages = msgs.map((m) => toBase64Url(m));
      return body;
    };
    const pickKey = (o: object): string => {
      const ks = Object.keys(o);
      return ks[n(ks.length)]!;
    };
    let signatures = 0;
    const statuses = new Map<number, number>();
    for (let i = 0; i < 300; i++) {
      const body = mutateBody();
      const shop = await s.app.inject({
        method: 'POST',
        url: '/v1/tokens/issue',
        headers: { authorization: `Bearer ${TEST_SHOP_SECRET}` },
        payload: body,
      });
      statuses.set(shop.statusCode, (statuses.get(shop.statusCode) ?? 0) + 1);
      if (shop.statusCode === 200) signatures += (shop.json().blindSignatures as string[]).length;
      const pow = await s.app.inject({
        method: 'POST',
        url: '/v1/tokens/pow',
        payload: {
          ...body,
          challenge: toBase64Url(new Uint8Array(40).fill(n(256))),
          solution: 'AAAAAAAAAAA',
        },
      });
      statuses.set(pow.statusCode, (statuses.get(pow.statusCode) ?? 0) + 1);
      expect(pow.statusCode).not.toBe(200);
    }
    expect([...statuses.keys()].every((st) => st < 500)).toBe(true);
    expect(statuses.get(400)).toBeGreaterThan(100);
    // Blind signatures on altered messages are legitimate (the issuer cannot tell); the quota bounds them.
    expect(signatures).toBeLessThanOrEqual(10);
  });
});
