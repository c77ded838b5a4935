/**
 * A shopper speaking the secure-aggregation relay protocol (join, the four client messages, slot polls)
 * over a server's HTTP routes with the shared SecAggClientRound, for tests. `pick` chooses the server of
 * each request, so a test can spread one shopper's requests over several processes.
 */
import { expect } from 'vitest';
import { HEADER_CLIENT_ID } from '../shared/protocol.ts';
import { SecAggClientRound } from '../shared/secagg/client.ts';
import { decodeMessage, encodeMessage, SECAGG_CONTENT_TYPE } from '../shared/secagg/codec.ts';
import type { Roster, SecAggMessage, SharesIn, UnmaskRequest } from '../shared/secagg/messages.ts';
import type { FedrankServer } from './app.ts';

/** The client id of test shopper `i`. */
export const relayId = (i: number): string => `shopper-${String(i).padStart(12, '0')}`;

/** Shopper `i` of secure round `round`; each request goes to `pick()`. */
export function relayShopper(pick: () => FedrankServer, i: number, round: number) {
  const headers = { [HEADER_CLIENT_ID]: relayId(i) };
  let slot = 0;
  let c: SecAggClientRound;
  const post = async (m: SecAggMessage): Promise<void> => {
    const res = await pick().app.inject({
      method: 'POST',
      url: `/v1/secagg/rounds/${round}/messages`,
      headers: { ...headers, 'content-type': SECAGG_CONTENT_TYPE },
      payload: Buffer.from(encodeMessage(m)),
    });
    expect(res.statusCode, res.body).toBe(202);
  };
  const poll = async <T extends SecAggMessage>(): Promise<T> => {
    const res = await pick().app.inject({
      method: 'GET',
      url: `/v1/secagg/rounds/${round}/slots/${slot}`,
      headers,
    });
    expect(res.statusCode).toBe(200);
    return decodeMessage(new Uint8Array(res.rawPayload)) as T;
  };
  return {
    get slot(): number {
      return slot;
    },
    async advertise() {
      const res = await pick().app.inject({
        method: 'POST',
        url: `/v1/secagg/rounds/${round}/join`,
        headers,
      });
      expect(res.statusCode, res.body).toBe(200);
      slot = (res.json() as { slot: number }).slot;
      const b = await SecAggClientRound.begin(round, slot);
      c = b.client;
      await post(b.message);
    },
    share: async () => post(await c.onRoster(await poll<Roster>())),
    /** Sends the masked input of `update`; returns its encoded input (what the ring sum must contain). */
    async mask(update: Float32Array): Promise<Uint32Array> {
      const out = await c.onSharesIn(await poll<SharesIn>(), update);
      await post(out.message);
      return out.input;
    },
    unmask: async () => post(c.onUnmaskRequest(await poll<UnmaskRequest>())),
  };
}

/** The secure round to join, as `s` names it. */
export async function currentSecureRound(s: FedrankServer): Promise<{ round: number; forRound: number }> {
  const res = await s.app.inject({ method: 'GET', url: '/v1/secagg/current' });
  expect(res.statusCode).toBe(200);
  return res.json();
}
