import { describe, expect, it } from 'vitest';
import { computeEpsilon } from '../shared/dp/accountant.ts';
import { defaultConfig, makeConfig } from './config.ts';
import { emptyAccumulator } from './ingest.ts';
import { ledgerAssumptions, PrivacyLedger, roundNoise } from './privacy.ts';

const eps = (sigma: number, steps: number): number =>
  computeEpsilon({ q: 1, sigma, steps, delta: 1e-5 }).epsilon;

describe('the server ledger: per shopper against model observers, no sampling', () => {
  it('ignores a sampling rate stored by an older version: the rounds are recounted at q = 1', () => {
    const stored = [
      { q: 0.01, sigma: 1.8 },
      { q: 0.01, sigma: 1.8 },
    ];
    const ledger = new PrivacyLedger(makeConfig(), stored);
    expect(ledger.epsilon).toBeCloseTo(eps(1.8, 2), 12);
  });

  it('without a participation cap every round counts; with cap k, the k least noisy rounds', () => {
    const sigmas = [3, 1.4, 2.2, 1.9];
    const all = new PrivacyLedger(
      makeConfig(),
      sigmas.map((sigma) => ({ sigma })),
    );
    const want = computeEpsilon({
      q: 1,
      sigma: 1 / Math.sqrt(sigmas.reduce((s, x) => s + x ** -2, 0)),
      steps: 1,
      delta: 1e-5,
    });
    expect(all.epsilon).toBeCloseTo(want.epsilon, 9);
    const capped = new PrivacyLedger(
      makeConfig({ privacy: { maxContributions: 2 } }),
      sigmas.map((sigma) => ({ sigma })),
    );
    // Rounds at sigma 1.4 and 1.9 cost the most: a shopper in at most two rounds loses at most their sum.
    const two = 1 / Math.sqrt(1.4 ** -2 + 1.9 ** -2);
    expect(capped.epsilon).toBeCloseTo(eps(two, 1), 9);
    expect(capped.epsilon).toBeLessThan(all.epsilon);
    expect(ledgerAssumptions(makeConfig({ privacy: { maxContributions: 2 } })).join(' ')).toMatch(
      /at most 2 rounds/,
    );
    expect(ledgerAssumptions(makeConfig()).join(' ')).toMatch(/may contribute to every round/);
  });

  it('has a budget by default, and refuses the round that would exceed it, naming the party', () => {
    expect(defaultConfig().privacy.epsilonBudget).toBe(8);
    const ledger = new PrivacyLedger(makeConfig(), []);
    let rounds = 0;
    while (ledger.refusal(Math.sqrt(3)) === null) {
      ledger.record(Math.sqrt(3));
      rounds++;
    }
    // sigma sqrt(3) per round (local sigma 1, three clients): 7 rounds fit in epsilon 8 at delta 1e-5.
    expect(rounds).toBe(7);
    expect(ledger.epsilon).toBeLessThanOrEqual(8);
    expect(ledger.refusal(Math.sqrt(3))).toMatch(/per shopper, against model observers/);
  });

  it('a round of distributed noise: sigma of the weighted sum, noise of the mean over the fixed denominator', () => {
    const t = makeConfig({
      training: { clipNorm: 100, noiseMultiplier: 2, noiseMode: 'distributed', expectedClientsPerRound: 2 },
      rounds: { minClients: 2 },
      privacy: { secureAggregation: true },
    }).training;
    // Three fresh updates (weight 1), each with std 2*100/sqrt(2).
    const acc = { ...emptyAccumulator(1), count: 3, weight: 3, sqWeightSum: 3, maxWeight: 1 };
    const r = roundNoise(t, acc);
    expect(r.sigma).toBeCloseTo(2 * Math.sqrt(3 / 2), 12);
    // Over the configured cohort of 2, not over the realized 3.
    expect(r.noiseStd).toBeCloseTo(((200 / Math.sqrt(2)) * Math.sqrt(3)) / 2, 9);
  });
});
