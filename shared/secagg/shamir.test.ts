import { describe, expect, it } from 'vitest';
import {
  combineShares,
  decodeShareY,
  encodeShareY,
  lagrangeAtZero,
  SHAMIR_PRIME,
  splitSecret,
} from './shamir.ts';

function secret(): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(32));
}

function subsets<T>(xs: T[], k: number): T[][] {
  if (k === 0) return [[]];
  if (xs.length < k) return [];
  const [h, ...rest] = xs;
  return [...subsets(rest, k - 1).map((s) => [h!, ...s]), ...subsets(rest, k)];
}

describe('Shamir t-of-n over F_65537', () => {
  it('recovers the secret from every subset of t shares (n = 7, t = 4)', () => {
    const s = secret();
    const shares = splitSecret(s, 4, [3, 9, 10, 11, 40, 77, 65536]);
    for (const sub of subsets(shares, 4)) expect(combineShares(sub)).toEqual(s);
  });

  it('recovers from any t of k = 25 neighbour shares, with t = 13 (random subsets)', () => {
    const s = secret();
    const xs = Array.from({ length: 25 }, (_, i) => 100 + 7 * i);
    const shares = splitSecret(s, 13, xs);
    for (let trial = 0; trial < 50; trial++) {
      const pick = [...shares].sort(() => Math.random() - 0.5).slice(0, 13);
      expect(combineShares(pick)).toEqual(s);
    }
  });

  it('t - 1 shares do not recover the secret, and are consistent with any other secret', () => {
    const s = secret();
    const shares = splitSecret(s, 5, [1, 2, 3, 4, 5, 6]);
    for (const sub of subsets(shares, 4)) expect(combineShares(sub)).not.toEqual(s);
    // Perfect hiding: the t - 1 shares at x = 1..4 plus one more share at x = 6 determine the secret, and as
    // that one share runs over the field, chunk 0 of the secret takes every value exactly once: so any
    // candidate secret is consistent with what t - 1 holders see.
    const sub = shares.slice(0, 4);
    const lambdas = lagrangeAtZero([...sub.map((x) => x.x), 6]);
    const known = sub.reduce((acc, sh, i) => (acc + lambdas[i]! * sh.y[0]!) % SHAMIR_PRIME, 0);
    const reached = new Set<number>();
    for (let v = 0; v < SHAMIR_PRIME; v++) reached.add((known + lambdas[4]! * v) % SHAMIR_PRIME);
    expect(reached.size).toBe(SHAMIR_PRIME);
  });

  it('share values are uniform in the field (chi-square over 16 bins)', () => {
    const bins = new Array(16).fill(0) as number[];
    const zero = new Uint8Array(32); // even for a constant secret
    let total = 0;
    for (let i = 0; i < 400; i++)
      for (const sh of splitSecret(zero, 3, [1, 2, 3, 4, 5]))
        for (const v of sh.y) {
          bins[Math.floor((v * 16) / SHAMIR_PRIME)]!++;
          total++;
        }
    const e = total / 16;
    const chi = bins.reduce((s, o) => s + (o - e) ** 2 / e, 0);
    expect(chi).toBeLessThan(45); // df = 15: p < 1e-4 above 45
  });

  it('encodes shares canonically and rejects values outside the field', () => {
    const [sh] = splitSecret(secret(), 1, [1]);
    expect(decodeShareY(encodeShareY(sh!.y))).toEqual(sh!.y);
    const badBytes = encodeShareY(sh!.y);
    new DataView(badBytes.buffer).setUint32(0, SHAMIR_PRIME, true);
    expect(decodeShareY(badBytes)).toBeNull();
  });

  it('refuses invalid thresholds and coordinates', () => {
    expect(() => splitSecret(secret(), 0, [1, 2])).toThrow(RangeError);
    expect(() => splitSecret(secret(), 3, [1, 2])).toThrow(RangeError);
    expect(() => splitSecret(secret(), 1, [0])).toThrow(RangeError);
    expect(() => splitSecret(secret(), 1, [2, 2])).toThrow(RangeError);
  });
});
