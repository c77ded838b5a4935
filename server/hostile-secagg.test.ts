/**
 * Hostile input to the secure-aggregation relay routes of a live round: in each phase, mutated copies of
 * the valid message of that phase (bit flips, truncation, extension, random bytes, another slot, round or
 * type, another content type) are posted by the member that already sent it and by strangers, and the
 * slot and join routes get malformed paths and ids. None may crash the server (every answer a catalogued
 * error below 500) or be accepted, and the round's state (who sent what, the masked sum) is unchanged.
 */
import { describe, expect, it } from 'vitest';
import { ERRORS } from '../shared/errors.ts';
import { mulberry32 } from '../shared/model/spec.ts';
import { encodeMessage, SECAGG_CONTENT_TYPE } from '../shared/secagg/codec.ts';
import type { SecAggMessage } from '../shared/secagg/messages.ts';
import { buildServer, type FedrankServer } from './app.ts';
import { MemorySecAggStore } from './secagg/store-memory.ts';
import { randomId, testConfig } from './testing.ts';
import { secureMember, type SecureMember } from './testing-secure.ts';

const COHORT = 4;
const PER_PHASE = 100;

/** A mutation of the valid message `m` (bytes), by `r`. */
function mutant(m: SecAggMessage, r: () => number): Uint8Array {
  const n = (k: number): number => Math.floor(r() * k);
  const valid = encodeMessage(m);
  const b = valid.slice();
  switch (n(7)) {
    case 0: // flip 1-4 bits anywhere
      for (let i = 0, k = 1 + n(4); i < k; i++) b[n(b.length)]! ^= 1 << n(8);
      return b;
    case 1:
      return b.subarray(0, n(b.length));
    case 2:
      return Uint8Array.from([...b, ...Array.from({ length: 1 + n(64) }, () => n(256))]);
    case 3:
      return Uint8Array.from({ length: 1 + n(valid.length + 8) }, () => n(256));
    case 4: // another member's slot (the sender does not own it)
      return encodeMessage({ ...m, slot: 1 + ((m.slot + n(COHORT - 1)) % COHORT) });
    case 5: // another round
      return encodeMessage({ ...m, round: m.round + 1 + n(1000) });
    default: // the header of the first bytes kept, the rest random
      return Uint8Array.from(b, (x, i) => (i < 8 ? x : n(256)));
  }
}

describe('hostile secure-aggregation messages over HTTP', () => {
  it('mutated messages of every phase to a live round: 0 crashes, 0 accepted, round state unchanged', async () => {
    const store = new MemorySecAggStore();
    const s: FedrankServer = await buildServer(
      testConfig({
        training: { clipNorm: 1, noiseMultiplier: 1, noiseMode: 'distributed', expectedClientsPerRound: 3 },
        rounds: { minClients: 3, maxClients: COHORT },
        privacy: { secureAggregation: true },
      }),
      { logger: false, secAggStore: store },
    );
    try {
      const round = (await s.secure!.currentRound())!.round;
      const d = s.aggregator.model.paramCount;
      const members = Array.from({ length: COHORT }, () => secureMember(s, round));
      const r = mulberry32(14);
      const failures: string[] = [];
      const tally = new Map<string, number>();
      let total = 0;
      const check = (what: string, res: { statusCode: number; body: string }): void => {
        total++;
        let code: string | undefined;
        try {
          code = (JSON.parse(res.body) as { error?: { code?: string } }).error?.code;
        } catch {
          code = undefined;
        }
        const label = `${res.statusCode} ${code ?? '-'}`;
        tally.set(label, (tally.get(label) ?? 0) + 1);
        const known = code !== undefined && code in ERRORS;
        if (!known || res.statusCode >= 500 || ERRORS[code as keyof typeof ERRORS].status !== res.statusCode)
          failures.push(`${what}: ${label} ${res.body.slice(0, 120)}`);
      };
      const snapshot = async () => ({
        record: await store.loadRound(round),
        sum: await store.maskedSum(round),
      });
      /** Fuzzes phase messages `sent` (already sent by their members) while the round waits for the last one. */
      const fuzz = async (phase: string, sent: [SecureMember, SecAggMessage][]): Promise<void> => {
        const before = await snapshot();
        expect(before.record!.phase).toBe(phase);
        for (let i = 0; i < PER_PHASE; i++) {
          const [sender, m] = sent[i % sent.length]!;
          const stranger = i % 5 === 4;
          const res = await s.app.inject({
            method: 'POST',
            url: `/v1/secagg/rounds/${round}/messages`,
            headers: {
              'x-fedrank-client': stranger ? randomId('x') : sender.headers['x-fedrank-client']!,
              'content-type': i % 17 === 16 ? 'application/octet-stream' : SECAGG_CONTENT_TYPE,
            },
            payload: Buffer.from(mutant(m, r)),
          });
          check(`${phase}#${i}`, res);
        }
        // The valid message itself, replayed by its sender, is refused too (already sent this phase).
        check(`${phase} replay`, await sent[0]![0].post(sent[0]![1]));
        expect(await snapshot()).toEqual(before);
      };

      // Advertise: three of four have joined; the round waits for the fourth.
      const adverts: [SecureMember, SecAggMessage][] = [];
      for (const m of members.slice(0, 3)) adverts.push([m, await m.advertise()]);
      await fuzz('advertise', adverts);
      await members[3]!.advertise();
      const shares: [SecureMember, SecAggMessage][] = [];
      for (const m of members.slice(0, 3)) shares.push([m, await m.share()]);
      await fuzz('share', shares);
      await members[3]!.share();
      const masked: [SecureMember, SecAggMessage][] = [];
      const update = () => new Float32Array(d).map(() => (r() - 0.5) * 0.1);
      for (const m of members.slice(0, 3)) masked.push([m, await m.mask(update())]);
      await fuzz('mask', masked);
      await members[3]!.mask(update());
      const unmasks: [SecureMember, SecAggMessage][] = [[members[0]!, await members[0]!.unmask()]];
      if ((await store.loadRound(round))!.phase === 'unmask') await fuzz('unmask', unmasks);

      // Paths and ids: malformed rounds and slots, strangers polling slots, joins of a closed cohort.
      const h = { 'x-fedrank-client': randomId('x') };
      const own = members[1]!.headers;
      for (const [method, url, headers] of [
        ['GET', `/v1/secagg/rounds/${round}/slots/1`, h],
        ['GET', `/v1/secagg/rounds/${round}/slots/99999`, own],
        ['GET', `/v1/secagg/rounds/-1/slots/1`, own],
        ['GET', `/v1/secagg/rounds/${round}/slots/1e3`, own],
        ['GET', `/v1/secagg/rounds/99999999999`, own],
        ['POST', `/v1/secagg/rounds/${round}/join`, h],
        ['POST', `/v1/secagg/rounds/${round}/join`, { 'x-fedrank-client': 'bad id!' }],
        ['POST', `/v1/secagg/rounds/abc/join`, h],
        ['POST', `/v1/secagg/rounds/${round}/messages`, {}],
      ] as const)
        check(`${method} ${url}`, await s.app.inject({ method, url, headers }));

      console.log(`hostile secagg: ${total} requests`, Object.fromEntries(tally));
      expect(failures.slice(0, 5)).toEqual([]);
      // The round still completes with the four honest inputs.
      for (const m of members.slice(1)) {
        if ((await store.loadRound(round))!.phase !== 'unmask') break;
        await m.unmask();
      }
      await s.secure!.check();
      await s.aggregator.idle();
      expect(s.aggregator.version).toBe(1);
    } finally {
      await s.close();
    }
  });
});
