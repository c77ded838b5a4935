/** The named presets of `fedrank eval` (`--preset`) and how a preset's private settings meet explicit flags. */
import { PRIVATE_SPEC } from '../shared/model/presets.ts';
import type { CentralSettings, FederatedOverrides, FederatedSettings, Preset, RunPlan } from './settings.ts';

/** The flag that sets each federated setting, so that a preset's overrides never beat an explicit flag. */
const FEDERATED_FLAGS: Record<keyof FederatedSettings, string> = {
  rounds: 'rounds',
  clientsPerRound: 'clients-per-round',
  clip: 'clip',
  localEpochs: 'local-epochs',
  lr: 'lr',
  batchSize: 'batch-size',
  exampleNegatives: 'negatives',
  sharedNegatives: 'shared-negatives',
  lossReduction: 'loss',
  clientBatch: 'client-batch',
  serverOpt: 'server-opt',
  serverLr: 'server-lr',
  serverBeta2: 'server-beta2',
  serverTau: 'server-tau',
  serverBiasCorrection: 'server-bias-correction',
  serverDecay: 'server-decay',
  noisePath: 'noise-path',
  sampling: 'sampling',
  encoding: 'encoding',
  delta: 'delta',
  visitRate: 'visit-rate',
  maxContributions: 'max-contributions',
  minSeparation: 'min-separation',
};

/** Private overrides (a preset's), less those the invocation sets by flag. */
export function privateOverrides(
  overrides: FederatedOverrides,
  given: Map<string, string>,
): FederatedOverrides {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(overrides))
    if (!given.has(FEDERATED_FLAGS[k as keyof FederatedSettings])) out[k] = v;
  return out as FederatedOverrides;
}

export const BASE_FEDERATED: FederatedSettings = {
  rounds: 50,
  clientsPerRound: 500,
  clip: 1,
  localEpochs: 1,
  lr: 0.1,
  batchSize: 32,
  exampleNegatives: 16,
  sharedNegatives: 128,
  lossReduction: 'mean',
  clientBatch: 64,
  serverOpt: 'fedadam',
  serverLr: 0.01,
  serverBeta2: 0.99,
  serverTau: 1e-3,
  serverBiasCorrection: false,
  serverDecay: 0,
  noisePath: 'aggregate',
  sampling: 'poisson',
  encoding: 'i8',
  delta: 1e-5,
  visitRate: 0.5,
  maxContributions: 1,
  minSeparation: 1,
};

/**
 * The product's private configuration, as every noisy run simulates it: honest participation (devices online
 * when their shoppers browse, each contributing at most k = 2 times), secure aggregation with the distributed
 * discrete Gaussian over t = M survivors, the fixed denominator M, the server's clip, optimizer and robust
 * step. Rounds: as many as the population's contributions fill (0 = ceil(k N / M)), so they scale with the
 * dataset. Under noise what pays is signal per noised coordinate, so a client's clipped update is not spread
 * over a thousand negatives' rows, cohorts are large (the noise in the mean falls as 1/M) and the server takes
 * FedAdam steps with τ near the mean's per-coordinate noise (signal-dominated coordinates move ~lr a round,
 * noise-only ones much less).
 */
export const PRODUCT_PRIVATE: FederatedOverrides = {
  rounds: 0,
  clientsPerRound: 1000,
  clip: 1,
  lr: 1,
  batchSize: 32,
  lossReduction: 'mean',
  exampleNegatives: 0,
  sharedNegatives: 64,
  // FedAdam on the noised mean (τ near the mean's per-coordinate noise): valid 0.0197 vs FedAvg's 0.0189
  // (eval/PRIVATE-METHOD.md). The server runs it as optimizer { kind: 'fedadam', ... } with these values.
  serverOpt: 'fedadam',
  serverLr: 0.003,
  serverBeta2: 0.99,
  serverTau: 1e-3,
  serverBiasCorrection: true,
  sampling: 'honest',
  encoding: 'f32',
  visitRate: 0.5,
  // k = 2: at ε = 8 the noise per contribution grows from σ 0.64 (k = 1) to 0.90, and twice the rounds
  // train (eval/PRIVATE-METHOD.md: valid NDCG@10 0.0191 vs the floor 0.0169 at k = 2, M = 1000, 45 rounds).
  maxContributions: 2,
  minSeparation: 1,
};

/** The private rows of a table: one run per target epsilon, with the product's private configuration. */
export function privateRows(epsilons: readonly number[]): RunPlan[] {
  return epsilons.map((e) => ({
    label: `private, ε=${e}`,
    mode: 'federated' as const,
    epsilon: e,
    federated: PRODUCT_PRIVATE,
  }));
}

/** Centralized defaults of an invocation without a preset. */
export const BASE_CENTRAL: CentralSettings = {
  epochs: 3,
  lr: 0.003,
  batchSize: 256,
  negatives: 1024,
  inBatch: false,
  exampleNegatives: 0,
  decay: 0,
};

/** Named presets (`--preset`): the README's recommended settings per dataset. */
export const PRESETS: Record<string, Preset> = {
  beauty: {
    split: 'test',
    jobs: 2,
    // Without noise: FedAdam steps on cohorts of 40 shoppers weighted by their examples (summed losses,
    // a clip that never binds, one local step of up to 128 examples), every shopper once per cycle for 5
    // cycles (as centralized's 5 epochs; Poisson sampling's uneven coverage plateaus lower), Adam's bias
    // correction and rate as centralized's, decayed over the last 30% of rounds, f32 updates (int8
    // learns the same per round but costs the simulation more time). Tuned on validation (eval/README.md).
    federated: {
      ...BASE_FEDERATED,
      rounds: 2800,
      clientsPerRound: 40,
      sampling: 'shuffle',
      clip: 1000,
      lr: 0.03,
      batchSize: 128,
      lossReduction: 'sum',
      exampleNegatives: 16,
      sharedNegatives: 1024,
      serverLr: 0.003,
      serverBeta2: 0.999,
      serverTau: 1e-7,
      serverBiasCorrection: true,
      serverDecay: 0.3,
      encoding: 'f32',
    },
    // Five epochs, the rate decayed over the last 30% of steps as the federated server's: validation
    // NDCG@10 0.0654 (0.0628 at a constant rate, 0.0570 after 3 epochs).
    central: {
      epochs: 5,
      lr: 0.003,
      batchSize: 256,
      negatives: 1024,
      inBatch: false,
      exampleNegatives: 0,
      decay: 0.3,
    },
    evalUsers: 3000,
    evalEvery: 400,
    // A stronger on-device bonus: validation NDCG@10 0.0175 -> 0.0194 without noise, 0.0149 -> 0.0173 at ε=8.
    spec: { personalWeight: 4 },
    private: PRODUCT_PRIVATE,
    table: [
      { label: 'popularity', mode: 'popularity' },
      { label: 'centralized', mode: 'centralized' },
      { label: 'federated, no noise', mode: 'federated', sigma: 0 },
      ...privateRows([16, 8, 4, 2, 1]),
    ],
  },
  // `npm run eval:private`: the product's private configuration at epsilon 8 against popularity; each
  // private run also scores the on-device floor (the untrained global model + on-device personalization).
  private: {
    split: 'test',
    jobs: 2,
    federated: { ...BASE_FEDERATED, ...PRODUCT_PRIVATE },
    central: BASE_CENTRAL,
    evalUsers: 2000,
    evalEvery: 5,
    // The product's private model spec (catalog-started tables, the stronger on-device bonus), its affinity
    // weighed by the catalog as a server with `model.catalog` weighs it (the dataset's items are the catalog).
    spec: PRIVATE_SPEC,
    catalogWeights: true,
    private: PRODUCT_PRIVATE,
    table: [{ label: 'popularity', mode: 'popularity' }, ...privateRows([8])],
  },
};
