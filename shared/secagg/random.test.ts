import { describe, expect, it } from 'vitest';
import { RandomWords } from './random.ts';

describe('exact random draws', () => {
  it('bernoulli(num, den) has probability num/den for large denominators (lazy one-word path)', () => {
    const r = new RandomWords();
    const den = 3_000_000_000_007;
    const num = 1_000_000_000_000;
    let hits = 0;
    const n = 200_000;
    for (let i = 0; i < n; i++) if (r.bernoulli(num, den)) hits++;
    const p = num / den;
    expect(Math.abs(hits / n - p)).toBeLessThan(5 * Math.sqrt((p * (1 - p)) / n));
  });

  it('decides exactly when the first word lands on the threshold', () => {
    // num/den = 1/3: T = 2^32/3 = 1431655765.33; a first word of 1431655765 leaves the remainder to decide,
    // which must be true with probability 1/3 (f < 0.33), whatever the double rounding did.
    const T = 1431655765;
    let calls = 0;
    const source = (w: Uint32Array): void => {
      crypto.getRandomValues(w);
      for (let i = 0; i < w.length; i += 2) w[i] = T; // every other word hits the threshold
      calls++;
    };
    const r = new RandomWords(source);
    let hits = 0;
    const n = 60_000;
    for (let i = 0; i < n; i++) if (r.bernoulli(1e12, 3e12)) hits++;
    expect(calls).toBeGreaterThan(0);
    expect(Math.abs(hits / n - 1 / 3)).toBeLessThan(5 * Math.sqrt(2 / 9 / n));
  });

  it('below(n) is uniform for small and large n', () => {
    const r = new RandomWords();
    for (const m of [3, 1000, 70_000, 2 ** 40 + 5]) {
      const bins = new Array(4).fill(0) as number[];
      for (let i = 0; i < 40_000; i++) bins[Math.floor((r.below(m) * 4) / m)]!++;
      if (m >= 1000) for (const b of bins) expect(Math.abs(b - 10_000)).toBeLessThan(500);
      else expect(bins.reduce((a, b) => a + b, 0)).toBe(40_000);
    }
  });
});
