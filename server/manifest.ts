/**
 * What clients are shown of the aggregator's state: the model manifest, the open round, and the weights in
 * the tensor codec. Pure functions of that state, kept apart from the round logic that changes it.
 */
import { encodeTensor } from '../shared/codec/tensor-codec.ts';
import type { ModelManifest, RoundInfo } from '../shared/protocol.ts';
import { PROTOCOL_VERSION } from '../shared/protocol.ts';
import { weightsPath } from '../shared/codec/weights.ts';
import { encodeEpsilon } from '../shared/routes.ts';
import type { ServerConfig } from './config.ts';
import type { ModelSource } from './model-source.ts';
import type { RoundAccumulator, RoundRecord } from './store/types.ts';

/**
 * The open round; `deadlineMs` is its deadline (epoch ms), or null without one. The exact count of accepted
 * updates only when `withCount` (operator routes): published, it would release each round's cohort size.
 */
export function roundInfoOf(
  open: { round: RoundRecord; acc: RoundAccumulator },
  rounds: ServerConfig['rounds'],
  deadlineMs: number | null,
  withCount = false,
): RoundInfo {
  return {
    id: open.round.id,
    state: 'open',
    ...(withCount ? { accepted: open.acc.count } : {}),
    minClients: rounds.minClients,
    maxClients: rounds.maxClients,
    deadline: deadlineMs === null ? null : new Date(deadlineMs).toISOString(),
  };
}

/** The manifest of model `version` (GET /v1/model), with the open round and the epsilon spent so far. */
export function manifestOf(
  c: ServerConfig,
  model: ModelSource,
  version: number,
  round: RoundInfo | null,
  epsilonSpent: number,
): ModelManifest {
  return {
    protocol: PROTOCOL_VERSION,
    modelId: model.modelId,
    version,
    paramCount: model.paramCount,
    weightsEncoding: 'f32',
    spec: model.spec,
    training: c.training,
    round,
    privacy: {
      delta: c.privacy.delta,
      // JSON has no Infinity: a noiseless deployment reports the largest finite double.
      epsilonSpent: encodeEpsilon(epsilonSpent),
      epsilonBudget: c.privacy.epsilonBudget,
      deviceEpsilonBudget: c.privacy.deviceEpsilonBudget,
      // The caps the server's ledger and `privacy explain` assume: only the device can enforce them.
      participation: {
        maxContributions: c.privacy.maxContributions,
        minSeparationRounds: c.privacy.minSeparationRounds,
      },
      secureAggregation: c.privacy.secureAggregation,
    },
    maxStaleness: c.rounds.maxStaleness,
    weightsUrl: weightsPath(model.modelId, version),
  };
}

/** Weights of model `version` in the tensor codec (f32); `round` is the open round's id, 0 when none. */
export function encodeWeights(
  modelId: string,
  version: number,
  round: number,
  params: Float32Array,
): Uint8Array {
  return encodeTensor({ kind: 'weights', modelId, baseVersion: version, round, encoding: 'f32' }, params);
}
