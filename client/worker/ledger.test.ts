import { describe, expect, it } from 'vitest';
import { computeEpsilon } from '../../shared/dp/accountant.ts';
import { accountedSigma, deviceBudget, ledgerEpsilon } from './ledger.ts';
import { trainingConfig, manifest } from '../../e2e/sdk/support.ts';

describe('ledger epsilon', () => {
  it('composes contributions like the shared accountant (k steps at q=1)', () => {
    const entries = Array.from({ length: 4 }, () => ({ q: 1, sigma: 2 }));
    expect(ledgerEpsilon(entries, 1e-5)).toBeCloseTo(
      computeEpsilon({ q: 1, sigma: 2, steps: 4, delta: 1e-5 }).epsilon,
      9,
    );
    expect(ledgerEpsilon(entries.slice(0, 3), 1e-5, { q: 1, sigma: 2 })).toBeCloseTo(
      ledgerEpsilon(entries, 1e-5),
      12,
    );
  });
  it('is zero before any contribution and infinite for a noiseless one', () => {
    expect(ledgerEpsilon([], 1e-5)).toBe(0);
    expect(ledgerEpsilon([{ q: 1, sigma: 0 }], 1e-5)).toBe(Number.POSITIVE_INFINITY);
  });
  it('grows with every contribution and shrinks with more noise', () => {
    const one = ledgerEpsilon([{ q: 1, sigma: 1 }], 1e-5);
    expect(
      ledgerEpsilon(
        [
          { q: 1, sigma: 1 },
          { q: 1, sigma: 1 },
        ],
        1e-5,
      ),
    ).toBeGreaterThan(one);
    expect(ledgerEpsilon([{ q: 1, sigma: 3 }], 1e-5)).toBeLessThan(one);
  });
});

describe('device budget and accounted sigma', () => {
  it('takes the server suggestion but never more than the SDK cap', () => {
    const m = manifest();
    expect(deviceBudget(m, 10)).toBe(8);
    expect(deviceBudget(m, 3)).toBe(3);
    expect(deviceBudget(null, 4)).toBe(4);
  });
  it('accounts the device noise in local mode and the aggregate sigma in distributed mode', () => {
    expect(accountedSigma(trainingConfig({ clipNorm: 0.5, noiseMultiplier: 1.2 }), 0.6)).toBeCloseTo(1.2, 12);
    const dist = trainingConfig({
      noiseMode: 'distributed',
      noiseMultiplier: 1.2,
      expectedClientsPerRound: 100,
    });
    expect(accountedSigma(dist, 0.12)).toBe(1.2);
  });
});
