import { describe, expect, it } from 'vitest';
import { userLevelPrivacy } from './participation.ts';
import { privatePlan } from './private-plan.ts';

describe('private plan', () => {
  it("spends exactly the target under the device's participation caps", () => {
    for (const k of [1, 2, 4, 8]) {
      const plan = privatePlan({ shoppers: 22_363, cohort: 1000, contributions: k, epsilon: 8, delta: 1e-5 });
      expect(plan.rounds).toBe(Math.ceil(22.363 * k));
      expect(plan.minSeparation * k).toBeLessThanOrEqual(plan.rounds);
      const g = userLevelPrivacy(
        { noiseMode: 'distributed', secureAggregation: true, sigma: plan.sigma, threshold: 100 },
        { maxContributions: k, minSeparation: plan.minSeparation },
        1e-5,
      );
      expect(g.server.epsilon).toBeLessThanOrEqual(8);
      expect(g.server.epsilon).toBeGreaterThan(8 - 1e-6);
      expect(plan.meanNoisePerCoordinate).toBeCloseTo(plan.sigma / 1000, 15);
    }
  });

  it('k = 4 at epsilon 8 needs sigma ~1.275; sigma grows ~sqrt(k)', () => {
    const four = privatePlan({ shoppers: 5000, cohort: 500, contributions: 4, epsilon: 8, delta: 1e-5 });
    expect(four.sigma).toBeCloseTo(1.275, 2);
    expect(four.rounds).toBe(40);
    expect(four.minSeparation).toBe(10);
    const one = privatePlan({ shoppers: 5000, cohort: 500, contributions: 1, epsilon: 8, delta: 1e-5 });
    expect(four.sigma / one.sigma).toBeGreaterThan(1.8);
    expect(four.sigma / one.sigma).toBeLessThan(2.1);
  });

  it('refuses a cohort larger than the shop and non-integer counts', () => {
    expect(() =>
      privatePlan({ shoppers: 10, cohort: 20, contributions: 1, epsilon: 8, delta: 1e-5 }),
    ).toThrow(RangeError);
    expect(() =>
      privatePlan({ shoppers: 10, cohort: 5, contributions: 1.5, epsilon: 8, delta: 1e-5 }),
    ).toThrow(RangeError);
  });
});
