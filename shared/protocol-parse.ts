/**
 * Strict validators for every JSON message in protocol.ts, used at each boundary (HTTP bodies, worker
 * messages, stored records). Each returns a fresh object holding only the known fields (unknown fields are
 * dropped, so nothing smuggled rides along), and throws FedrankError('BAD_REQUEST', '<path> must be ...')
 * on the first problem. Objects must be plain; own keys __proto__, constructor and prototype are refused.
 */
import { ERRORS, FedrankError, type ErrorCode } from './errors.ts';
import { isValidModelId } from './codec/model-id.ts';
import { MAX_PARAMS, modelIdOf, paramCount, parseSpec } from './model/spec.ts';
import {
  PROTOCOL_VERSION,
  type EvalReport,
  type ErrorReply,
  type LossReduction,
  type ModelManifest,
  type NoiseMode,
  type ParticipationPolicy,
  type PrivacyInfo,
  type RoundInfo,
  type TensorEncoding,
  type TrainingConfig,
  type UpdateAck,
} from './protocol.ts';

/** Largest version/round number (they travel as uint32 in the tensor codec header). */
const UINT32_MAX = 0xffffffff;
/** Upper bound on counts a client may report or a server may configure (clients per round, examples). */
const MAX_COUNT = 1_000_000_000;
/** Most held-out examples one eval report may claim (keeps one device from swamping the aggregate). */
export const MAX_EVAL_EXAMPLES = 1_000_000;
/** Longest error message accepted in an ErrorReply. */
const MAX_MESSAGE_CHARS = 4096;
/** Most shared negatives a manifest may ask a device to score per local step. */
export const MAX_SHARED_NEGATIVES = 4096;
const FORBIDDEN_KEYS = ['__proto__', 'constructor', 'prototype'];
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;
const NOISE_MODES: readonly NoiseMode[] = ['local', 'distributed'];
const ENCODINGS: readonly TensorEncoding[] = ['f32', 'i8'];
const LOSS_REDUCTIONS: readonly LossReduction[] = ['mean', 'sum'];
const ROUND_STATES: readonly RoundInfo['state'][] = ['open', 'closed'];

type Obj = Record<string, unknown>;

function bad(path: string, what: string): never {
  throw new FedrankError('BAD_REQUEST', `${path} ${what}`);
}

/** `x` as a plain object (prototype Object.prototype or null) without prototype-polluting own keys. */
export function object(x: unknown, path: string): Obj {
  if (typeof x !== 'object' || x === null || Array.isArray(x)) bad(path, 'must be an object');
  const proto = Object.getPrototypeOf(x) as unknown;
  if (proto !== Object.prototype && proto !== null) bad(path, 'must be a plain object');
  for (const k of FORBIDDEN_KEYS) if (Object.hasOwn(x, k)) bad(`${path}.${k}`, 'is not allowed');
  return x as Obj;
}

/** An own property only: inherited values (Object.prototype.toString...) never count as present. */
export function own(o: Obj, key: string, path: string): unknown {
  if (!Object.hasOwn(o, key)) bad(`${path}.${key}`, 'is required');
  return o[key];
}

function integer(o: Obj, key: string, path: string, lo: number, hi: number): number {
  const v = own(o, key, path);
  if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi) {
    bad(`${path}.${key}`, `must be an integer in [${lo}, ${hi}]`);
  }
  return v;
}

function positive(o: Obj, key: string, path: string, max = Number.MAX_VALUE): number {
  const v = own(o, key, path);
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0 || v > max) {
    bad(
      `${path}.${key}`,
      max === Number.MAX_VALUE ? 'must be a positive number' : `must be a number in (0, ${max}]`,
    );
  }
  return v;
}

function nonNegative(o: Obj, key: string, path: string, max = Number.MAX_VALUE): number {
  const v = own(o, key, path);
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || v > max) {
    bad(
      `${path}.${key}`,
      max === Number.MAX_VALUE ? 'must be a non-negative number' : `must be a number in [0, ${max}]`,
    );
  }
  return v;
}

function oneOf<T extends string>(o: Obj, key: string, path: string, values: readonly T[]): T {
  const v = own(o, key, path);
  if (typeof v !== 'string' || !(values as readonly string[]).includes(v)) {
    bad(`${path}.${key}`, `must be one of ${values.map((x) => `'${x}'`).join(', ')}`);
  }
  return v as T;
}

function boolean(o: Obj, key: string, path: string): boolean {
  const v = own(o, key, path);
  if (typeof v !== 'boolean') bad(`${path}.${key}`, 'must be a boolean');
  return v;
}

/** How one training setting is checked: the bounds live only in TRAINING_FIELDS below. */
export type TrainingField =
  | { kind: 'positive'; max: number }
  | { kind: 'nonNegative'; max: number }
  | { kind: 'integer'; min: number; max: number }
  | { kind: 'oneOf'; values: readonly string[] };

/**
 * Bounds of every training setting: the one table behind both the device's manifest parser and the
 * server's config validation, so a server can never be configured with settings every device refuses.
 */
export const TRAINING_FIELDS: { readonly [K in keyof TrainingConfig]: TrainingField } = {
  clipNorm: { kind: 'positive', max: 1e6 },
  noiseMultiplier: { kind: 'nonNegative', max: 1e4 },
  noiseMode: { kind: 'oneOf', values: NOISE_MODES },
  expectedClientsPerRound: { kind: 'integer', min: 1, max: MAX_COUNT },
  localEpochs: { kind: 'integer', min: 1, max: 1000 },
  learningRate: { kind: 'positive', max: 1000 },
  batchSize: { kind: 'integer', min: 1, max: 100_000 },
  sharedNegatives: { kind: 'integer', min: 0, max: MAX_SHARED_NEGATIVES },
  lossReduction: { kind: 'oneOf', values: LOSS_REDUCTIONS },
  minNewEvents: { kind: 'integer', min: 0, max: 1_000_000 },
  updateEncoding: { kind: 'oneOf', values: ENCODINGS },
};

/** Validates one training setting of `o` against TRAINING_FIELDS; throws BAD_REQUEST '<path>.<key> ...'. */
export function parseTrainingField<K extends keyof TrainingConfig>(
  o: Record<string, unknown>,
  key: K,
  path = 'training',
): TrainingConfig[K] {
  const f = TRAINING_FIELDS[key];
  switch (f.kind) {
    case 'positive':
      return positive(o, key, path, f.max) as TrainingConfig[K];
    case 'nonNegative':
      return nonNegative(o, key, path, f.max) as TrainingConfig[K];
    case 'integer':
      return integer(o, key, path, f.min, f.max) as TrainingConfig[K];
    case 'oneOf':
      return oneOf(o, key, path, f.values) as TrainingConfig[K];
  }
}

/** Validates a TrainingConfig (the server's instructions for local training and privatization). */
export function parseTrainingConfig(x: unknown, path = 'training'): TrainingConfig {
  const o = object(x, path);
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(TRAINING_FIELDS) as (keyof TrainingConfig)[])
    out[key] = parseTrainingField(o, key, path);
  return out as unknown as TrainingConfig;
}

/** Validates the server's privacy report. */
export function parsePrivacyInfo(x: unknown, path = 'privacy'): PrivacyInfo {
  const o = object(x, path);
  const delta = own(o, 'delta', path);
  if (typeof delta !== 'number' || !(delta > 0 && delta < 1))
    bad(`${path}.delta`, 'must be a number in (0, 1)');
  const budget = own(o, 'epsilonBudget', path);
  const participation = Object.hasOwn(o, 'participation') ? o.participation : undefined;
  return {
    delta,
    epsilonSpent: nonNegative(o, 'epsilonSpent', path),
    epsilonBudget: budget === null ? null : positive(o, 'epsilonBudget', path),
    deviceEpsilonBudget: positive(o, 'deviceEpsilonBudget', path),
    ...(o.secureAggregation === undefined
      ? {}
      : { secureAggregation: boolean(o, 'secureAggregation', path) }),
    ...(participation === undefined
      ? {}
      : { participation: parseParticipation(participation, `${path}.participation`) }),
  };
}

/** Validates a participation policy: k null or an integer >= 1, b an integer >= 1. */
export function parseParticipation(x: unknown, path = 'participation'): ParticipationPolicy {
  const o = object(x, path);
  const k = own(o, 'maxContributions', path);
  return {
    maxContributions: k === null ? null : integer(o, 'maxContributions', path, 1, MAX_COUNT),
    minSeparationRounds: integer(o, 'minSeparationRounds', path, 1, MAX_COUNT),
  };
}

/** Validates a round description; `accepted` may not exceed `maxClients`, nor `minClients` exceed it. */
export function parseRoundInfo(x: unknown, path = 'round'): RoundInfo {
  const o = object(x, path);
  const minClients = integer(o, 'minClients', path, 1, MAX_COUNT);
  const maxClients = integer(o, 'maxClients', path, minClients, MAX_COUNT);
  const deadline = own(o, 'deadline', path);
  if (
    deadline !== null &&
    (typeof deadline !== 'string' || !ISO_TIME.test(deadline) || !Number.isFinite(Date.parse(deadline)))
  ) {
    bad(`${path}.deadline`, 'must be null or an ISO 8601 time');
  }
  return {
    id: integer(o, 'id', path, 0, UINT32_MAX),
    state: oneOf(o, 'state', path, ROUND_STATES),
    ...(o.accepted === undefined ? {} : { accepted: integer(o, 'accepted', path, 0, maxClients) }),
    minClients,
    maxClients,
    deadline,
  };
}

/** Validates GET /v1/model; the spec must describe exactly `paramCount` parameters and the id `modelId`. */
export function parseManifest(x: unknown): ModelManifest {
  const path = 'manifest';
  const o = object(x, path);
  if (own(o, 'protocol', path) !== PROTOCOL_VERSION) bad(`${path}.protocol`, `must be ${PROTOCOL_VERSION}`);
  const modelId = own(o, 'modelId', path);
  if (!isValidModelId(modelId)) bad(`${path}.modelId`, 'must be 1-64 visible ASCII characters');
  const rawSpec = object(own(o, 'spec', path), `${path}.spec`);
  let spec: ModelManifest['spec'];
  try {
    spec = parseSpec(rawSpec);
  } catch (e) {
    if (e instanceof FedrankError) bad(`${path}.spec`, `is invalid: ${e.detail ?? e.message}`);
    throw e;
  }
  const count = integer(o, 'paramCount', path, 1, MAX_PARAMS);
  if (count !== paramCount(spec))
    bad(`${path}.paramCount`, `must be ${paramCount(spec)}, the size of the spec`);
  if (modelId !== modelIdOf(spec)) bad(`${path}.modelId`, `must be ${modelIdOf(spec)}, the id of the spec`);
  const round = own(o, 'round', path);
  return {
    protocol: PROTOCOL_VERSION,
    modelId,
    version: integer(o, 'version', path, 0, UINT32_MAX),
    paramCount: count,
    weightsEncoding: oneOf(o, 'weightsEncoding', path, ENCODINGS),
    spec,
    training: parseTrainingConfig(own(o, 'training', path), `${path}.training`),
    round: round === null ? null : parseRoundInfo(round, `${path}.round`),
    privacy: parsePrivacyInfo(own(o, 'privacy', path), `${path}.privacy`),
    maxStaleness: integer(o, 'maxStaleness', path, 0, 1_000_000),
    ...(o.weightsUrl === undefined ? {} : { weightsUrl: weightsUrlOf(o.weightsUrl, `${path}.weightsUrl`) }),
  };
}

/** A same-origin path under /v1/model/ (never another host: the weights must come from the model's server or its CDN path). */
function weightsUrlOf(x: unknown, path: string): string {
  if (typeof x !== 'string' || !/^\/v1\/model\/[A-Za-z0-9._~%-]{1,200}\/\d{1,10}\/weights$/.test(x))
    bad(path, 'must be a path like /v1/model/ID/VERSION/weights');
  return x;
}

/** Validates the reply to POST /v1/updates. */
export function parseUpdateAck(x: unknown): UpdateAck {
  const path = 'ack';
  const o = object(x, path);
  if (own(o, 'accepted', path) !== true) bad(`${path}.accepted`, 'must be true');
  return {
    accepted: true,
    duplicate: boolean(o, 'duplicate', path),
    round: integer(o, 'round', path, 0, UINT32_MAX),
    modelVersion: integer(o, 'modelVersion', path, 0, UINT32_MAX),
  };
}

/** Validates an error body `{ error: { code, message } }`; the code must be in the catalogue. */
export function parseErrorReply(x: unknown): ErrorReply {
  const o = object(x, 'reply');
  const e = object(own(o, 'error', 'reply'), 'reply.error');
  const code = own(e, 'code', 'reply.error');
  if (typeof code !== 'string' || !Object.hasOwn(ERRORS, code))
    bad('reply.error.code', 'must be a catalogued error code');
  const message = own(e, 'message', 'reply.error');
  if (typeof message !== 'string' || message.length > MAX_MESSAGE_CHARS) {
    bad('reply.error.message', `must be a string of at most ${MAX_MESSAGE_CHARS} characters`);
  }
  return { error: { code: code as ErrorCode, message } };
}

/** Validates POST /v1/eval: sums over `examples` held-out interactions, so 0 <= ndcgAt10 <= hitsAt10 <= examples. */
export function parseEvalReport(x: unknown): EvalReport {
  const path = 'eval';
  const o = object(x, path);
  const examples = integer(o, 'examples', path, 1, MAX_EVAL_EXAMPLES);
  const hitsAt10 = integer(o, 'hitsAt10', path, 0, examples);
  // NDCG@10 of one example is 0 on a miss and at most 1 on a hit, so the sum cannot exceed the hits.
  const ndcgAt10 = nonNegative(o, 'ndcgAt10', path, examples);
  if (ndcgAt10 > hitsAt10 * (1 + 1e-9)) bad(`${path}.ndcgAt10`, 'must not exceed hitsAt10');
  return { modelVersion: integer(o, 'modelVersion', path, 0, UINT32_MAX), examples, hitsAt10, ndcgAt10 };
}
