import { describe, expect, it } from 'vitest';
import { addDiscreteGaussian, sampleDiscreteGaussian, sampleDiscreteLaplace } from './discrete-gaussian.ts';
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

describe('discrete Gaussian sampler (Canonne-Kamath-Steinke), crypto source', () => {
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

  it('discrete Laplace with scale t = 5 has variance 2e^{-1/t}/(1-e^{-1/t})^2', () => {
    const t = 5;
    const r = new RandomWords();
    const x = new Int32Array(200_000).map(() => sampleDiscreteLaplace(r, t));
    const q = Math.exp(-1 / t);
    const v = (2 * q) / (1 - q) ** 2;
    expect(Math.abs(moments(x).variance / v - 1)).toBeLessThan(0.03);
  });

  it('refuses a non-integer or oversized variance', () => {
    expect(() => addDiscreteGaussian(new Int32Array(1), 2.5)).toThrow(RangeError);
    expect(() => addDiscreteGaussian(new Int32Array(1), 2 ** 30)).toThrow(RangeError);
  });
});
