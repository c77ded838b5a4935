import { describe, expect, it } from 'vitest';
import { roundUp } from './encode.ts';
import { RandomWords } from './random.ts';

/** A RandomWords that returns `words` in order (then zeros). */
function scripted(words: number[]): RandomWords {
  let k = 0;
  return new RandomWords((w) => {
    for (let i = 0; i < w.length; i++) w[i] = k < words.length ? words[k++]! : 0;
  });
}

describe('randomized rounding from one word', () => {
  it('lets the first word decide away from the threshold, and the next 53 bits decide on a tie', () => {
    const frac = 0.3 + 2 ** -40; // frac 2^32 = 1288490188.8 + 2^-8: floor 1288490188
    const t = frac * 2 ** 32;
    const f = Math.floor(t);
    expect(roundUp(frac, scripted([f - 1]))).toBe(true);
    expect(roundUp(frac, scripted([f + 1]))).toBe(false);
    // Tie: U = (f + V) / 2^32 < frac exactly when V < t - f (about 0.8): V's first 21 bits, then 32 more.
    expect(roundUp(frac, scripted([f, 0, 0]))).toBe(true);
    expect(roundUp(frac, scripted([f, 0x1fffff, 0xffffffff]))).toBe(false);
    const edge = Math.floor((t - f) * 2 ** 21); // V just below and at/above t - f
    expect(roundUp(frac, scripted([f, edge - 1, 0]))).toBe(true);
    expect(roundUp(frac, scripted([f, edge + 1, 0]))).toBe(false);
  });

  it('rounds up with probability frac (cryptographic source, 5 sigma)', () => {
    const r = new RandomWords();
    for (const frac of [0, 0.001, 0.3, 0.5, 0.999]) {
      const n = 200_000;
      let ups = 0;
      for (let i = 0; i < n; i++) if (roundUp(frac, r)) ups++;
      const sd = Math.sqrt(n * frac * (1 - frac));
      expect(Math.abs(ups - n * frac)).toBeLessThanOrEqual(5 * sd + 1e-9);
    }
  });
});
