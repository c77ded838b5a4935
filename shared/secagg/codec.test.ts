import { describe, expect, it } from 'vitest';
import { isFedrankError } from '../errors.ts';
import { decodeMessage, encodeMessage, SEALED_SHARE_BYTES } from './codec.ts';
import type { SecAggMessage } from './messages.ts';
import { packRing } from './ring.ts';
import { bytesEqual } from './webcrypto.ts';

const rnd = (n: number): Uint8Array => crypto.getRandomValues(new Uint8Array(n));
const y = (): Uint32Array => Uint32Array.from({ length: 16 }, (_, i) => (i * 4099) % 65537);

/** One valid message of every type. */
export function sampleMessages(): SecAggMessage[] {
  const base = { round: 7, slot: 3 };
  const encoding = { d: 10, bits: 12, scale: 1234.5, clipNorm: 1, noiseVariance: 99, normBoundSq: 4e6 };
  return [
    { type: 'advertise-keys', ...base, cPk: rnd(32), sPk: rnd(32) },
    {
      type: 'roster',
      ...base,
      params: { n: 20, k: 4, t: 3, minSurvivors: 10, seed: rnd(32), encoding },
      peers: [1, 2, 9, 11].map((slot) => ({ slot, cPk: rnd(32), sPk: rnd(32) })),
    },
    {
      type: 'share-keys',
      ...base,
      shares: [1, 2, 9].map((peer) => ({ peer, sealed: rnd(SEALED_SHARE_BYTES) })),
    },
    { type: 'shares-in', ...base, shares: [2, 9].map((peer) => ({ peer, sealed: rnd(SEALED_SHARE_BYTES) })) },
    {
      type: 'masked-input',
      ...base,
      bits: 12,
      d: 10,
      data: packRing(
        Uint32Array.from({ length: 10 }, (_, i) => i * 400),
        12,
      ),
    },
    { type: 'unmask-request', ...base, survivors: [1, 9], dropped: [2] },
    {
      type: 'unmask',
      ...base,
      shares: [
        { of: 1, kind: 'self-seed', y: y() },
        { of: 2, kind: 'mask-key', y: y() },
      ],
    },
  ];
}

function rejects(bytes: Uint8Array): boolean {
  try {
    decodeMessage(bytes);
    return false;
  } catch (e) {
    if (!isFedrankError(e) || e.code !== 'SECAGG_BAD_MESSAGE') throw e; // anything else is a crash
    return true;
  }
}

describe('secure-aggregation codec', () => {
  it.each(sampleMessages().map((m) => [m.type, m] as const))('round-trips %s', (_t, m) => {
    const bytes = encodeMessage(m);
    expect(decodeMessage(bytes)).toEqual(m);
    expect(encodeMessage(decodeMessage(bytes))).toEqual(bytes);
  });

  it('rejects a message that reveals both kinds of shares for one peer', () => {
    const m = sampleMessages()[6] as Extract<SecAggMessage, { type: 'unmask' }>;
    m.shares = [
      { of: 1, kind: 'self-seed', y: y() },
      { of: 1, kind: 'mask-key', y: y() },
    ];
    expect(rejects(encodeMessage(m))).toBe(true);
  });

  it('rejects survivors that are also dropouts, own-slot peers and unsorted lists', () => {
    const bad: SecAggMessage[] = [
      { type: 'unmask-request', round: 1, slot: 3, survivors: [1, 2], dropped: [2] },
      { type: 'unmask-request', round: 1, slot: 3, survivors: [3], dropped: [] },
      { type: 'unmask-request', round: 1, slot: 3, survivors: [2, 1], dropped: [] },
      { type: 'share-keys', round: 1, slot: 3, shares: [{ peer: 3, sealed: rnd(SEALED_SHARE_BYTES) }] },
    ];
    for (const m of bad) expect(rejects(encodeMessage(m))).toBe(true);
  });

  it('fuzz: random bytes are never accepted and never crash', () => {
    let accepted = 0;
    for (let i = 0; i < 20_000; i++) if (!rejects(rnd(1 + (i % 300)))) accepted++;
    expect(accepted).toBe(0);
  });

  it('fuzz: truncations, extensions and header corruptions of valid messages are rejected, never crash', () => {
    for (const m of sampleMessages()) {
      const good = encodeMessage(m);
      for (let cut = 0; cut < good.length; cut++) expect(rejects(good.subarray(0, cut))).toBe(true);
      for (const extra of [1, 3, 64]) {
        const longer = new Uint8Array(good.length + extra);
        longer.set(good);
        expect(rejects(longer)).toBe(true);
      }
      for (let i = 0; i < 8; i++) {
        const b = good.slice();
        b[i] = b[i]! ^ 0xff; // magic, version, type, reserved
        if (i === 5) continue; // another valid type byte may still parse as a different message: checked below
        expect(rejects(b)).toBe(true);
      }
    }
  });

  it('fuzz: random byte flips of valid messages never crash, and whatever parses re-encodes to the same bytes', () => {
    let parsed = 0;
    for (const m of sampleMessages()) {
      const good = encodeMessage(m);
      for (let trial = 0; trial < 2000; trial++) {
        const b = good.slice();
        for (let k = 0; k < 1 + (trial % 4); k++)
          b[Math.floor(Math.random() * b.length)] = Math.floor(Math.random() * 256);
        if (!rejects(b)) {
          parsed++;
          // Canonical: one meaning per byte string.
          expect(bytesEqual(encodeMessage(decodeMessage(b)), b)).toBe(true);
        }
      }
    }
    expect(parsed).toBeGreaterThan(0); // flips inside keys and ciphertexts are well-formed by design
  });
});
