import { describe, expect, it } from 'vitest';
import { distributedDiscreteGaussianRdp, gaussianRdp } from '../shared/dp/mechanisms.ts';
import { planEncoding } from '../shared/secagg/calibration.ts';
import { makeConfig } from './config.ts';
import { ddgLedgerSigma } from './secure-accounting.ts';

describe('the ledger multiplier of a secure round', () => {
  it('bounds the distributed discrete Gaussian from above at every order, sigma != 1', () => {
    for (const [z, m, d] of [
      [0.7, 5, 90],
      [1.3, 20, 5000],
      [3, 100, 100_000],
    ] as const) {
      const e = planEncoding(
        { d, clipNorm: 0.5, noiseMultiplier: z, noiseClients: m, maxClients: 2 * m },
        20,
      )!;
      const sigma = ddgLedgerSigma(e, m);
      const ddg = distributedDiscreteGaussianRdp({
        sigma: Math.sqrt(e.noiseVariance),
        clients: m,
        l2: Math.sqrt(e.normBoundSq),
        dimension: d,
      });
      for (const a of [1.5, 2, 8, 32, 256]) expect(gaussianRdp(sigma)(a)).toBeGreaterThanOrEqual(ddg(a));
      // Calibrated to z over the rounded sensitivity: the multiplier is z up to the ceil of the variance.
      expect(sigma).toBeGreaterThanOrEqual(z * 0.999);
      expect(sigma).toBeLessThan(z * 1.05);
    }
  });
});

describe('the secureAggregation config section', () => {
  it('has no switch of its own and checks the protocol parameters', () => {
    const bad = (sa: object) => () =>
      makeConfig({
        training: { noiseMode: 'distributed' },
        privacy: { secureAggregation: true },
        secureAggregation: sa,
      });
    expect(bad({ enabled: false })).toThrow(
      /secureAggregation.enabled: the switch is privacy.secureAggregation/,
    );
    expect(bad({ neighbours: 3 })).toThrow(/secureAggregation.neighbours: must be an even integer/);
    expect(bad({ deadlines: { mask: 0 } })).toThrow(/secureAggregation.deadlines.mask/);
    expect(bad({ neighbours: 8, threshold: 0.75 })().secureAggregation).toMatchObject({
      neighbours: 8,
      threshold: 0.75,
    });
  });
});
