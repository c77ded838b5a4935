/**
 * Contribution tokens on the secure-aggregation join (POST /v1/secagg/rounds/:round/join pays for a
 * contribution, routes-tokens.ts): without a valid token, or with a token already spent, the join is
 * refused with its catalogue code and the cohort does not grow (no slot is taken, no key can be
 * advertised, the next paid join gets the first free slot).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ERRORS } from '../shared/errors.ts';
import { HEADER_IDEMPOTENCY_KEY } from '../shared/protocol.ts';
import { SecAggClientRound } from '../shared/secagg/client.ts';
import { tokenHeader } from '../shared/tokens/client.ts';
import { encodeToken } from '../shared/tokens/codec.ts';
import { buildServer, type FedrankServer } from './app.ts';
import { MemorySecAggStore } from './secagg/store-memory.ts';
import { randomId, testConfig } from './testing.ts';
import { runSecureRound, secureMember } from './testing-secure.ts';
import { shopTokens, TEST_SHOP_SECRET } from './tokens/testing.ts';

const servers: FedrankServer[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
});

const T0 = Date.parse('2026-03-04T05:06:07Z');
/** The clock of the server and the token client in this file. */
let now = T0;

async function make() {
  now = T0;
  const store = new MemorySecAggStore();
  const s = await buildServer(
    testConfig({
      training: { clipNorm: 1, noiseMultiplier: 1, noiseMode: 'distributed', expectedClientsPerRound: 3 },
      rounds: { minClients: 3, maxClients: 4 },
      privacy: { secureAggregation: true },
      tokens: { required: true, shopSecret: TEST_SHOP_SECRET, perSessionPerDay: 100 },
    }),
    { logger: false, clock: () => now, secAggStore: store },
  );
  servers.push(s);
  const round = (await s.secure!.currentRound())!.round;
  return { s, store, round };
}

/** The refusal's status and catalogue code; the status must be the catalogue's. */
function refusal(r: { statusCode: number; json(): unknown }): [number, string] {
  const code = (r.json() as { error: { code: keyof typeof ERRORS } }).error.code;
  expect(r.statusCode).toBe(ERRORS[code].status);
  return [r.statusCode, code];
}

const paid = (token: Parameters<typeof tokenHeader>[0], key = randomId('k')) => ({
  ...tokenHeader(token),
  [HEADER_IDEMPOTENCY_KEY]: key,
});

describe('tokens on the secure-aggregation join', () => {
  it('a join without a valid token is refused and takes no slot', async () => {
    const { s, store, round } = await make();
    const [real] = await shopTokens(s.app, 'update', 1, 'session-0001', now);
    const [evalToken] = await shopTokens(s.app, 'eval', 1, 'session-0002', now);
    const forged = { ...real!, signature: crypto.getRandomValues(new Uint8Array(real!.signature.length)) };
    const cases: [Record<string, string>, [number, string]][] = [
      [{ [HEADER_IDEMPOTENCY_KEY]: randomId('k') }, [401, 'TOKEN_REQUIRED']],
      [{ 'x-fedrank-token': encodeToken(forged) }, [403, 'TOKEN_INVALID']],
      [paid(evalToken!), [403, 'TOKEN_INVALID']], // a token for an eval report cannot pay for an update
      [{ 'x-fedrank-token': 'not-a-token' }, [403, 'TOKEN_INVALID']],
    ];
    for (const [headers, want] of cases) {
      const m = secureMember(s, round, headers);
      expect(refusal(await m.join())).toEqual(want);
      // Nothing was stored: the refused client holds no slot, so it cannot advertise keys into slot 1.
      const { message } = await SecAggClientRound.begin(round, 1);
      expect(refusal(await m.post(message))).toEqual([409, 'SECAGG_NOT_PARTICIPANT']);
    }
    expect(await store.adverts(round)).toEqual([]);
    expect(s.tokens.admitted).toEqual({ verified: 0, unverified: 0 });
    // A join to a secure round that is not open cannot succeed, so it spends nothing.
    const key = randomId('k');
    expect(refusal(await secureMember(s, round + 7, paid(real!, key)).join())).toEqual([
      409,
      'SECAGG_WRONG_PHASE',
    ]);
    // The cohort did not grow: the first paid join gets slot 1, and the real token was not spent before.
    const ok = secureMember(s, round, paid(real!, randomId('k')));
    await ok.advertise();
    expect(ok.slot).toBe(1);
    expect((await store.adverts(round)).map((a) => a.slot)).toEqual([1]);
  });

  it('a spent token is refused: for another contribution, and replayed under another client id', async () => {
    const { s, store, round } = await make();
    const [t, next] = await shopTokens(s.app, 'update', 2, 'session-0001', now);
    const key = randomId('k');
    const first = secureMember(s, round, paid(t!, key));
    await first.advertise();
    expect(first.slot).toBe(1);
    // The same token for another contribution (another idempotency key) is a second spend.
    expect(refusal(await secureMember(s, round, paid(t!)).join())).toEqual([409, 'TOKEN_SPENT']);
    // The same token and key (admitted as a retry) under another client id would be a second slot.
    expect(refusal(await secureMember(s, round, paid(t!, key)).join())).toEqual([409, 'TOKEN_SPENT']);
    // A real retry (same client, token and key) gets its own slot back, and costs nothing.
    const retry = await first.join();
    expect([retry.statusCode, retry.json()]).toEqual([200, { slot: 1 }]);
    // The cohort grew by exactly the one paid contribution.
    const second = secureMember(s, round, paid(next!));
    await second.advertise();
    expect(second.slot).toBe(2);
    expect((await store.adverts(round)).map((a) => a.slot).sort()).toEqual([1, 2]);
  });

  it('a joined token pays for one aggregation round: a retried secure round of it, not a later round', async () => {
    const { s, round } = await make();
    const d = s.aggregator.model.paramCount;
    const forRound = (await s.secure!.currentRound())!.forRound;
    const [t, ...cohort] = await shopTokens(s.app, 'update', 5, 'session-0001', now);
    const key = randomId('k');
    const first = secureMember(s, round, paid(t!, key));
    await first.advertise();
    now += 31_000; // alone past the advertise deadline: the secure round fails, a fresh one opens
    await s.secure!.check();
    const retried = (await s.secure!.currentRound())!;
    expect(retried).toEqual({ round: round + 1, forRound });
    // The same contribution joins the retried secure round of the same aggregation round: a replay.
    const again = secureMember(s, retried.round, { ...first.headers, ...paid(t!, key) });
    expect((await again.join()).statusCode).toBe(200);
    // Four other paid members complete that round, so the next aggregation round opens.
    now += 31_000; // the retried round fails too (one member): its successor is the one they complete
    await s.secure!.check();
    await runSecureRound(
      s,
      cohort.map(() => new Float32Array(d)),
      (i) => paid(cohort[i]!),
    );
    expect((await s.secure!.currentRound())!.forRound).toBe(forRound + 1);
    // The same token and key for the next aggregation round: a second spend, refused.
    const later = secureMember(s, (await s.secure!.currentRound())!.round, {
      ...first.headers,
      ...paid(t!, key),
    });
    expect(refusal(await later.join())).toEqual([409, 'TOKEN_SPENT']);
  });
});
