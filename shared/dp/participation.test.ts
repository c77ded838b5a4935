import { describe, expect, it } from 'vitest';
import { computeEpsilon } from './accountant.ts';
import { userLevelPrivacy, type RoundMechanism } from './participation.ts';

const eps = (sigma: number, steps: number, delta = 1e-5): number =>
  computeEpsilon({ q: 1, sigma, steps, delta }).epsilon;

describe('user-level privacy per party, without sampling', () => {
  const caps = { maxContributions: 6, minSeparation: 4 };

  it('local noise: the server faces k uploads at sigma, observers k sums of t uploads', () => {
    const m: RoundMechanism = { noiseMode: 'local', secureAggregation: false, sigma: 1.7, threshold: 9 };
    const u = userLevelPrivacy(m, caps, 1e-5);
    expect(u.server.epsilon).toBeCloseTo(eps(1.7, 6), 12);
    expect(u.observers.epsilon).toBeCloseTo(eps(1.7 * 3, 6), 12);
    expect(u.server.contributions).toBe(6);
    expect(u.server.assumptions.join(' ')).toContain('at most 6 times');
  });

  it('distributed noise with secure aggregation: server and observers see the same sum', () => {
    const m: RoundMechanism = {
      noiseMode: 'distributed',
      secureAggregation: true,
      sigma: 2.3,
      threshold: 50,
    };
    const u = userLevelPrivacy(m, caps, 1e-6);
    expect(u.server.epsilon).toBeCloseTo(eps(2.3, 6, 1e-6), 12);
    expect(u.observers.epsilon).toBe(u.server.epsilon);
    expect(u.server.assumptions.join(' ')).toMatch(/honest but curious/);
  });

  it('distributed noise without secure aggregation: the server sees 1/sqrt(t) of the noise', () => {
    const m: RoundMechanism = {
      noiseMode: 'distributed',
      secureAggregation: false,
      sigma: 2.3,
      threshold: 16,
    };
    const u = userLevelPrivacy(m, caps, 1e-5);
    expect(u.server.sigmaSeen).toBeCloseTo(2.3 / 4, 14);
    expect(u.server.epsilon).toBeCloseTo(eps(2.3 / 4, 6), 12);
    expect(u.server.epsilon).toBeGreaterThan(5 * u.observers.epsilon);
  });

  it('separation does not help per-round noise; it sizes the DP-FTRL tree (restarted every b rounds)', () => {
    const base: RoundMechanism = {
      noiseMode: 'distributed',
      secureAggregation: true,
      sigma: 4,
      threshold: 20,
    };
    const a = userLevelPrivacy(base, { maxContributions: 3, minSeparation: 1 }, 1e-5);
    const b = userLevelPrivacy(base, { maxContributions: 3, minSeparation: 100 }, 1e-5);
    expect(a.observers.epsilon).toBe(b.observers.epsilon);
    const tree = userLevelPrivacy(
      { ...base, aggregation: 'tree' },
      { maxContributions: 3, minSeparation: 100 },
      1e-5,
    );
    // depth(100) = 7: three trees of 7 noisy nodes each.
    expect(tree.observers.epsilon).toBeCloseTo(eps(4, 21), 12);
  });

  it('the distributed discrete Gaussian approaches the continuous figure at a fine scale', () => {
    const m: RoundMechanism = {
      noiseMode: 'distributed',
      secureAggregation: true,
      sigma: 1.5,
      threshold: 10,
      discrete: { scale: 200, dimension: 10_000, l2: 200 },
    };
    const u = userLevelPrivacy(m, caps, 1e-5);
    expect(u.server.epsilon).toBeCloseTo(eps(1.5, 6), 6);
    // A coarse scale (per-client sigma 0.6 integer units) costs more than the continuous mechanism.
    const coarse = userLevelPrivacy(
      { ...m, discrete: { scale: 1.265, dimension: 10_000, l2: 2 } },
      caps,
      1e-5,
    );
    expect(coarse.server.epsilon).toBeGreaterThan(u.server.epsilon);
  });

  it('staleness weights: the other clients noise counts at the least weight the server may give it', () => {
    // t = 5, others at weight 0.5: local observers see sigma*sqrt(1 + 4/4) = sigma*sqrt(2), not sigma*sqrt(5).
    const local: RoundMechanism = {
      noiseMode: 'local',
      secureAggregation: false,
      sigma: 1.3,
      threshold: 5,
      minWeight: 0.5,
    };
    const u = userLevelPrivacy(local, caps, 1e-5);
    expect(u.observers.sigmaSeen).toBeCloseTo(1.3 * Math.SQRT2, 12);
    expect(u.observers.epsilon).toBeCloseTo(eps(1.3 * Math.SQRT2, 6), 12);
    expect(u.server.epsilon).toBeCloseTo(eps(1.3, 6), 12);
    // Distributed: each adds sigma/sqrt(t); the sum carries (sigma/sqrt(5))*sqrt(2).
    const dist = userLevelPrivacy(
      { ...local, noiseMode: 'distributed', secureAggregation: true },
      caps,
      1e-5,
    );
    expect(dist.observers.sigmaSeen).toBeCloseTo((1.3 / Math.sqrt(5)) * Math.SQRT2, 12);
    expect(() => userLevelPrivacy({ ...local, minWeight: 0 }, caps, 1e-5)).toThrow(RangeError);
  });

  it('no contribution, no loss; bad inputs are refused', () => {
    const m: RoundMechanism = { noiseMode: 'local', secureAggregation: false, sigma: 1.2, threshold: 3 };
    expect(userLevelPrivacy(m, { maxContributions: 0, minSeparation: 1 }, 1e-5).server.epsilon).toBe(0);
    expect(() => userLevelPrivacy(m, { maxContributions: 1, minSeparation: 0 }, 1e-5)).toThrow(RangeError);
    expect(() =>
      userLevelPrivacy({ ...m, discrete: { scale: 10, dimension: 10, l2: 10 } }, caps, 1e-5),
    ).toThrow(/secure aggregation/);
  });
});
