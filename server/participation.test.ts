/**
 * The participation caps from the server's configuration to the device and back: the manifest carries
 * them, the device enforces them, and what the device's ledger shows is what `fedrank privacy explain`
 * says of the contributions it actually made (per shopper, against the server).
 */
import { describe, expect, it } from 'vitest';
import { Device } from '../shared/device/device.ts';
import { FakeClock, FakeLearner, FakeModelSource, FakeSubmitter } from '../shared/device/fakes.ts';
import { cryptoRandom } from '../shared/device/random.ts';
import type { EventRecord } from '../shared/device/records.ts';
import { MemoryStore } from '../shared/device/store.ts';
import { userLevelPrivacy } from '../shared/dp/participation.ts';
import { FedrankError } from '../shared/errors.ts';
import { parseManifest } from '../shared/protocol-parse.ts';
import { makeConfig, type ServerConfig } from './config.ts';
import { deploymentGuarantees, mechanismOf } from './guarantees.ts';
import { manifestOf } from './manifest.ts';
import { modelFromConfig } from './model-source.ts';

function clicks(t0: number): EventRecord[] {
  const item = (i: number) => ({ id: `sku-${i}`, category: `c${i % 4}`, brand: 'b', price: 10 + i });
  return [0, 1, 2, 3].flatMap((i) => [
    { type: 'impression' as const, item: item(i), time: t0 + i },
    { type: 'click' as const, item: item(i), time: t0 + 10 + i },
  ]);
}

/** GET /v1/model of `config` while round `id` is open, as the device parses it. */
function served(config: ServerConfig, id: number) {
  const round = {
    id,
    state: 'open' as const,
    minClients: config.rounds.minClients,
    maxClients: config.rounds.maxClients,
    deadline: null,
  };
  const m = manifestOf(config, modelFromConfig(config), id, round, 0);
  return parseManifest(JSON.parse(JSON.stringify(m)));
}

/** A device (fake transport, SDK cap far above the server's suggestion) shown `rounds` rounds of `config`. */
async function run(config: ServerConfig, rounds: number): Promise<{ uploads: number; device: Device }> {
  const model = modelFromConfig(config);
  const models = new FakeModelSource(served(config, 1), model.init(), () => {
    return new FedrankError('SDK_SERVER_UNREACHABLE', 'down');
  });
  const submitter = new FakeSubmitter();
  const clock = new FakeClock();
  const ports = {
    store: new MemoryStore('indexeddb'),
    clock,
    random: cryptoRandom,
    models,
    submitter,
    evals: { async sendEval(): Promise<void> {} },
    learner: new FakeLearner(),
  };
  const cfg = { hasServer: true, epsilonCap: 1e6, evalReports: false, gpcOptOut: false, dpOff: false };
  const device = new Device(ports, cfg);
  await device.open();
  await device.resume();
  for (let id = 1; id <= rounds; id++) {
    models.manifest = served(config, id);
    await clock.advance(10 * 60_000);
    await device.track(clicks(1000 * id));
    await device.idle();
  }
  return { uploads: submitter.calls.length, device };
}

const training = { noiseMode: 'local', noiseMultiplier: 1.3, minNewEvents: 3 };

describe('participation caps: server config -> manifest -> device -> ledger', () => {
  it('the manifest carries privacy.maxContributions and privacy.minSeparationRounds', () => {
    const c = makeConfig({ privacy: { maxContributions: 2, minSeparationRounds: 3 } });
    expect(served(c, 1).privacy.participation).toEqual({ maxContributions: 2, minSeparationRounds: 3 });
    expect(served(makeConfig(), 1).privacy.participation).toEqual({
      maxContributions: null,
      minSeparationRounds: 1,
    });
  });

  it("explain's figure for k is the device's ledger after the k contributions it made", async () => {
    const config = makeConfig({
      training,
      privacy: { maxContributions: 3, minSeparationRounds: 2, deviceEpsilonBudget: 1e5 },
    });
    const g = deploymentGuarantees(config);
    expect(g.participation).toMatchObject({ maxContributions: 3, limitedBy: 'privacy.maxContributions' });
    const { uploads, device } = await run(config, 10);
    expect(uploads).toBe(3);
    const s = device.status();
    expect(s.epsilonAgainst).toBe(g.server.party);
    expect(s.privacyDelta).toBe(g.server.delta);
    expect(s.epsilonSpent).toBeCloseTo(g.server.epsilon, 12);
  });

  it('after fewer contributions than k, the figure is the accountant for those it made', async () => {
    const config = makeConfig({ training, privacy: { maxContributions: 5, deviceEpsilonBudget: 1e5 } });
    const { uploads, device } = await run(config, 2);
    expect(uploads).toBe(2);
    const want = userLevelPrivacy(mechanismOf(config), { maxContributions: 2, minSeparation: 1 }, 1e-5);
    expect(device.status().epsilonSpent).toBeCloseTo(want.server.epsilon, 12);
  });

  it('without k, the device stops where explain says its budget does', async () => {
    const config = makeConfig({ training, privacy: { deviceEpsilonBudget: 12 } });
    const g = deploymentGuarantees(config);
    expect(g.participation.limitedBy).toBe('privacy.deviceEpsilonBudget');
    expect(g.participation.maxContributions).toBeGreaterThan(1);
    const { uploads, device } = await run(config, g.participation.maxContributions + 3);
    expect(uploads).toBe(g.participation.maxContributions);
    expect(device.status().epsilonSpent).toBeCloseTo(g.server.epsilon, 12);
    expect(device.status().lastRefusal).toBe('budget-exhausted');
  });
});

describe('secure aggregation and staleness weights', () => {
  it('masked inputs are summed with equal weights: no staleness discount in the figures (the demo config)', () => {
    const secure = (maxStaleness: number) =>
      makeConfig({
        rounds: { minClients: 6, maxClients: 20, maxStaleness },
        training: { noiseMode: 'distributed', expectedClientsPerRound: 6 },
        privacy: { secureAggregation: true },
      });
    expect(mechanismOf(secure(3)).minWeight).toBe(1);
    const stale = deploymentGuarantees(secure(3));
    const fresh = deploymentGuarantees(secure(0));
    expect(stale.participation.maxContributions).toBe(fresh.participation.maxContributions);
    // The device's own ledger allows two contributions at sigma 1 under a budget of 8: the server says the same.
    expect(stale.participation.maxContributions).toBe(2);
    // Plain uploads keep the discount: a stale update's weight thins the others' noise.
    const plain = makeConfig({ rounds: { minClients: 6, maxClients: 20, maxStaleness: 3 } });
    expect(mechanismOf(plain).minWeight).toBeLessThan(1);
  });
});
