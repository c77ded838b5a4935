/**
 * The client state machine against the real coordinator: resume from persisted state at every step, and the
 * client's own refusals (non-neighbour roster, forged shares, below threshold, both kinds for one peer).
 */
import { describe, expect, it } from 'vitest';
import { isFedrankError } from '../../shared/errors.ts';
import { SecAggClientRound, type ClientRoundState } from '../../shared/secagg/client.ts';
import { decodeMessage, encodeMessage } from '../../shared/secagg/codec.ts';
import type { Roster, SecAggMessage, SharesIn, UnmaskRequest } from '../../shared/secagg/messages.ts';
import { ringAddInto } from '../../shared/secagg/ring.ts';
import { defaultSecAggConfig } from './config.ts';
import { SecAggCoordinator } from './coordinator.ts';
import { MemorySecAggStore } from './store-memory.ts';

const D = 256;
const N = 8;
const NOW = 5_000;

async function code(p: Promise<unknown> | (() => unknown)): Promise<string> {
  try {
    await (typeof p === 'function' ? p() : p);
    return 'accepted';
  } catch (e) {
    if (!isFedrankError(e)) throw e;
    return e.code;
  }
}

/** Opens a round of N clients with k = 4 and runs it to the share phase; every client persisted as state. */
async function setup() {
  const server = new SecAggCoordinator(new MemorySecAggStore(), { ...defaultSecAggConfig(), neighbours: 4 });
  await server.open(
    { round: 1, cohort: N, minSurvivors: 6, denominator: N, d: D, clipNorm: 1, noiseMultiplier: 1 },
    NOW,
  );
  const states = new Map<number, ClientRoundState>();
  for (let s = 1; s <= N; s++) {
    const { client, message } = await SecAggClientRound.begin(1, s);
    states.set(s, structuredClone(client.state())); // what a page writes to IndexedDB
    await server.receive(encodeMessage(message), NOW);
  }
  const wire = async <T extends SecAggMessage>(slot: number): Promise<T> =>
    decodeMessage(encodeMessage((await server.messageFor(1, slot))!)) as T;
  return { server, states, wire };
}

describe('SecAggClientRound', () => {
  it('resumes from persisted plain-data state at every step and the round still sums exactly', async () => {
    const { server, states, wire } = await setup();
    const step = async (
      slot: number,
      f: (c: SecAggClientRound) => Promise<SecAggMessage | { message: SecAggMessage; input: Uint32Array }>,
    ) => {
      const c = SecAggClientRound.resume(structuredClone(states.get(slot)!)); // a fresh page after navigation
      const out = await f(c);
      states.set(slot, structuredClone(c.state()));
      return out;
    };
    for (let s = 1; s <= N; s++) {
      const roster = await wire<Roster>(s);
      await server.receive(encodeMessage((await step(s, (c) => c.onRoster(roster))) as SecAggMessage), NOW);
    }
    const inputs: Uint32Array[] = [];
    for (let s = 1; s <= N; s++) {
      const sharesIn = await wire<SharesIn>(s);
      const out = (await step(s, (c) => c.onSharesIn(sharesIn, new Float32Array(D).fill(s / 1000)))) as {
        message: SecAggMessage;
        input: Uint32Array;
      };
      inputs.push(out.input);
      await server.receive(encodeMessage(out.message), NOW);
    }
    for (let s = 1; s <= N; s++) {
      if ((await server.tick(1, NOW)).phase === 'done') break;
      const req = await wire<UnmaskRequest>(s);
      await server.receive(
        encodeMessage((await step(s, async (c) => c.onUnmaskRequest(req))) as SecAggMessage),
        NOW,
      );
    }
    const result = server.takeResult(1)!;
    const bits = result.record.params.encoding.bits;
    const want = new Uint32Array(D);
    for (const x of inputs) ringAddInto(want, x, bits);
    expect(result.ringSum).toEqual(want);
    // Round secrets are wiped once a client has answered the unmask request.
    for (const s of result.record.unmasked) {
      const st = states.get(s)!;
      expect(st.phase).toBe('done');
      for (const k of [st.cSk, st.sSk, st.selfSeed]) expect(k.every((b) => b === 0)).toBe(true);
      expect(st.held).toEqual([]);
    }
  });

  it('refuses a roster that names a non-neighbour, and forged or misaddressed shares', async () => {
    const { states, wire } = await setup();
    const roster = await wire<Roster>(1);
    const mine = new Set(roster.peers.map((p) => p.slot));
    const stranger = [2, 3, 4, 5, 6, 7, 8].find((s) => !mine.has(s))!;
    const forged: Roster = {
      ...roster,
      peers: [...roster.peers, { slot: stranger, cPk: roster.peers[0]!.cPk, sPk: roster.peers[0]!.sPk }].sort(
        (a, b) => a.slot - b.slot,
      ),
    };
    expect(await code(SecAggClientRound.resume(states.get(1)!).onRoster(forged))).toBe('SECAGG_INCONSISTENT');

    const c1 = SecAggClientRound.resume(states.get(1)!);
    const sk = await c1.onRoster(roster);
    // A share sealed for the server instead of slot 1's neighbour does not open: the client aborts the round.
    const tampered: SharesIn = {
      type: 'shares-in',
      round: 1,
      slot: 1,
      shares: [{ peer: sk.shares[0]!.peer, sealed: sk.shares[0]!.sealed }],
    };
    tampered.shares[0]!.sealed[20]! ^= 1;
    expect(await code(c1.onSharesIn(tampered, new Float32Array(D)))).toBe('SECAGG_INCONSISTENT');
  });

  it('never reveals both kinds of shares for one peer, and refuses to unmask below t', async () => {
    const { server, states, wire } = await setup();
    for (let s = 1; s <= N; s++) {
      const c = SecAggClientRound.resume(states.get(s)!);
      await server.receive(encodeMessage(await c.onRoster(await wire<Roster>(s))), NOW);
      states.set(s, c.state());
    }
    const c1 = SecAggClientRound.resume(states.get(1)!);
    await c1.onSharesIn(await wire<SharesIn>(1), new Float32Array(D));
    const masked = c1.state();
    const peers = masked.maskedWith;
    const t = masked.params!.t;
    const asSurvivors: UnmaskRequest = {
      type: 'unmask-request',
      round: 1,
      slot: 1,
      survivors: peers,
      dropped: [],
    };
    const asDropped: UnmaskRequest = {
      type: 'unmask-request',
      round: 1,
      slot: 1,
      survivors: peers.slice(0, t),
      dropped: peers.slice(t),
    };
    const first = c1.onUnmaskRequest(asSurvivors);
    expect(first.shares.every((s) => s.kind === 'self-seed')).toBe(true);
    // The state a page persists after answering (before sending) refuses any second request.
    expect(await code(() => SecAggClientRound.resume(c1.state()).onUnmaskRequest(asDropped))).toBe(
      'SECAGG_WRONG_PHASE',
    );
    // Even a state with the phase rolled back keeps the record of what was revealed.
    const rolledBack = { ...c1.state(), phase: 'masked' as const, held: masked.held };
    expect(await code(() => SecAggClientRound.resume(rolledBack).onUnmaskRequest(asDropped))).toBe(
      'SECAGG_INCONSISTENT',
    );
    // Below threshold: fewer than t surviving neighbours.
    const few: UnmaskRequest = {
      ...asSurvivors,
      survivors: peers.slice(0, t - 1),
      dropped: peers.slice(t - 1),
    };
    expect(await code(() => SecAggClientRound.resume(masked).onUnmaskRequest(few))).toBe(
      'SECAGG_BELOW_THRESHOLD',
    );
    // A request that does not partition the neighbours it masked with.
    const partial: UnmaskRequest = { ...asSurvivors, survivors: peers.slice(1) };
    expect(await code(() => SecAggClientRound.resume(masked).onUnmaskRequest(partial))).toBe(
      'SECAGG_INCONSISTENT',
    );
  });
});
