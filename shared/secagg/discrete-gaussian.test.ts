import { describe, expect, it } from 'vitest';
import {
  addDiscreteGaussian,
  buildDiscreteGaussianTable,
  sampleDiscreteGaussian,
  sampleFromTable,
} from './discrete-gaussian.ts';
import { RandomWords } from './random.ts';

function moments(x: Int32Array): { mean: number; variance: number; kurtosis: number } {
  let s = 0;
  for (const v of x) s += v;
  const mean = s / x.length;
  let m2 = 0;
  let m4 = 0;
  for (const v of x) {
    const d = v - mean;
    m2 += d * d;
    m4 += d ** 4;
  }
  m2 /= x.length;
  m4 /= x.length;
  return { mean, variance: m2, kurtosis: m4 / (m2 * m2) };
}

/** Exact variance of N_Z(0, s2): sum x^2 e^{-x^2/2s2} / sum e^{-x^2/2s2}. */
function exactVariance(s2: number): number {
  let num = 0;
  let den = 0;
  const lim = Math.ceil(40 * Math.sqrt(s2));
  for (let x = -lim; x <= lim; x++) {
    const w = Math.exp((-x * x) / (2 * s2));
    num += x * x * w;
    den += w;
  }
  return num / den;
}

describe('discrete Gaussian sampler (cumulative table, 96-bit), crypto source', () => {
  it.each([4, 37, 2500, 2982159])('has mean 0, variance s2 and Gaussian kurtosis at s2 = %i', (s2) => {
    const n = 200_000;
    const x = new Int32Array(n);
    addDiscreteGaussian(x, s2);
    const m = moments(x);
    const sd = Math.sqrt(exactVariance(s2));
    // 5-sigma tolerances: the mean's std is sd/sqrt(n), the variance's about s2*sqrt(2/n).
    expect(Math.abs(m.mean)).toBeLessThan((5 * sd) / Math.sqrt(n));
    expect(Math.abs(m.variance / exactVariance(s2) - 1)).toBeLessThan(5 * Math.sqrt(2 / n));
    expect(Math.abs(m.kurtosis - 3)).toBeLessThan(0.1);
  });

  it('matches the exact pmf at s2 = 3 (chi-square)', () => {
    const s2 = 3;
    const n = 100_000;
    const r = new RandomWords();
    const counts = new Map<number, number>();
    for (let i = 0; i < n; i++) {
      const v = Math.max(-6, Math.min(6, sampleDiscreteGaussian(r, s2)));
      counts.set(v, (counts.get(v) ?? 0) + 1);
    }
    let z = 0;
    for (let x = -200; x <= 200; x++) z += Math.exp((-x * x) / (2 * s2));
    const p = (x: number): number => Math.exp((-x * x) / (2 * s2)) / z;
    let chi = 0;
    for (let v = -6; v <= 6; v++) {
      let pv = p(v);
      if (Math.abs(v) === 6) for (let x = 7; x <= 200; x++) pv += p(x); // tails folded into the end bins
      const e = n * pv;
      chi += ((counts.get(v) ?? 0) - e) ** 2 / e;
    }
    expect(chi).toBeLessThan(40); // 12 degrees of freedom: p < 1e-4 above 40
  });

  it('the reference variance matches the Poisson-summation value at s2 = 1 (slightly below 1)', () => {
    // CKS 2020: Var N_Z(0, s2) < s2; by Poisson summation it is s2 (1 - 8 pi^2 s2 e^{-2 pi^2 s2}) + O(e^{-4 pi^2 s2}).
    const e = Math.exp(-2 * Math.PI ** 2);
    expect(Math.abs(exactVariance(1) - (1 - 8 * Math.PI ** 2 * e))).toBeLessThan(1e-12);
    expect(exactVariance(1)).toBeLessThan(1);
  });

  it.each([37, 293726])(
    'tabulates exp(-x^2/2s2)/Z to double precision at s2 = %i, tails beyond N < 2^-80',
    (s2) => {
      const t = buildDiscreteGaussianTable(s2);
      const F = (i: number): number =>
        i < 0 ? 0 : i >= t.hi.length ? 1 : t.hi[i]! / 2 ** 32 + t.mid[i]! / 2 ** 64 + t.lo[i]! / 2 ** 96;
      let z = 0;
      const lim = Math.ceil(40 * Math.sqrt(s2));
      for (let x = -lim; x <= lim; x++) z += Math.exp((-x * x) / (2 * s2));
      let worst = 0;
      for (let i = 0; i <= t.hi.length; i++) {
        const x = i - t.n;
        worst = Math.max(worst, Math.abs(F(i) - F(i - 1) - Math.exp((-x * x) / (2 * s2)) / z));
      }
      expect(worst).toBeLessThan(1e-15);
      expect(Math.exp((-t.n * t.n) / (2 * s2)) / z).toBeLessThan(2 ** -80);
    },
  );

  it('decides a tie on the high word exactly with the next 64 bits', () => {
    // Every draw's first word equals the high word of F(0) at s2 = 3: the value is 0 with probability
    // (F(0) - T 2^-32) 2^32 (the rest of the entry), else 1; the two words after it are uniform.
    const t = buildDiscreteGaussianTable(3);
    const T = t.hi[t.n]!;
    const pZero = t.mid[t.n]! / 2 ** 32 + t.lo[t.n]! / 2 ** 64;
    let k = 0;
    const source = (w: Uint32Array): void => {
      crypto.getRandomValues(w);
      for (let i = 0; i < w.length; i++, k++) if (k % 3 === 0) w[i] = T;
    };
    const r = new RandomWords(source);
    const n = 60_000;
    let zeros = 0;
    let others = 0;
    for (let i = 0; i < n; i++) {
      const v = sampleFromTable(t, r);
      if (v === 0) zeros++;
      else if (v !== 1) others++;
    }
    expect(others).toBe(0);
    expect(pZero).toBeGreaterThan(0.05);
    expect(Math.abs(zeros / n - pZero)).toBeLessThan(5 * Math.sqrt((pZero * (1 - pZero)) / n));
  });

  it('refuses a non-integer or oversized variance', () => {
    expect(() => addDiscreteGaussian(new Int32Array(1), 2.5)).toThrow(RangeError);
    expect(() => addDiscreteGaussian(new Int32Array(1), 2 ** 30)).toThrow(RangeError);
  });
});
