import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { HEADER_CLIENT_ID } from '../shared/protocol.ts';
import { SecAggClientRound } from '../shared/secagg/client.ts';
import { decodeMessage, encodeMessage, SECAGG_CONTENT_TYPE } from '../shared/secagg/codec.ts';
import type { Roster, SecAggMessage, SharesIn, UnmaskRequest } from '../shared/secagg/messages.ts';
import { HEADER_SECAGG_PHASE } from '../shared/secagg/phases.ts';
import { ringAddInto } from '../shared/secagg/ring.ts';
import { errorBody, toFedrankError } from './errors.ts';
import { registerSecAggRoutes } from './routes-secagg.ts';
import { defaultSecAggConfig } from './secagg/config.ts';
import { SecAggCoordinator } from './secagg/coordinator.ts';
import { MemorySecAggStore } from './secagg/store-memory.ts';

const D = 128;
const N = 5;

async function setup() {
  const store = new MemorySecAggStore();
  const coordinator = new SecAggCoordinator(store, defaultSecAggConfig());
  await coordinator.open(
    { round: 3, cohort: N, minSurvivors: 4, denominator: N, d: D, clipNorm: 1, noiseMultiplier: 1 },
    Date.now(),
  );
  const app = Fastify();
  app.setErrorHandler((err, _req, reply) => {
    const fe = toFedrankError(err);
    void reply.code(fe.status).send(errorBody(fe));
  });
  registerSecAggRoutes(app, { coordinator, store, d: D, neighbours: defaultSecAggConfig().neighbours });
  await app.ready();
  return { app, coordinator };
}

const id = (i: number): string => `client-${String(i).padStart(12, '0')}`;

describe('secure-aggregation HTTP relay', () => {
  it('runs a whole round over HTTP; the result is the exact sum of the inputs', async () => {
    const { app, coordinator } = await setup();
    const post = (who: number, m: SecAggMessage) =>
      app.inject({
        method: 'POST',
        url: '/v1/secagg/rounds/3/messages',
        headers: { [HEADER_CLIENT_ID]: id(who), 'content-type': SECAGG_CONTENT_TYPE },
        payload: Buffer.from(encodeMessage(m)),
      });
    const poll = async <T extends SecAggMessage>(who: number, slot: number): Promise<T> => {
      const res = await app.inject({
        method: 'GET',
        url: `/v1/secagg/rounds/3/slots/${slot}`,
        headers: { [HEADER_CLIENT_ID]: id(who) },
      });
      expect(res.statusCode).toBe(200);
      return decodeMessage(new Uint8Array(res.rawPayload)) as T;
    };
    const clients: { slot: number; c: SecAggClientRound }[] = [];
    for (let i = 1; i <= N; i++) {
      const res = await app.inject({
        method: 'POST',
        url: '/v1/secagg/rounds/3/join',
        headers: { [HEADER_CLIENT_ID]: id(i) },
      });
      const { slot } = res.json() as { slot: number };
      const { client, message } = await SecAggClientRound.begin(3, slot);
      expect((await post(i, message)).statusCode).toBe(202);
      if (i === 1) {
        // Nothing for the slot yet: the empty reply names the phase, so a waiting client asks nothing else.
        const empty = await app.inject({
          method: 'GET',
          url: `/v1/secagg/rounds/3/slots/${slot}`,
          headers: { [HEADER_CLIENT_ID]: id(i) },
        });
        expect(empty.statusCode).toBe(204);
        expect(empty.headers[HEADER_SECAGG_PHASE]).toBe('advertise');
      }
      clients.push({ slot, c: client });
    }
    for (const [i, { slot, c }] of clients.entries()) {
      expect((await post(i + 1, await c.onRoster(await poll<Roster>(i + 1, slot)))).statusCode).toBe(202);
      if (i === 0) {
        // Answered: the roster is not served again while the others answer theirs.
        const again = await app.inject({
          method: 'GET',
          url: `/v1/secagg/rounds/3/slots/${slot}`,
          headers: { [HEADER_CLIENT_ID]: id(1) },
        });
        expect(again.statusCode).toBe(204);
        expect(again.headers[HEADER_SECAGG_PHASE]).toBe('share');
      }
    }
    const want = new Uint32Array(D);
    let bits = 16;
    for (const [i, { slot, c }] of clients.entries()) {
      const out = await c.onSharesIn(await poll<SharesIn>(i + 1, slot), new Float32Array(D).fill(0.01 * i));
      bits = (out.message as { bits: number }).bits;
      ringAddInto(want, out.input, bits);
      expect((await post(i + 1, out.message)).statusCode).toBe(202);
    }
    for (const [i, { slot, c }] of clients.entries()) {
      const status = await app.inject({ method: 'GET', url: '/v1/secagg/rounds/3' });
      if ((status.json() as { phase: string }).phase === 'done') break;
      expect((await post(i + 1, c.onUnmaskRequest(await poll<UnmaskRequest>(i + 1, slot)))).statusCode).toBe(
        202,
      );
    }
    expect(coordinator.takeResult(3)!.ringSum).toEqual(want);
  });

  it('refuses other clients slots, bad bodies and content types with catalogued errors', async () => {
    const { app } = await setup();
    await app.inject({
      method: 'POST',
      url: '/v1/secagg/rounds/3/join',
      headers: { [HEADER_CLIENT_ID]: id(1) },
    });
    const { message } = await SecAggClientRound.begin(3, 1);
    const as = (who: number, payload: Uint8Array, type = SECAGG_CONTENT_TYPE) =>
      app.inject({
        method: 'POST',
        url: '/v1/secagg/rounds/3/messages',
        headers: { [HEADER_CLIENT_ID]: id(who), 'content-type': type },
        payload: Buffer.from(payload),
      });
    const stolen = await as(2, encodeMessage(message));
    expect(stolen.statusCode).toBe(409);
    expect(stolen.json().error.code).toBe('SECAGG_NOT_PARTICIPANT');
    const garbage = await as(1, crypto.getRandomValues(new Uint8Array(80)));
    expect(garbage.json().error.code).toBe('SECAGG_BAD_MESSAGE');
    const wrongType = await as(1, encodeMessage(message), 'application/octet-stream');
    expect(wrongType.statusCode).toBe(415);
    const peek = await app.inject({
      method: 'GET',
      url: '/v1/secagg/rounds/3/slots/1',
      headers: { [HEADER_CLIENT_ID]: id(2) },
    });
    expect(peek.json().error.code).toBe('SECAGG_NOT_PARTICIPANT');
    expect((await as(1, encodeMessage(message))).statusCode).toBe(202);
    expect((await as(1, encodeMessage(message))).json().error.code).toBe('SECAGG_NOT_PARTICIPANT'); // once per phase
  });
});
