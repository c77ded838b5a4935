import { describe, expect, it } from 'vitest';
import { computeEpsilon } from '../dp/accountant.ts';
import { accountedSigma, contributedRounds, deviceBudget, ledgerEpsilon, roundToJoin } from './rules.ts';
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

describe('round to join', () => {
  it('joins an open round this device has not contributed to yet', () => {
    expect(roundToJoin(manifest(), new Set())).toBe(7);
  });
  it('never joins the same round twice, whether the update was recorded in the ledger or is still queued', () => {
    expect(roundToJoin(manifest(), contributedRounds([{ round: 7 }], []))).toBeNull();
    expect(roundToJoin(manifest(), contributedRounds([], [{ round: 7 }]))).toBeNull();
    expect(roundToJoin(manifest(), contributedRounds([{ round: 6 }], [{ round: 5 }]))).toBe(7);
  });
  it('joins nothing when no round is open', () => {
    const m = manifest();
    expect(roundToJoin({ round: null }, new Set())).toBeNull();
    expect(roundToJoin({ round: { ...m.round!, state: 'closed' } }, new Set())).toBeNull();
    expect(roundToJoin(null, new Set())).toBeNull();
  });
});
