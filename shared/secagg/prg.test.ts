import { describe, expect, it } from 'vitest';
import { WordStream } from './prg.ts';

/** n uniform words (getRandomValues fills at most 64 KiB a call). */
function randomWords(n: number): Uint32Array {
  const out = new Uint32Array(n);
  for (let i = 0; i < n; i += 16384) crypto.getRandomValues(out.subarray(i, i + 16384));
  return out;
}

/** Lemire's method in exact BigInt arithmetic: the value for word w, or null when w is rejected. */
function reference(w: number, n: number): number | null {
  const m = BigInt(w) * BigInt(n);
  const lo = m & 0xffffffffn;
  return lo < 2n ** 32n % BigInt(n) ? null : Number(m >> 32n);
}

describe('WordStream.below', () => {
  it('takes each word exactly as the exact-integer reference does, rejections included', () => {
    const bounds = [1, 2, 3, 7, 1000, 323_255, 2 ** 21 - 1, 2 ** 21];
    for (const n of bounds) {
      const t = 2 ** 32 % n;
      // Edge words: 0, the largest, and words whose low part lands at and around the rejection threshold.
      const edges = [0, 1, 2 ** 32 - 1, Math.ceil((2 ** 32 - 1) / n), Math.floor(2 ** 32 / n)].map((w) =>
        Math.min(w, 2 ** 32 - 1),
      );
      const random = Array.from(crypto.getRandomValues(new Uint32Array(2000)));
      for (const w of [...edges, ...random]) {
        const want = reference(w, n);
        const s = new WordStream(Uint32Array.of(w, 7));
        const got = s.below(n);
        if (want === null)
          expect(got).toBe(reference(7, n)); // w rejected: the next word decides
        else expect(got).toBe(want);
      }
      expect(t).toBeLessThan(n);
    }
  });

  it('rejects the words whose low part is below 2^32 mod n (w = 0 at n = 3)', () => {
    expect(new WordStream(Uint32Array.of(0, 2 ** 31)).below(3)).toBe(1);
    expect(() => new WordStream(Uint32Array.of(0)).below(3)).toThrow(RangeError);
  });

  it('is uniform at a bound that does not divide 2^32 (chi-square, 6 bins)', () => {
    const s = new WordStream(randomWords(60_000));
    const bins = new Array<number>(6).fill(0);
    for (let i = 0; i < 60_000; i++) bins[s.below(6)]!++;
    const chi = bins.reduce((a, c) => a + (c - 10_000) ** 2 / 10_000, 0);
    expect(chi).toBeLessThan(25); // 5 degrees of freedom: P(chi2 > 25) < 2e-4
  });

  it('above 2^21 keeps the division method, also uniform in range', () => {
    const n = 2 ** 31 + 11;
    const s = new WordStream(crypto.getRandomValues(new Uint32Array(4000)));
    for (let i = 0; i < 1000; i++) {
      const v = s.below(n);
      expect(v >= 0 && v < n && Number.isInteger(v)).toBe(true);
    }
  });
});
