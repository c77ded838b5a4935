import { describe, expect, it } from 'vitest';
import { computeEpsilon } from './accountant.ts';
import {
  composeRdp,
  composedEpsilon,
  ddgTau,
  distributedDiscreteGaussianRdp,
  gaussianRdp,
  roundedL2Bound,
  treeAggregationRdp,
  treeDepth,
} from './mechanisms.ts';

describe('mechanisms without sampling', () => {
  it('the Gaussian composed k times is the q = 1 case of the subsampled accountant, at sigma != 1', () => {
    for (const [sigma, k] of [
      [0.7, 3],
      [2.5, 40],
    ] as const) {
      const a = composedEpsilon([{ rdp: gaussianRdp(sigma), times: k }], 1e-6).epsilon;
      const b = computeEpsilon({ q: 1, sigma, steps: k, delta: 1e-6 }).epsilon;
      expect(a).toBeCloseTo(b, 12);
    }
  });

  it('composition adds curves; 0 times is no mechanism; sigma 0 is infinite', () => {
    const r = composeRdp([
      { rdp: gaussianRdp(2), times: 3 },
      { rdp: gaussianRdp(0), times: 0 },
    ]);
    expect(r[0]).toBeCloseTo((3 * 1.1) / 8, 14);
    expect(composedEpsilon([{ rdp: gaussianRdp(0), times: 1 }], 1e-5).epsilon).toBe(Infinity);
  });

  it('tree depth is ceil(log2(steps + 1)) and a tree costs depth Gaussian releases', () => {
    expect([1, 2, 3, 7, 8, 100].map(treeDepth)).toEqual([1, 2, 2, 3, 4, 7]);
    const tree = composedEpsilon([{ rdp: treeAggregationRdp(3, 100), times: 1 }], 1e-5).epsilon;
    const seven = composedEpsilon([{ rdp: gaussianRdp(3), times: 7 }], 1e-5).epsilon;
    expect(tree).toBeCloseTo(seven, 12);
  });

  it('the sum of n discrete Gaussians tends to one Gaussian of sigma*sqrt(n) as tau vanishes', () => {
    // n = 10 clients of scale 40 (tau ~ 1e-13000): the sum is N_Z(0, 10*1600); sensitivity 60 -> sigma 2.108.
    const m = { sigma: 40, clients: 10, l2: 60, dimension: 1000 };
    expect(ddgTau(40, 10)).toBe(0);
    const ddg = composedEpsilon([{ rdp: distributedDiscreteGaussianRdp(m), times: 5 }], 1e-5).epsilon;
    const g = composedEpsilon([{ rdp: gaussianRdp((40 * Math.sqrt(10)) / 60), times: 5 }], 1e-5).epsilon;
    expect(ddg).toBeCloseTo(g, 10);
  });

  it('small per-client scales pay for the sum not being a discrete Gaussian (tau > 0)', () => {
    // Per-client sigma 0.6: tau = 10 sum exp(-2 pi^2 0.36 k/(k+1)) is not negligible.
    const tau = ddgTau(0.6, 3);
    const want =
      10 * (Math.exp(-2 * Math.PI ** 2 * 0.36 * 0.5) + Math.exp(-2 * Math.PI ** 2 * 0.36 * (2 / 3)));
    expect(tau).toBeCloseTo(want, 15);
    const m = { sigma: 0.6, clients: 3, l2: 1, dimension: 50 };
    const rdp = distributedDiscreteGaussianRdp(m)(4);
    const gauss = gaussianRdp(0.6 * Math.sqrt(3))(4);
    expect(rdp).toBeGreaterThan(gauss);
    // The third bound of Prop. 14, by hand.
    const third = 2 * (1 / (Math.sqrt(3) * 0.6) + tau * Math.sqrt(50)) ** 2;
    expect(rdp).toBeLessThanOrEqual(third + 1e-12);
  });

  it('conditional rounding bounds the integer sensitivity below c + sqrt(d) for large d', () => {
    expect(roundedL2Bound(100, 16, 0)).toBe(104);
    // d = 1e6, c = 1000, beta = e^-0.5: sqrt(1e6 + 2.5e5 + 1 * (1000 + 500)) ~ 1118.7, far below 2000.
    expect(roundedL2Bound(1000, 1_000_000, Math.exp(-0.5))).toBeCloseTo(Math.sqrt(1e6 + 2.5e5 + 1500), 9);
    // Small d: the unconditional bound is the smaller one.
    expect(roundedL2Bound(1000, 4, 1e-9)).toBe(1002);
    expect(() => roundedL2Bound(1, 4, 1)).toThrow(RangeError);
  });

  it('refuses what the theorems do not cover', () => {
    expect(() => distributedDiscreteGaussianRdp({ sigma: 0.4, clients: 3, l2: 1, dimension: 2 })).toThrow(
      RangeError,
    );
    expect(() => treeAggregationRdp(1, [])).toThrow(RangeError);
    expect(() => composeRdp([{ rdp: gaussianRdp(1), times: 1.5 }])).toThrow(RangeError);
  });
});
