/**
 * Wire protocol between the browser SDK and the aggregation server: JSON message types (validated at each
 * boundary by the parsers in `protocol-parse.ts`) and the binary tensor codec in `codec/`.
 */
import type { ErrorCode } from './errors.ts';
import type { ModelSpec } from './model/spec.ts';

export const PROTOCOL_VERSION = 1;

/** Request header carrying the random per-install client id. */
export const HEADER_CLIENT_ID = 'x-fedrank-client';
/** Request header carrying the per-update idempotency key. */
export const HEADER_IDEMPOTENCY_KEY = 'idempotency-key';
/** Content type of binary tensor payloads (weights and updates). */
export const TENSOR_CONTENT_TYPE = 'application/vnd.fedrank.tensor';

/** Where the Gaussian noise is added: all by each client (local) or split over m clients (distributed). */
export type NoiseMode = 'local' | 'distributed';
/** Payload encoding of a tensor. */
export type TensorEncoding = 'f32' | 'i8';

/**
 * How a client weighs its examples in local training: 'mean' (every shopper's update has the same scale
 * before the clip) or 'sum' (an update grows with the shopper's examples up to the clip: federated
 * averaging weighted by examples, as McMahan et al. 2017). The clip bounds a shopper's contribution
 * either way, so the privacy guarantee does not depend on it.
 */
export type LossReduction = 'mean' | 'sum';

/** How clients must train and privatize their update, as the server dictates. */
export interface TrainingConfig {
  /** L2 bound C on the whole delta. */
  clipNorm: number;
  /** Noise multiplier sigma: the aggregate carries Gaussian noise of std sigma*C. */
  noiseMultiplier: number;
  noiseMode: NoiseMode;
  /** m for distributed noise: each client adds std sigma*C/sqrt(m). */
  expectedClientsPerRound: number;
  localEpochs: number;
  learningRate: number;
  batchSize: number;
  /**
   * Catalog items sampled per local step as negatives shared by the step's examples (scored with one
   * matrix product; far cheaper per negative than per-example negatives). 0 disables them.
   */
  sharedNegatives: number;
  /** Mean or sum of the examples' losses per local step (see LossReduction). */
  lossReduction: LossReduction;
  /** New interactions a device needs before it trains and contributes again. */
  minNewEvents: number;
  /** Encoding clients use for their update. */
  updateEncoding: TensorEncoding;
}

/** Privacy state as the server reports it. */
export interface PrivacyInfo {
  /** delta at which epsilon is reported. */
  delta: number;
  /** epsilon spent by the released model so far: per shopper, against model observers, no sampling. */
  epsilonSpent: number;
  /** The server's configured budget, or null when none is set. */
  epsilonBudget: number | null;
  /** Suggested per-device epsilon budget, per shopper against the server (the SDK caps it further). */
  deviceEpsilonBudget: number;
  /** Rounds run secure aggregation: contribute through /v1/secagg (absent: false, for older servers). */
  secureAggregation?: boolean;
  /**
   * The participation the server's figures assume and the device enforces from its own ledger (the SDK may
   * be stricter). Absent: the device applies the SDK's defaults (shared/device/rules.ts).
   */
  participation?: ParticipationPolicy;
}

/** At most `maxContributions` contributions per model id (null: only the epsilon budget bounds them), at least `minSeparationRounds` round ids apart. */
export interface ParticipationPolicy {
  maxContributions: number | null;
  minSeparationRounds: number;
}

/** The round currently accepting updates, if any. */
export interface RoundInfo {
  id: number;
  state: 'open' | 'closed';
  /** Updates accepted so far: only on the operator's authenticated routes (an exact count is a release). */
  accepted?: number;
  minClients: number;
  maxClients: number;
  /** ISO time at which the round closes if it has minClients, or null. */
  deadline: string | null;
}

/** GET /v1/model: what a client needs to fetch the weights and train. */
export interface ModelManifest {
  protocol: typeof PROTOCOL_VERSION;
  modelId: string;
  version: number;
  paramCount: number;
  /** Encoding of GET /v1/model/weights. */
  weightsEncoding: TensorEncoding;
  spec: ModelSpec;
  training: TrainingConfig;
  round: RoundInfo | null;
  privacy: PrivacyInfo;
  /** Updates based on versions older than version - maxStaleness are rejected. */
  maxStaleness: number;
  /**
   * Path of this version's compact weights (int8, per-block scales; decode with shared/codec/weights.ts),
   * immutable and cacheable by a CDN for a year. Absent from servers older than this field.
   */
  weightsUrl?: string;
}

/** Reply to POST /v1/updates when the update is (or already was) accepted. */
export interface UpdateAck {
  accepted: true;
  /** True when this idempotency key was already accepted: nothing was counted twice. */
  duplicate: boolean;
  round: number;
  modelVersion: number;
}

/** POST /v1/eval: an aggregate-only quality report computed on the device before training. */
export interface EvalReport {
  modelVersion: number;
  /** Number of held-out interactions scored. */
  examples: number;
  /** Sum over examples of hit@10 (0/1). */
  hitsAt10: number;
  /** Sum over examples of NDCG@10. */
  ndcgAt10: number;
}

/** Body of every error reply, HTTP or otherwise. */
export interface ErrorReply {
  error: { code: ErrorCode; message: string };
}
