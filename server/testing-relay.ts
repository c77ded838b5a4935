/**
 * A shopper speaking the secure-aggregation relay protocol (join, the four client messages, slot polls)
 * with the shared SecAggClientRound, for tests, over a transport: a server's inject (one or several
 * in-process servers) or real HTTP (child processes). A transport may spread requests over processes.
 */
import { expect } from 'vitest';
import { HEADER_CLIENT_ID } from '../shared/protocol.ts';
import { SecAggClientRound } from '../shared/secagg/client.ts';
import { decodeMessage, encodeMessage, SECAGG_CONTENT_TYPE } from '../shared/secagg/codec.ts';
import type { Roster, SecAggMessage, SharesIn, UnmaskRequest } from '../shared/secagg/messages.ts';
import type { FedrankServer } from './app.ts';

/** One relay request. */
export interface RelayRequest {
  method: 'GET' | 'POST';
  path: string;
  headers: Record<string, string>;
  body?: Uint8Array;
}
/** Its answer. */
export interface RelayResponse {
  status: number;
  bytes: Uint8Array;
}
/** Carries relay requests to a server. */
export type Relay = (req: RelayRequest) => Promise<RelayResponse>;

/** Requests through `pick()`'s inject (in-process servers). */
export function injectRelay(pick: () => FedrankServer): Relay {
  return async (req) => {
    const res = await pick().app.inject({
      method: req.method,
      url: req.path,
      headers: req.headers,
      ...(req.body ? { payload: Buffer.from(req.body) } : {}),
    });
    return { status: res.statusCode, bytes: new Uint8Array(res.rawPayload) };
  };
}

/** The client id of test shopper `i`. */
export const relayId = (i: number): string => `shopper-${String(i).padStart(12, '0')}`;

const text = (b: Uint8Array): string => Buffer.from(b).toString();

/** Shopper `i` of secure round `round`, speaking through `relay`. */
export function relayShopper(relay: Relay, i: number, round: number) {
  const headers = { [HEADER_CLIENT_ID]: relayId(i) };
  let slot = 0;
  let c: SecAggClientRound;
  const base = `/v1/secagg/rounds/${round}`;
  const post = async (m: SecAggMessage): Promise<void> => {
    const res = await relay({
      method: 'POST',
      path: `${base}/messages`,
      headers: { ...headers, 'content-type': SECAGG_CONTENT_TYPE },
      body: encodeMessage(m),
    });
    expect(res.status, text(res.bytes)).toBe(202);
  };
  const poll = async <T extends SecAggMessage>(): Promise<T> => {
    let res = await relay({ method: 'GET', path: `${base}/slots/${slot}`, headers });
    // 204: the phase has not moved on yet (other shoppers' messages, or a deadline, are still due).
    for (let i = 0; i < 600 && res.status === 204; i++) {
      await new Promise((r) => setTimeout(r, 50));
      res = await relay({ method: 'GET', path: `${base}/slots/${slot}`, headers });
    }
    expect(res.status, text(res.bytes)).toBe(200);
    return decodeMessage(res.bytes) as T;
  };
  return {
    async advertise() {
      const res = await relay({ method: 'POST', path: `${base}/join`, headers });
      expect(res.status, text(res.bytes)).toBe(200);
      slot = (JSON.parse(text(res.bytes)) as { slot: number }).slot;
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
