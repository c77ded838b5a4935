import { describe, expect, it } from 'vitest';
import { computeEpsilon } from '../dp/accountant.ts';
import type { LedgerRecord } from './records.ts';
import {
  accountedSigma,
  budgetState,
  canContribute,
  contributedRounds,
  DEFAULT_FLOORS,
  DEFAULT_MIN_NEW_EVENTS,
  deviceBudget,
  floorViolation,
  isWaiting,
  ledgerEpsilon,
  roundToJoin,
  shouldTrain,
} from './rules.ts';
import type { ContributeInput, Refusal } from './rules.ts';
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

describe('canContribute', () => {
  const input = (over: Partial<ContributeInput> = {}): ContributeInput => ({
    manifest: manifest(),
    ledger: [],
    outbox: [],
    cap: 8,
    floors: DEFAULT_FLOORS,
    dpOff: false,
    storage: 'indexeddb',
    optedOut: false,
    hasServer: true,
    ...over,
  });
  const entry = { round: 1, q: 1, sigma: 1 } as LedgerRecord;

  it('joins the open round of a manifest within the floors and the budget', () => {
    expect(canContribute(input())).toEqual({ ok: true, round: 7 });
  });
  it('names the first reason not to, in order', () => {
    const closed = { ...manifest(), round: { ...manifest().round!, state: 'closed' as const } };
    const cases: [Partial<ContributeInput>, string][] = [
      [{ optedOut: true }, 'opted-out'],
      [{ hasServer: false }, 'no-server'],
      [{ storage: 'memory' }, 'memory-only'],
      [{ manifest: null }, 'no-model'],
      [{ manifest: { ...manifest(), round: null } }, 'no-round'],
      [{ manifest: closed }, 'no-round'],
      [{ outbox: [{ round: 7 }] }, 'already-contributed'],
      [{ ledger: [{ ...entry, round: 7 }] }, 'already-contributed'],
      [{ manifest: manifest(1, trainingConfig({ noiseMultiplier: 0.3 })) }, 'below-floors'],
      [{ cap: 1 }, 'budget-exhausted'],
      [{ ledger: [entry, entry, entry] }, 'budget-exhausted'],
    ];
    for (const [over, why] of cases) expect(canContribute(input(over))).toMatchObject({ ok: false, why });
  });
  it('waits (keeping the new interactions) only for refusals that pass with time', () => {
    expect(['no-round', 'already-contributed', 'no-model'].every((w) => isWaiting(w as Refusal))).toBe(true);
    expect(['budget-exhausted', 'below-floors', 'memory-only'].some((w) => isWaiting(w as Refusal))).toBe(
      false,
    );
  });
  it('with DP explicitly off, accepts a noiseless manifest (with a clip) and keeps no budget', () => {
    const noiseless = manifest(1, trainingConfig({ noiseMultiplier: 0 }));
    expect(canContribute(input({ manifest: noiseless }))).toMatchObject({ ok: false, why: 'below-floors' });
    expect(canContribute(input({ manifest: noiseless, dpOff: true }))).toEqual({ ok: true, round: 7 });
    const noClip = manifest(1, trainingConfig({ noiseMultiplier: 0, clipNorm: 0 }));
    expect(canContribute(input({ manifest: noClip, dpOff: true }))).toMatchObject({ why: 'below-floors' });
  });
});

describe('floorViolation', () => {
  it('checks noise multiplier, delta and the aggregation threshold against the floors', () => {
    const f = { minNoiseMultiplier: 1, maxDelta: 1e-6, minSecAggThreshold: 10 };
    const ok = { ...manifest(1, trainingConfig({ noiseMode: 'distributed', expectedClientsPerRound: 10 })) };
    expect(floorViolation({ ...ok, privacy: { ...ok.privacy, delta: 1e-7 } }, f)).toBeNull();
    expect(floorViolation(ok, f)).toMatch(/delta/);
    const low = manifest(1, trainingConfig({ noiseMultiplier: 0.9 }));
    expect(floorViolation({ ...low, privacy: { ...low.privacy, delta: 1e-7 } }, f)).toMatch(
      /noise multiplier/,
    );
    const few = manifest(1, trainingConfig({ noiseMode: 'distributed', expectedClientsPerRound: 3 }));
    expect(floorViolation({ ...few, privacy: { ...few.privacy, delta: 1e-7 } }, f)).toMatch(/threshold/);
  });
});

describe('budgetState and shouldTrain', () => {
  it('reports spent, next and exhausted from the ledger under the manifest', () => {
    const one = budgetState(manifest(), [{ q: 1, sigma: 1 }], 8);
    expect(one.spent).toBeCloseTo(ledgerEpsilon([{ q: 1, sigma: 1 }], 1e-5), 12);
    expect(one.next).toBeGreaterThan(one.spent);
    expect(one.exhausted).toBe(one.next > 8);
    expect(budgetState(null, [], 8)).toMatchObject({ spent: 0, budget: 8, exhausted: false });
  });
  it('trains after minNewEvents positives (or the default without a manifest)', () => {
    expect(shouldTrain(2, manifest())).toBe(false);
    expect(shouldTrain(3, manifest())).toBe(true);
    expect(shouldTrain(DEFAULT_MIN_NEW_EVENTS - 1, null)).toBe(false);
    expect(shouldTrain(DEFAULT_MIN_NEW_EVENTS, null)).toBe(true);
  });
});
