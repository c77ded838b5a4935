import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_SPEC, parseSpec } from '../shared/model/spec.ts';
import type { Dataset } from './dataset.ts';
import { runFederated } from './federated.ts';
import type { FederatedOptions, RoundStats } from './federated.ts';
import { makeWorkbench } from './workbench.ts';

const USERS = 30;
const data: Dataset = {
  dir: '',
  files: { interactions: '', attributes: '' },
  users: Array.from({ length: USERS }, (_, u) => `u${u}`),
  sequences: Array.from({ length: USERS }, (_, u) =>
    Int32Array.from([0, 1, 2, 3, 4, 5], (i) => (u + i) % 12),
  ),
  items: Array.from({ length: 12 }, (_, i) => ({ id: `i${i}`, attributes: [`a${i % 3}`] })),
  interactions: USERS * 6,
} as Dataset;

const spec = parseSpec({
  ...DEFAULT_SPEC,
  dim: 4,
  itemBuckets: 64,
  attrBuckets: 16,
  maxHistory: 4,
  personalWeight: 0,
});

function options(over: Partial<FederatedOptions>): FederatedOptions {
  return {
    rounds: 6,
    clientsPerRound: USERS,
    training: {
      clipNorm: 1,
      noiseMultiplier: 1,
      noiseMode: 'distributed',
      expectedClientsPerRound: USERS,
      localEpochs: 1,
      learningRate: 0.1,
      batchSize: 32,
      sharedNegatives: 4,
      lossReduction: 'mean',
      minNewEvents: 1,
      updateEncoding: 'f32',
    },
    server: { kind: 'fedavg', learningRate: 1 },
    noisePath: 'aggregate',
    // Every device online every round: who contributes is decided by the device rules alone.
    sampling: 'honest',
    honest: { visitRate: 1 },
    negatives: 4,
    clientBatch: 8,
    seed: 3,
    ...over,
  };
}

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('federated simulation through the device core', () => {
  it('each simulated device keeps its ledger: past its epsilon cap it contributes no more', async () => {
    const stats: RoundStats[] = [];
    // Every shopper is online every round; sigma 1 at delta 1e-5 allows two contributions under 8.
    await runFederated(makeWorkbench(data, spec), options({ deviceEpsilonCap: 8 }), (s) => stats.push(s));
    expect(stats.map((s) => s.clients)).toEqual([USERS, USERS, 0, 0, 0, 0]);
    expect(stats.slice(2).every((s) => s.refused === USERS)).toBe(true);
  });
  it('each simulated device enforces the manifest participation caps: k = 2, b = 2', async () => {
    const stats: RoundStats[] = [];
    const participation = { maxContributions: 2, minSeparationRounds: 2 };
    await runFederated(makeWorkbench(data, spec), options({ participation }), (s) => stats.push(s));
    expect(stats.map((s) => s.clients)).toEqual([USERS, 0, USERS, 0, 0, 0]);
  });
  it('without a device cap every online client contributes', async () => {
    const stats: RoundStats[] = [];
    await runFederated(makeWorkbench(data, spec), options({}), (s) => stats.push(s));
    expect(stats.every((s) => s.clients === USERS && s.refused === 0)).toBe(true);
  });
});
