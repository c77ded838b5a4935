import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_SPEC, parseSpec } from '../shared/model/spec.ts';
import { admit } from './arrivals.ts';
import { parseEvalArgs } from './config.ts';
import type { Dataset } from './dataset.ts';
import { runFederated } from './federated.ts';
import type { FederatedOptions, RoundStats } from './federated.ts';
import { runSpec } from './runner.ts';
import { makeWorkbench } from './workbench.ts';
import { withCatalogWeights } from '../shared/model/catalog-weights.ts';

const USERS = 30;
const data = {
  dir: '',
  files: { interactions: '', attributes: '' },
  users: Array.from({ length: USERS }, (_, u) => `u${u}`),
  sequences: Array.from({ length: USERS }, (_, u) => Int32Array.from([0, 1, 2, 3], (i) => (u + i) % 12)),
  items: Array.from({ length: 12 }, (_, i) => ({ id: `i${i}`, attributes: [`a${i % 3}`] })),
  interactions: USERS * 4,
} as Dataset;
const spec = parseSpec({
  ...DEFAULT_SPEC,
  dim: 4,
  itemBuckets: 32,
  attrBuckets: 8,
  maxHistory: 4,
  personalWeight: 0,
});

function options(over: Partial<FederatedOptions>): FederatedOptions {
  return {
    rounds: 12,
    clientsPerRound: 4,
    training: {
      clipNorm: 1,
      noiseMultiplier: 1,
      noiseMode: 'distributed',
      expectedClientsPerRound: 4,
      localEpochs: 1,
      learningRate: 0.1,
      batchSize: 32,
      sharedNegatives: 2,
      lossReduction: 'mean',
      minNewEvents: 1,
      updateEncoding: 'f32',
    },
    server: { kind: 'fedavg', learningRate: 1 },
    noisePath: 'aggregate',
    sampling: 'honest',
    honest: { visitRate: 0.6 },
    negatives: 2,
    clientBatch: 8,
    seed: 11,
    ...over,
  };
}

/** Each device's contribution rounds, from the admitted lists of the released rounds. */
async function contributions(over: Partial<FederatedOptions>): Promise<number[][]> {
  const stats: RoundStats[] = [];
  await runFederated(makeWorkbench(data, spec), options(over), (s) => stats.push(s));
  const byDevice: number[][] = Array.from({ length: USERS }, () => []);
  for (const s of stats) if (!s.failed) for (const u of s.admitted!) byDevice[u]!.push(s.round);
  return byDevice;
}

const violates = (rounds: number[][], k: number, b: number): boolean =>
  rounds.some((r) => r.length > k || r.some((x, i) => i > 0 && x - r[i - 1]! < b));

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('honest participation', () => {
  it('admits the first arrivals the device rules allow, up to the cohort', () => {
    expect(admit([5, 3, 9, 1, 7], (u) => u !== 3, 3)).toEqual({ admitted: [1, 5, 9], refused: 1 });
  });

  it('devices keep k = 2 contributions at least b = 3 rounds apart (and break them with the rule off)', async () => {
    const participation = { maxContributions: 2, minSeparationRounds: 3 };
    const capped = await contributions({ participation });
    expect(violates(capped, 2, 3)).toBe(false);
    expect(capped.flat().length).toBeGreaterThan(USERS); // devices did come back
    expect(violates(await contributions({}), 2, 3)).toBe(true);
  });

  it('the device epsilon budget alone stops a device (sigma 1 at delta 1e-5: two contributions under 8)', async () => {
    const budgeted = await contributions({ deviceEpsilonCap: 8 });
    expect(Math.max(...budgeted.map((r) => r.length))).toBe(2);
    expect(Math.max(...(await contributions({})).map((r) => r.length))).toBeGreaterThan(2);
  });

  it('hands onRound the global model, also after a failed round of multi-step clients', async () => {
    // k = 2 over 30 devices fills 15 rounds of 4: the last rounds fail; 2 epochs train outside the batch.
    const o = options({ rounds: 20, participation: { maxContributions: 2, minSeparationRounds: 1 } });
    o.training = { ...o.training, localEpochs: 2 };
    const seen: { failed: boolean; params: Float32Array }[] = [];
    const final = await runFederated(makeWorkbench(data, spec), o, (s, ranker) =>
      seen.push({ failed: s.failed ?? false, params: ranker.getGlobal() }),
    );
    expect(seen.at(-1)!.failed).toBe(true);
    expect(Array.from(seen.at(-1)!.params)).toEqual(Array.from(final));
    seen.forEach((s, i) => {
      if (i > 0 && s.failed) expect(Array.from(s.params)).toEqual(Array.from(seen[i - 1]!.params));
    });
  });

  it('gives every simulated device the catalog weights of the dataset under --catalog-weights on', () => {
    const shop = {
      ...data,
      items: Array.from({ length: 12 }, (_, i) => ({ id: `i${i}`, brand: i < 2 ? 'rare' : 'common' })),
    } as Dataset;
    const base = ['--data', 'd', '--preset', 'private'];
    const on = runSpec(parseEvalArgs(base), shop);
    expect(on.attrWeights).toEqual(withCatalogWeights(parseEvalArgs(base).spec, shop.items).attrWeights);
    expect(new Set(on.attrWeights).size).toBe(3); // rare, common, and 1 for rows no item carries
    expect(runSpec(parseEvalArgs([...base, '--catalog-weights', 'off']), shop).attrWeights).toBeUndefined();
    const own = new Array(1024).fill(2);
    const given = parseEvalArgs([...base, '--spec', JSON.stringify({ attrWeights: own })]);
    expect(runSpec(given, shop).attrWeights).toEqual(own);
  });

  it('refuses noise with Poisson or shuffled sampling: the product samples nobody', async () => {
    await expect(runFederated(makeWorkbench(data, spec), options({ sampling: 'poisson' }))).rejects.toThrow(
      /honest participation/,
    );
    const base = ['--data', 'd', '--mode', 'federated'];
    expect(() => parseEvalArgs([...base, '--sampling', 'poisson', '--epsilon', '8'])).toThrow(
      /not what ships/,
    );
    expect(parseEvalArgs([...base, '--epsilon', '8']).federated.sampling).toBe('honest');
    expect(parseEvalArgs(base).federated.sampling).toBe('poisson');
  });
});
