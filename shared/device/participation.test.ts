import { describe, expect, it } from 'vitest';
import { manifest, trainingConfig } from '../../e2e/sdk/support.ts';
import { FedrankError } from '../errors.ts';
import { DEFAULT_SPEC, initGlobalParams } from '../model/spec.ts';
import type { ModelManifest, ParticipationPolicy } from '../protocol.ts';
import { parseManifest } from '../protocol-parse.ts';
import { Device, type DeviceConfig } from './device.ts';
import { FakeClock, FakeLearner, FakeModelSource, FakeSubmitter } from './fakes.ts';
import {
  DEFAULT_PARTICIPATION,
  effectiveParticipation,
  participationViolation,
  roundsOfModel,
} from './participation.ts';
import { cryptoRandom } from './random.ts';
import type { EventRecord } from './records.ts';
import { MemoryStore } from './store.ts';

/** sigma 3: twenty contributions stay far inside the budget, so only the caps stop the device. */
const QUIET = trainingConfig({ noiseMultiplier: 3 });

function withPolicy(round: number, policy?: ParticipationPolicy): ModelManifest {
  const m = manifest(round, QUIET);
  const privacy = { ...m.privacy, deviceEpsilonBudget: 1000 };
  return {
    ...m,
    round: { ...m.round!, id: round },
    privacy: policy ? { ...privacy, participation: policy } : privacy,
  };
}

function clicks(t0: number): EventRecord[] {
  const item = (i: number) => ({ id: `sku-${i}`, category: `c${i % 4}`, brand: 'b', price: 10 + i });
  return [0, 1, 2, 3].flatMap((i) => [
    { type: 'impression' as const, item: item(i), time: t0 + i },
    { type: 'click' as const, item: item(i), time: t0 + 10 + i },
  ]);
}

/**
 * A device (core, fake transport) shown rounds `first`..`last` in turn, with new clicks before each: the
 * rounds its uploads reached, as the network saw them.
 */
async function roundsUploaded(
  policy: ParticipationPolicy | undefined,
  over: Partial<DeviceConfig> = {},
  first = 7,
  last = 20,
): Promise<{ rounds: number[]; device: Device }> {
  const models = new FakeModelSource(withPolicy(first, policy), initGlobalParams(DEFAULT_SPEC), () => {
    return new FedrankError('SDK_SERVER_UNREACHABLE', 'down');
  });
  const submitter = new FakeSubmitter();
  const clock = new FakeClock();
  const evals = { async sendEval(): Promise<void> {} };
  const ports = {
    store: new MemoryStore('indexeddb'),
    clock,
    random: cryptoRandom,
    models,
    submitter,
    evals,
    learner: new FakeLearner(),
  };
  const cfg = { hasServer: true, epsilonCap: 1000, evalReports: false, gpcOptOut: false, dpOff: false };
  const device = new Device(ports, { ...cfg, ...over });
  await device.open();
  await device.resume();
  for (let round = first; round <= last; round++) {
    models.manifest = withPolicy(round, policy);
    await clock.advance(10 * 60_000);
    await device.track(clicks(1000 * round));
    await device.idle();
  }
  return { rounds: submitter.calls.map((c) => c.record.round), device };
}

describe('participation caps enforced by the device', () => {
  it('k = 2: the device uploads to exactly 2 rounds and then to none', async () => {
    const { rounds, device } = await roundsUploaded({ maxContributions: 2, minSeparationRounds: 1 });
    expect(rounds).toEqual([7, 8]);
    expect(device.status().lastRefusal).toBe('max-contributions');
  });

  it('b = 3: at least 2 rounds are left out between two contributions', async () => {
    const { rounds } = await roundsUploaded({ maxContributions: null, minSeparationRounds: 3 }, {}, 7, 16);
    expect(rounds).toEqual([7, 10, 13, 16]);
    for (let i = 1; i < rounds.length; i++) expect(rounds[i]! - rounds[i - 1]!).toBeGreaterThanOrEqual(3);
  });

  it('k and b together', async () => {
    const { rounds } = await roundsUploaded({ maxContributions: 3, minSeparationRounds: 2 });
    expect(rounds).toEqual([7, 9, 11]);
  });

  it('a manifest without a policy falls back to the SDK defaults (every round, budget permitting)', async () => {
    expect(DEFAULT_PARTICIPATION).toEqual({ maxContributions: null, minSeparationRounds: 1 });
    const { rounds } = await roundsUploaded(undefined, {}, 7, 11);
    expect(rounds).toEqual([7, 8, 9, 10, 11]);
    const sdk = { maxContributions: 1, minSeparationRounds: 1 };
    expect((await roundsUploaded(undefined, { participation: sdk }, 7, 11)).rounds).toEqual([7]);
  });

  it('the SDK may be stricter than the manifest, never looser', async () => {
    const sdk = { maxContributions: 2, minSeparationRounds: 2 };
    const loose = { maxContributions: 10, minSeparationRounds: 1 };
    expect((await roundsUploaded(loose, { participation: sdk }, 7, 14)).rounds).toEqual([7, 9]);
    const strict = { maxContributions: 1, minSeparationRounds: 1 };
    expect(effectiveParticipation(strict, sdk)).toEqual({ maxContributions: 1, minSeparationRounds: 2 });
    expect(effectiveParticipation(undefined, sdk)).toEqual(sdk);
    expect(effectiveParticipation({ maxContributions: null, minSeparationRounds: 1 })).toEqual(
      DEFAULT_PARTICIPATION,
    );
  });

  it('caps count per model id; entries of older SDKs without one count for every model', () => {
    const ledger = [{ round: 3, modelId: 'a' }, { round: 4, modelId: 'b' }, { round: 5 }];
    const outbox = [{ round: 6, modelId: 'a' }];
    expect(roundsOfModel(ledger, outbox, 'a').sort()).toEqual([3, 5, 6]);
    expect(roundsOfModel(ledger, outbox, 'b').sort()).toEqual([4, 5]);
    // A queued contribution is also in the ledger: counted once.
    expect(roundsOfModel([{ round: 6, modelId: 'a' }], outbox, 'a')).toEqual([6]);
  });

  it('participationViolation: the count cap first, then the separation', () => {
    const p = { maxContributions: 2, minSeparationRounds: 3 };
    expect(participationViolation(p, [], 1)).toBeNull();
    expect(participationViolation(p, [10], 12)).toBe('min-separation');
    expect(participationViolation(p, [10], 13)).toBeNull();
    expect(participationViolation(p, [10, 13], 20)).toBe('max-contributions');
  });
});

describe('the manifest carries the policy, validated by the shared parser', () => {
  const wire = (participation: unknown): unknown => {
    const m = manifest();
    return { ...m, privacy: { ...m.privacy, participation } };
  };

  it('keeps a valid policy and accepts a manifest without one', () => {
    const policy = { maxContributions: 4, minSeparationRounds: 2 };
    expect(parseManifest(wire(policy)).privacy.participation).toEqual(policy);
    expect(
      parseManifest(wire({ maxContributions: null, minSeparationRounds: 1 })).privacy.participation,
    ).toEqual({ maxContributions: null, minSeparationRounds: 1 });
    expect('participation' in parseManifest(manifest()).privacy).toBe(false);
  });

  it.each([
    [{ maxContributions: 0, minSeparationRounds: 1 }],
    [{ maxContributions: 1.5, minSeparationRounds: 1 }],
    [{ maxContributions: 2, minSeparationRounds: 0 }],
    [{ maxContributions: 2 }],
    [{ minSeparationRounds: 1 }],
    [null],
    ['k=2'],
  ])('refuses %j', (policy) => {
    expect(() => parseManifest(wire(policy))).toThrow(/manifest\.privacy\.participation/);
  });
});
