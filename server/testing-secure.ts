/**
 * Cohort members that speak the secure-aggregation relay protocol over the server's HTTP routes (fastify
 * inject), for the integrity tests: honest members mask a model delta with the shared SecAggClientRound;
 * a malicious member follows the protocol but masks a ring vector of its own choosing (any value in
 * Z_{2^b} per coordinate, no clipping, no noise), which the server cannot tell from an honest input.
 * Tests only.
 */
import type { LightMyRequestResponse } from 'fastify';
import { HEADER_CLIENT_ID } from '../shared/protocol.ts';
import { SecAggClientRound } from '../shared/secagg/client.ts';
import { decodeMessage, encodeMessage, SECAGG_CONTENT_TYPE } from '../shared/secagg/codec.ts';
import { roundRotation } from '../shared/secagg/derive.ts';
import type {
  Roster,
  SecAggMessage,
  SecAggRoundParams,
  SharesIn,
  UnmaskRequest,
} from '../shared/secagg/messages.ts';
import { packRing, ringAddInto, ringSubInto, toRing, unpackRing } from '../shared/secagg/ring.ts';
import { rotate } from '../shared/secagg/rotation.ts';
import type { FedrankServer } from './app.ts';
import { randomId } from './testing.ts';

/** What a member masks: an honest delta, or a crafted ring vector computed from the round's parameters. */
export type MemberInput = Float32Array | ((p: SecAggRoundParams, round: number) => Promise<Uint32Array>);

/** One cohort member of secure round `round`; every step is one relay request (or a poll and a post). */
export function secureMember(s: FedrankServer, round: number, headers: Record<string, string> = {}) {
  const h = { [HEADER_CLIENT_ID]: randomId('m'), ...headers };
  let slot = 0;
  let c: SecAggClientRound;
  let params: SecAggRoundParams;
  const post = (m: SecAggMessage): Promise<LightMyRequestResponse> =>
    s.app.inject({
      method: 'POST',
      url: `/v1/secagg/rounds/${round}/messages`,
      headers: { ...h, 'content-type': SECAGG_CONTENT_TYPE },
      payload: Buffer.from(encodeMessage(m)),
    });
  const accepted = async (m: SecAggMessage): Promise<void> => {
    const res = await post(m);
    if (res.statusCode !== 202) throw new Error(`${m.type}: HTTP ${res.statusCode} ${res.body}`);
  };
  const poll = async <T extends SecAggMessage>(): Promise<T> => {
    const res = await s.app.inject({
      method: 'GET',
      url: `/v1/secagg/rounds/${round}/slots/${slot}`,
      headers: h,
    });
    if (res.statusCode !== 200) throw new Error(`slot ${slot}: HTTP ${res.statusCode} ${res.body}`);
    return decodeMessage(new Uint8Array(res.rawPayload)) as T;
  };
  return {
    headers: h,
    get slot(): number {
      return slot;
    },
    /** POST join; the raw reply (a token test reads its refusal). */
    join: (): Promise<LightMyRequestResponse> =>
      s.app.inject({ method: 'POST', url: `/v1/secagg/rounds/${round}/join`, headers: h }),
    /** Joins and advertises keys; returns the advertise-keys message sent. */
    async advertise(): Promise<SecAggMessage> {
      const res = await this.join();
      if (res.statusCode !== 200) throw new Error(`join: HTTP ${res.statusCode} ${res.body}`);
      slot = (res.json() as { slot: number }).slot;
      const b = await SecAggClientRound.begin(round, slot);
      c = b.client;
      await accepted(b.message);
      return b.message;
    },
    async share(): Promise<SecAggMessage> {
      const roster = await poll<Roster>();
      params = roster.params;
      const m = await c.onRoster(roster);
      await accepted(m);
      return m;
    },
    /** Masks `input`; a crafted input replaces the encoded update under the same masks. */
    async mask(input: MemberInput): Promise<SecAggMessage> {
      const sharesIn = await poll<SharesIn>();
      const e = params.encoding;
      const out = await c.onSharesIn(sharesIn, input instanceof Float32Array ? input : new Float32Array(e.d));
      if (!(input instanceof Float32Array)) {
        const y = unpackRing(out.message.data, e.d, e.bits)!;
        ringSubInto(y, out.input, e.bits);
        ringAddInto(y, await input(params, round), e.bits);
        out.message.data = packRing(y, e.bits);
      }
      await accepted(out.message);
      return out.message;
    },
    async unmask(): Promise<SecAggMessage> {
      const m = c.onUnmaskRequest(await poll<UnmaskRequest>());
      await accepted(m);
      return m;
    },
    /** POSTs any message as this member (hostile tests); the raw reply. */
    post,
  };
}

/** A member of secureMember's making. */
export type SecureMember = ReturnType<typeof secureMember>;

/**
 * Runs the open secure round to its end with one member per input (the cohort must be full: the server's
 * rounds.maxClients) and extra request headers per member (tokens), then lets the lifecycle merge the
 * result. Returns the members (for their messages).
 */
export async function runSecureRound(
  s: FedrankServer,
  inputs: MemberInput[],
  headers: (i: number) => Record<string, string> = () => ({}),
): Promise<SecureMember[]> {
  const { round } = (await s.secure!.currentRound())!;
  const members = inputs.map((_, i) => secureMember(s, round, headers(i)));
  for (const m of members) await m.advertise();
  for (const m of members) await m.share();
  for (const [i, m] of members.entries()) await m.mask(inputs[i]!);
  for (const m of members) {
    const phase = (await s.secure!.store.loadRound(round))!.phase;
    if (phase === 'done' || phase === 'failed') break;
    await m.unmask();
  }
  await s.secure!.check();
  await s.aggregator.idle();
  // The next secure round opens on the lifecycle's chain after the close: wait for it too.
  await s.secure!.check();
  return members;
}

/**
 * A malicious input: model-space `direction` rotated with the round's public rotation (so that the
 * server's decode puts it back on those coordinates), scaled so that its largest ring value is `fraction`
 * of the ring's half range. No clipping and no noise: what no honest encoding can produce.
 */
export function craftedInput(direction: Float32Array, fraction: number): MemberInput {
  return async (p, round) => {
    const e = p.encoding;
    const z = rotate(await roundRotation(p.seed, round, e.d), direction);
    let max = 0;
    for (const v of z) max = Math.max(max, Math.abs(v));
    const f = (fraction * (2 ** (e.bits - 1) - 1)) / max;
    return toRing(
      z.map((v) => Math.round(v * f)),
      e.bits,
    );
  };
}
