/**
 * The server's round close in the simulation: the product's planClose (server/round-close.ts) on the
 * decoded secure sum, so a private eval run takes exactly the server's steps: the mean over the FIXED
 * denominator (expectedClientsPerRound, never the realized count), the server-side clip of the round
 * update to what an honest round can reach, the optimizer, and the robust step's row, dense and bias bounds.
 */
import { defaultConfig, type ServerConfig } from '../server/config.ts';
import { PrivacyLedger } from '../server/privacy.ts';
import { newRound, planClose, type ClosePlan } from '../server/round-close.ts';
import { secureRoundNoise } from '../server/secure-accounting.ts';
import type { AdamState, ServerOptimizer } from '../shared/fl/aggregate.ts';
import type { ModelSpec } from '../shared/model/spec.ts';
import type { TrainingConfig } from '../shared/protocol.ts';
import type { EncodingParams } from '../shared/secagg/calibration.ts';

/** A server configured as the simulated deployment: secure aggregation, the run's training and optimizer. */
export function simulatedServer(
  training: TrainingConfig,
  optimizer: ServerOptimizer,
  survivors: number,
): ServerConfig {
  const d = defaultConfig();
  return {
    ...d,
    training,
    optimizer,
    rounds: {
      ...d.rounds,
      minClients: survivors,
      maxClients: training.expectedClientsPerRound,
      maxStaleness: 0,
    },
    // The eval reports the accountant's per-device figures itself; the server's own budget stops nothing here.
    privacy: { ...d.privacy, secureAggregation: true, epsilonBudget: null },
  };
}

/** Closes one secure round the server's way; returns the close plan (new params and Adam state). */
export function closeSecureRound(x: {
  config: ServerConfig;
  spec: ModelSpec;
  modelId: string;
  /** Model version the round trained from (the number of releases so far). */
  version: number;
  params: Float32Array;
  adam: AdamState | null;
  encoding: EncodingParams;
  survivors: number;
  /** The decoded sum of the round's clipped, noised updates and how many clients are in it. */
  sum: Float64Array;
  count: number;
}): ClosePlan {
  const denominator = x.config.training.expectedClientsPerRound;
  return planClose({
    config: x.config,
    modelId: x.modelId,
    spec: x.spec,
    version: x.version,
    params: x.params,
    adam: x.adam,
    ledger: new PrivacyLedger(x.config, []),
    open: {
      round: newRound(x.version + 1, x.version, new Date(0).toISOString()),
      acc: { sum: x.sum, weight: x.count, count: x.count, sqWeightSum: x.count, maxWeight: 1 },
    },
    now: () => 0,
    noise: secureRoundNoise(x.encoding, x.survivors, denominator),
  });
}
