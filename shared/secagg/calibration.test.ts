import { describe, expect, it } from 'vitest';
import { chooseBits, planEncoding, roundedNormBoundSq } from './calibration.ts';

const D = 323_255;
const base = { d: D, clipNorm: 1, noiseMultiplier: 1, noiseClients: 3, maxClients: 10 };

describe('distributed discrete Gaussian calibration', () => {
  it('the sum over m survivors carries at least z times the rounded sensitivity', () => {
    for (const z of [0.5, 1, 2.3]) {
      for (const [m, n] of [
        [3, 10],
        [50, 100],
        [100, 1000],
      ] as const) {
        const p = planEncoding({ ...base, noiseMultiplier: z, noiseClients: m, maxClients: n }, 16)!;
        expect(m * p.noiseVariance).toBeGreaterThanOrEqual(z * z * p.normBoundSq);
        expect(m * (p.noiseVariance - 1)).toBeLessThan(z * z * p.normBoundSq); // and not more than needed
        expect(p.sumStd * 6).toBeLessThanOrEqual(2 ** 15 - 1);
      }
    }
  });

  it('rounding inflates the sensitivity by the KLS bound, and the bound shrinks with the scale', () => {
    expect(roundedNormBoundSq(1000, 1, D, Math.exp(-0.5))).toBeGreaterThan(1000 ** 2 + D / 4);
    const p = planEncoding(base, 16)!;
    expect(p.inflation).toBeGreaterThan(1);
    expect(p.inflation).toBeLessThan(1.01);
    expect(planEncoding(base, 20)!.inflation).toBeLessThan(p.inflation);
  });

  it('chooses the narrowest ring within 2% inflation, and refuses what no ring holds', () => {
    expect(chooseBits(base).bits).toBe(15);
    expect(chooseBits({ ...base, noiseClients: 100, maxClients: 1000 }).bits).toBe(16);
    expect(chooseBits({ ...base, noiseClients: 3, maxClients: 100 }).bits).toBe(17);
    expect(planEncoding(base, 4)).toBeNull();
  });
});
