import { describe, expect, it } from 'vitest';
import { DEFAULT_ORDERS, ORDER_SETS, computeRdp, logAFormulas, rdpCurve, rdpOneStep } from './rdp.ts';
import { logAdd, logErfc } from './special.ts';

/**
 * Brute force: log A_alpha = log of the integral of N(z; 0, s^2) * ((1-q) + q exp((2z-1)/(2s^2)))^alpha dz,
 * the Renyi moment of the subsampled Gaussian, by the trapezoid rule in log space (spectrally accurate for
 * this smooth, fast-decaying integrand).
 */
function logANumeric(q: number, sigma: number, alpha: number): number {
  const var2 = 2 * sigma * sigma;
  const logNorm = -Math.log(sigma * Math.sqrt(2 * Math.PI));
  const lo = -25 * sigma;
  const hi = alpha + 25 * sigma;
  const h = sigma / 100;
  let acc = -Infinity;
  for (let z = lo; z <= hi; z += h) {
    const logRatio = logAdd(Math.log1p(-q), Math.log(q) + (2 * z - 1) / var2);
    acc = logAdd(acc, logNorm - (z * z) / var2 + alpha * logRatio);
  }
  return acc + Math.log(h);
}

/**
 * The exact two-series expansion of A_alpha (Mironov et al. 2019, Sec. 3.3) with SIGNED binomial
 * coefficients, summed in linear scale: an oracle for the series machinery (z0 split, log erfc).
 */
function logASignedSeries(q: number, sigma: number, alpha: number): number {
  const z0 = sigma ** 2 * Math.log(1 / q - 1) + 0.5;
  const twoVar = 2 * sigma ** 2;
  let sum = 0;
  let logAbsCoef = 0;
  let sign = 1;
  for (let i = 0; i < 2000; i++) {
    if (i > 0) {
      logAbsCoef += Math.log(Math.abs(alpha - i + 1)) - Math.log(i);
      if (alpha - i + 1 < 0) sign = -sign;
    }
    const j = alpha - i;
    const l0 = logAbsCoef + i * Math.log(q) + j * Math.log1p(-q) + (i * i - i) / twoVar;
    const l1 = logAbsCoef + j * Math.log(q) + i * Math.log1p(-q) + (j * j - j) / twoVar;
    const t0 = Math.exp(l0 + logErfc((i - z0) / (Math.SQRT2 * sigma))) / 2;
    const t1 = Math.exp(l1 + logErfc((z0 - j) / (Math.SQRT2 * sigma))) / 2;
    sum += sign * (t0 + t1);
    if (i > alpha + 5 && t0 + t1 < 1e-18 * Math.abs(sum)) break;
  }
  return Math.log(sum);
}

describe('order sets', () => {
  it('have the sizes and ends of their definitions', () => {
    expect(ORDER_SETS.O1.length).toBe(10 + 59 + 3);
    expect(ORDER_SETS.O2.length).toBe(99 + 52);
    expect(ORDER_SETS.O2).not.toContain(11);
    expect(ORDER_SETS.O3.length).toBe(99 + 53 + 4);
    expect(ORDER_SETS.O3.slice(-4)).toEqual([128, 256, 512, 1024]);
    expect(ORDER_SETS.O4).toEqual(Array.from({ length: 31 }, (_, i) => i + 2));
    expect(ORDER_SETS.FINE.length).toBe(99_000);
    expect(ORDER_SETS.FINE[0]).toBe(1);
    expect(ORDER_SETS.FINE.at(-1)).toBeCloseTo(99.999, 12);
    expect(DEFAULT_ORDERS).toBe(ORDER_SETS.O3);
    expect(Object.isFrozen(ORDER_SETS.O3)).toBe(true);
  });
});

describe('rdpOneStep', () => {
  it('is alpha / (2 sigma^2) without subsampling (q = 1)', () => {
    for (const sigma of [0.5, 1, 2.71828, 10])
      for (const a of [1.5, 2, 3.14159, 32, 1024])
        expect(rdpOneStep(1, sigma, a)).toBeCloseTo(a / (2 * sigma ** 2), 12);
  });

  it('is 0 when nothing is sampled and Infinity without noise', () => {
    expect(rdpOneStep(0, 1, 5)).toBe(0);
    expect(rdpOneStep(0, 0, 5)).toBe(0);
    expect(rdpOneStep(0.1, 0, 5)).toBe(Infinity);
    expect(rdpOneStep(0.1, 1, Infinity)).toBe(Infinity);
  });

  it('rejects out-of-range inputs', () => {
    expect(() => rdpOneStep(1.5, 1, 2)).toThrow(RangeError);
    expect(() => rdpOneStep(-0.1, 1, 2)).toThrow(RangeError);
    expect(() => rdpOneStep(0.1, -1, 2)).toThrow(RangeError);
    expect(() => rdpOneStep(0.1, 1, 0.5)).toThrow(RangeError);
    expect(() => rdpOneStep(NaN, 1, 2)).toThrow(RangeError);
  });

  // dp_accounting rdp_privacy_accountant_test.py test_compute_rdp_poisson_sampled_gaussian (rtol 1e-4).
  it('matches dp_accounting at integer, fractional and infinite orders', () => {
    const orders = [1.5, 2.5, 5, 50, 100, Infinity];
    const want = [6.70579741e-4, 1.0854871e-3, 2.18075656e-3, 2.38460375e-2, 1.67416308e2, Infinity];
    const got = computeRdp(0.01, 2.5, 50, orders);
    got.forEach((g, k) => {
      if (want[k] === Infinity) expect(g).toBe(Infinity);
      else expect(Math.abs(g - want[k]!) / want[k]!).toBeLessThan(1e-4);
    });
  });

  it.each([
    [0.01, 1, 7],
    [0.1, 2, 10],
    [0.5, 0.8, 4],
    [0.001, 0.5, 6],
    [0.05, 1.3, 32],
  ])(
    'integer order equals numeric integration of the Renyi moment (q=%f, sigma=%f, alpha=%f)',
    (q, sigma, a) => {
      const brute = logANumeric(q, sigma, a) / (a - 1);
      expect(Math.abs(rdpOneStep(q, sigma, a) - brute)).toBeLessThanOrEqual(1e-9 * Math.max(brute, 1e-6));
    },
  );

  it.each([
    [0.01, 1, 2.5],
    [0.1, 2, 10.5],
    [0.5, 0.8, 3.7],
    [0.001, 0.5, 6.25],
    [0.05, 1.3, 32.25],
    [0.2, 4, 1.5],
  ])(
    'fractional order bounds numeric integration from above, as dp_accounting (q=%f, sigma=%f, alpha=%f)',
    (q, sigma, a) => {
      const brute = logANumeric(q, sigma, a) / (a - 1);
      // The signed two-series expansion is the exact moment; dp_accounting sums |terms|, an upper bound.
      expect(Math.abs(logASignedSeries(q, sigma, a) / (a - 1) - brute)).toBeLessThanOrEqual(
        1e-9 * Math.max(brute, 1e-6),
      );
      expect(rdpOneStep(q, sigma, a)).toBeGreaterThanOrEqual(brute * (1 - 1e-9));
    },
  );

  it('is within 1% of the exact moment at fractional orders when q is small', () => {
    for (const a of [1.5, 2.5, 7.3]) {
      const brute = logANumeric(0.001, 1, a) / (a - 1);
      expect(Math.abs(rdpOneStep(0.001, 1, a) - brute) / brute).toBeLessThan(1e-2);
    }
  });

  it('gives the same value from the series formula as from the binomial one at integer orders', () => {
    for (const [q, sigma] of [
      [0.01, 1],
      [0.1, 2],
      [0.5, 0.8],
      [0.05, 1.3],
    ] as const) {
      for (const a of [2, 3, 5, 10, 20, 64]) {
        const exact = logAFormulas.integer(q, sigma, a);
        expect(Math.abs(logAFormulas.series(q, sigma, a) - exact)).toBeLessThan(1e-12 * Math.max(1, exact));
      }
    }
  });

  it('puts fractional orders between their integer neighbours (monotone, and convex in (alpha-1)*RDP)', () => {
    const violations: string[] = [];
    for (const [q, sigma] of [
      [0.01, 1],
      [0.1, 2],
      [0.5, 0.8],
      [0.001, 0.5],
    ] as const) {
      for (let n = 2; n < 30; n++) {
        const rn = rdpOneStep(q, sigma, n);
        const rn1 = rdpOneStep(q, sigma, n + 1);
        for (const t of [0.1, 0.5, 0.9]) {
          const a = n + t;
          const ra = rdpOneStep(q, sigma, a);
          // The cumulant (alpha-1)*RDP(alpha) is convex: it lies under the chord between n and n+1.
          const chord = (1 - t) * (n - 1) * rn + t * n * rn1;
          if (!(ra >= rn && ra <= rn1 && (a - 1) * ra <= chord * (1 + 1e-12)))
            violations.push(`${q},${sigma},${a}`);
        }
      }
    }
    expect(violations).toEqual([]);
  });

  it('grows with q and falls with sigma', () => {
    for (const a of [2, 3.3, 8, 32.5]) {
      const byQ = [0.001, 0.01, 0.1, 0.5, 1].map((q) => rdpOneStep(q, 1.2, a));
      const bySigma = [0.6, 0.9, 1.5, 3, 10].map((s) => rdpOneStep(0.05, s, a));
      for (let k = 1; k < byQ.length; k++) expect(byQ[k]!).toBeGreaterThan(byQ[k - 1]!);
      for (let k = 1; k < bySigma.length; k++) expect(bySigma[k]!).toBeLessThan(bySigma[k - 1]!);
    }
  });
});

describe('computeRdp', () => {
  it('multiplies the one-step RDP by the number of steps', () => {
    const one = computeRdp(0.02, 1.1, 1, DEFAULT_ORDERS);
    const many = computeRdp(0.02, 1.1, 777, DEFAULT_ORDERS);
    many.forEach((r, k) => expect(r).toBeCloseTo(777 * one[k]!, 10));
    expect(computeRdp(0.02, 0, 0, [2, 3])).toEqual([0, 0]);
    expect(() => computeRdp(0.02, 1, -1, [2])).toThrow(RangeError);
  });

  it('caches per (q, sigma, orders) and computes lazily', () => {
    const curve = rdpCurve(0.037, 1.7, ORDER_SETS.FINE);
    expect(rdpCurve(0.037, 1.7, ORDER_SETS.FINE)).toBe(curve);
    expect(Number.isNaN(curve.values[5000]!)).toBe(true);
    expect(curve.at(5000)).toBe(rdpOneStep(0.037, 1.7, ORDER_SETS.FINE[5000]!));
    // Equal content in a fresh, unfrozen array shares the cache entry's values.
    const custom = [2, 3.5, 8];
    expect(rdpCurve(0.037, 1.7, [...custom]).all()).toEqual(rdpCurve(0.037, 1.7, custom).all());
  });
});
