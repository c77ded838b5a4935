import { describe, expect, it } from 'vitest';
import { FedrankError } from './errors.ts';
import { DEFAULT_SPEC, modelIdOf, paramCount } from './model/spec.ts';
import type { EvalReport, ModelManifest, TrainingConfig, UpdateAck } from './protocol.ts';
import {
  MAX_EVAL_EXAMPLES,
  MAX_SHARED_NEGATIVES,
  parseErrorReply,
  parseEvalReport,
  parseManifest,
  parseTrainingConfig,
  parseUpdateAck,
} from './protocol-parse.ts';

const TRAINING: TrainingConfig = {
  clipNorm: 1,
  noiseMultiplier: 0.8,
  noiseMode: 'distributed',
  expectedClientsPerRound: 100,
  localEpochs: 2,
  learningRate: 0.05,
  batchSize: 32,
  sharedNegatives: 64,
  lossReduction: 'mean',
  minNewEvents: 5,
  updateEncoding: 'i8',
};

const MANIFEST: ModelManifest = {
  protocol: 1,
  modelId: modelIdOf(DEFAULT_SPEC),
  version: 12,
  paramCount: paramCount(DEFAULT_SPEC),
  weightsEncoding: 'f32',
  spec: DEFAULT_SPEC,
  training: TRAINING,
  round: {
    id: 13,
    state: 'open',
    accepted: 4,
    minClients: 10,
    maxClients: 200,
    deadline: '2026-11-28T05:00:00.000Z',
  },
  privacy: { delta: 1e-6, epsilonSpent: 1.25, epsilonBudget: 8, deviceEpsilonBudget: 2 },
  maxStaleness: 3,
};

const ACK: UpdateAck = { accepted: true, duplicate: false, round: 13, modelVersion: 12 };
const EVAL: EvalReport = { modelVersion: 12, examples: 40, hitsAt10: 9, ndcgAt10: 4.5 };

/** A JSON round trip, as the message would arrive over the wire. */
function wire<T>(x: T): unknown {
  return JSON.parse(JSON.stringify(x));
}

/** Deep copy of `base` with `path` (dot-separated) set to `value`, or deleted when value is DELETE. */
const DELETE = Symbol('delete');
function edit(base: unknown, path: string, value: unknown): unknown {
  const copy = wire(base) as Record<string, unknown>;
  const keys = path.split('.');
  let o = copy;
  for (const k of keys.slice(0, -1)) o = o[k] as Record<string, unknown>;
  const last = keys[keys.length - 1]!;
  if (value === DELETE) delete o[last];
  else o[last] = value;
  return copy;
}

function rejection(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (e instanceof FedrankError && e.code === 'BAD_REQUEST') return e.detail ?? '';
    throw e;
  }
  throw new Error('accepted');
}

describe('parseManifest', () => {
  it('carries the catalog weights of the spec, and refuses a table that does not match the model id', () => {
    const spec = { ...DEFAULT_SPEC, attrWeights: Array.from({ length: 1024 }, (_, i) => 0.5 + (i % 7) / 4) };
    const m: ModelManifest = { ...MANIFEST, spec, modelId: modelIdOf(spec) };
    expect(parseManifest(wire(m))).toEqual(m);
    const tampered = { ...spec, attrWeights: spec.attrWeights.map((w, i) => (i === 3 ? w * 2 : w)) };
    expect(rejection(() => parseManifest(wire({ ...m, spec: tampered })))).toMatch(
      /^manifest\.modelId must be seqdot-v1-/,
    );
  });

  it('accepts a valid manifest, with and without an open round and budget', () => {
    expect(parseManifest(wire(MANIFEST))).toEqual(MANIFEST);
    const closed = { ...MANIFEST, round: null, privacy: { ...MANIFEST.privacy, epsilonBudget: null } };
    expect(parseManifest(wire(closed))).toEqual(closed);
    const noDeadline = edit(MANIFEST, 'round.deadline', null);
    expect((parseManifest(noDeadline) as ModelManifest).round?.deadline).toBeNull();
  });

  it('drops unknown fields and refuses prototype-polluting keys', () => {
    const extra = parseManifest({ ...(wire(MANIFEST) as object), future: 1 });
    expect('future' in extra).toBe(false);
    const polluted = JSON.parse(
      JSON.stringify(MANIFEST).replace('"clipNorm"', '"__proto__":{"x":1},"clipNorm"'),
    );
    expect(rejection(() => parseManifest(polluted))).toBe('manifest.training.__proto__ is not allowed');
    const specPolluted = JSON.parse(
      JSON.stringify(MANIFEST).replace('"arch"', '"__proto__":{"dim":1},"arch"'),
    );
    expect(rejection(() => parseManifest(specPolluted))).toBe('manifest.spec.__proto__ is not allowed');
    expect(rejection(() => parseManifest(edit(MANIFEST, 'constructor', {})))).toBe(
      'manifest.constructor is not allowed',
    );
    expect(({} as { x?: unknown }).x).toBeUndefined();
  });

  it('ignores inherited properties: a field must be an own property', () => {
    const proto = wire(MANIFEST) as Record<string, unknown>;
    const child = Object.assign(Object.create(proto) as object, {});
    expect(rejection(() => parseManifest(child))).toBe('manifest must be a plain object');
    const t = Object.create(null) as Record<string, unknown>;
    Object.assign(t, TRAINING);
    expect(parseTrainingConfig(t)).toEqual(TRAINING);
  });

  const bad: Array<[string, unknown, string]> = [
    ['protocol', 2, 'manifest.protocol must be 1'],
    ['protocol', '1', 'manifest.protocol must be 1'],
    ['modelId', '', 'manifest.modelId must be 1-64 visible ASCII characters'],
    ['modelId', 'has space', 'manifest.modelId must be 1-64 visible ASCII characters'],
    [
      'modelId',
      'seqdot-v1-00000000',
      `manifest.modelId must be ${modelIdOf(DEFAULT_SPEC)}, the id of the spec`,
    ],
    ['version', -1, 'manifest.version must be an integer in [0, 4294967295]'],
    ['version', 1.5, 'manifest.version must be an integer in [0, 4294967295]'],
    ['version', DELETE, 'manifest.version is required'],
    ['paramCount', 1, `manifest.paramCount must be ${paramCount(DEFAULT_SPEC)}, the size of the spec`],
    ['paramCount', 0, 'manifest.paramCount must be an integer in [1, 16000000]'],
    ['weightsEncoding', 'f16', "manifest.weightsEncoding must be one of 'f32', 'i8'"],
    ['spec', 'seqdot-v1', 'manifest.spec must be an object'],
    ['spec.arch', 'mlp', 'manifest.spec is invalid: unknown model arch mlp'],
    ['spec.dim', 0, 'manifest.spec is invalid: model spec field dim must be an integer in [1, 512]'],
    ['training', null, 'manifest.training must be an object'],
    ['training.clipNorm', 0, 'manifest.training.clipNorm must be a number in (0, 1000000]'],
    ['training.clipNorm', -1, 'manifest.training.clipNorm must be a number in (0, 1000000]'],
    ['training.clipNorm', '1', 'manifest.training.clipNorm must be a number in (0, 1000000]'],
    ['training.clipNorm', DELETE, 'manifest.training.clipNorm is required'],
    ['training.noiseMultiplier', -0.1, 'manifest.training.noiseMultiplier must be a number in [0, 10000]'],
    ['training.noiseMode', 'global', "manifest.training.noiseMode must be one of 'local', 'distributed'"],
    [
      'training.expectedClientsPerRound',
      0,
      'manifest.training.expectedClientsPerRound must be an integer in [1, 1000000000]',
    ],
    ['training.localEpochs', 2.5, 'manifest.training.localEpochs must be an integer in [1, 1000]'],
    ['training.learningRate', 0, 'manifest.training.learningRate must be a number in (0, 1000]'],
    ['training.batchSize', 0, 'manifest.training.batchSize must be an integer in [1, 100000]'],
    ['training.sharedNegatives', DELETE, 'manifest.training.sharedNegatives is required'],
    ['training.sharedNegatives', -1, 'manifest.training.sharedNegatives must be an integer in [0, 4096]'],
    ['training.sharedNegatives', 2.5, 'manifest.training.sharedNegatives must be an integer in [0, 4096]'],
    ['training.sharedNegatives', 4097, 'manifest.training.sharedNegatives must be an integer in [0, 4096]'],
    ['training.sharedNegatives', '64', 'manifest.training.sharedNegatives must be an integer in [0, 4096]'],
    ['training.sharedNegatives', null, 'manifest.training.sharedNegatives must be an integer in [0, 4096]'],
    ['training.lossReduction', DELETE, 'manifest.training.lossReduction is required'],
    ['training.lossReduction', 'avg', "manifest.training.lossReduction must be one of 'mean', 'sum'"],
    ['training.lossReduction', 1, "manifest.training.lossReduction must be one of 'mean', 'sum'"],
    ['training.minNewEvents', -1, 'manifest.training.minNewEvents must be an integer in [0, 1000000]'],
    ['training.updateEncoding', 'int8', "manifest.training.updateEncoding must be one of 'f32', 'i8'"],
    ['round', [], 'manifest.round must be an object'],
    ['round.id', -1, 'manifest.round.id must be an integer in [0, 4294967295]'],
    ['round.state', 'paused', "manifest.round.state must be one of 'open', 'closed'"],
    ['round.accepted', 201, 'manifest.round.accepted must be an integer in [0, 200]'],
    ['round.minClients', 0, 'manifest.round.minClients must be an integer in [1, 1000000000]'],
    ['round.maxClients', 9, 'manifest.round.maxClients must be an integer in [10, 1000000000]'],
    ['round.deadline', 'tomorrow', 'manifest.round.deadline must be null or an ISO 8601 time'],
    ['round.deadline', '2026-13-45T99:00:00Z', 'manifest.round.deadline must be null or an ISO 8601 time'],
    ['round.deadline', 1764306000000, 'manifest.round.deadline must be null or an ISO 8601 time'],
    ['privacy', DELETE, 'manifest.privacy is required'],
    ['privacy.delta', 0, 'manifest.privacy.delta must be a number in (0, 1)'],
    ['privacy.delta', 1, 'manifest.privacy.delta must be a number in (0, 1)'],
    ['privacy.epsilonSpent', -1, 'manifest.privacy.epsilonSpent must be a non-negative number'],
    ['privacy.epsilonBudget', 0, 'manifest.privacy.epsilonBudget must be a positive number'],
    ['privacy.epsilonBudget', DELETE, 'manifest.privacy.epsilonBudget is required'],
    ['privacy.deviceEpsilonBudget', null, 'manifest.privacy.deviceEpsilonBudget must be a positive number'],
    ['maxStaleness', -1, 'manifest.maxStaleness must be an integer in [0, 1000000]'],
  ];
  it.each(bad)('rejects %s = %j', (path, value, message) => {
    expect(rejection(() => parseManifest(edit(MANIFEST, path, value)))).toBe(message);
  });

  it('rejects non-finite numbers that JSON cannot carry but a worker message can', () => {
    for (const v of [NaN, Infinity, -Infinity]) {
      expect(rejection(() => parseManifest({ ...MANIFEST, training: { ...TRAINING, clipNorm: v } }))).toMatch(
        /^manifest\.training\.clipNorm must be/,
      );
      expect(rejection(() => parseManifest({ ...MANIFEST, version: v }))).toMatch(
        /^manifest\.version must be/,
      );
    }
  });

  it('rejects non-objects', () => {
    for (const x of [null, undefined, 1, 'manifest', [], [MANIFEST]]) {
      expect(rejection(() => parseManifest(x))).toBe('manifest must be an object');
    }
  });
});

describe('parseTrainingConfig', () => {
  it('accepts a valid config and names the field of a bad one', () => {
    expect(parseTrainingConfig(wire(TRAINING))).toEqual(TRAINING);
    expect(
      parseTrainingConfig({ ...TRAINING, noiseMultiplier: 0, noiseMode: 'local', updateEncoding: 'f32' }),
    ).toEqual({
      ...TRAINING,
      noiseMultiplier: 0,
      noiseMode: 'local',
      updateEncoding: 'f32',
    });
    expect(rejection(() => parseTrainingConfig({ ...TRAINING, clipNorm: 0 }))).toBe(
      'training.clipNorm must be a number in (0, 1000000]',
    );
  });

  it('accepts sharedNegatives from 0 (disabled) up to MAX_SHARED_NEGATIVES', () => {
    expect(MAX_SHARED_NEGATIVES).toBe(4096);
    for (const n of [0, 1, 64, 4096]) {
      expect(parseTrainingConfig(wire({ ...TRAINING, sharedNegatives: n }))).toEqual({
        ...TRAINING,
        sharedNegatives: n,
      });
    }
    for (const n of [-1, 4097, 0.5, NaN, Infinity]) {
      expect(rejection(() => parseTrainingConfig({ ...TRAINING, sharedNegatives: n }))).toBe(
        'training.sharedNegatives must be an integer in [0, 4096]',
      );
    }
    const { sharedNegatives: _, ...missing } = TRAINING;
    expect(rejection(() => parseTrainingConfig(missing))).toBe('training.sharedNegatives is required');
  });
});

describe('parseUpdateAck', () => {
  it('accepts valid acks', () => {
    expect(parseUpdateAck(wire(ACK))).toEqual(ACK);
    expect(parseUpdateAck({ ...ACK, duplicate: true })).toEqual({ ...ACK, duplicate: true });
  });
  it.each([
    ['accepted', false, 'ack.accepted must be true'],
    ['accepted', 'true', 'ack.accepted must be true'],
    ['duplicate', 0, 'ack.duplicate must be a boolean'],
    ['duplicate', DELETE, 'ack.duplicate is required'],
    ['round', -1, 'ack.round must be an integer in [0, 4294967295]'],
    ['modelVersion', 2 ** 32, 'ack.modelVersion must be an integer in [0, 4294967295]'],
  ] as Array<[string, unknown, string]>)('rejects %s = %j', (path, value, message) => {
    expect(rejection(() => parseUpdateAck(edit(ACK, path, value)))).toBe(message);
  });
});

describe('parseErrorReply', () => {
  it('accepts a catalogued error', () => {
    const r = { error: { code: 'UPDATE_STALE', message: 'too old' } };
    expect(parseErrorReply(wire(r))).toEqual(r);
  });
  it.each([
    ['error', 'UPDATE_STALE', 'reply.error must be an object'],
    ['error.code', 'NOPE', 'reply.error.code must be a catalogued error code'],
    ['error.code', 'toString', 'reply.error.code must be a catalogued error code'],
    ['error.code', 404, 'reply.error.code must be a catalogued error code'],
    ['error.message', null, 'reply.error.message must be a string of at most 4096 characters'],
    ['error.message', 'x'.repeat(4097), 'reply.error.message must be a string of at most 4096 characters'],
  ] as Array<[string, unknown, string]>)('rejects %s = %j', (path, value, message) => {
    const base = { error: { code: 'UPDATE_STALE', message: 'too old' } };
    expect(rejection(() => parseErrorReply(edit(base, path, value)))).toBe(message);
  });
});

describe('parseEvalReport', () => {
  it('accepts valid reports, including a report with no hits', () => {
    expect(parseEvalReport(wire(EVAL))).toEqual(EVAL);
    const none = { modelVersion: 0, examples: 1, hitsAt10: 0, ndcgAt10: 0 };
    expect(parseEvalReport(none)).toEqual(none);
  });
  it.each([
    ['modelVersion', -1, 'eval.modelVersion must be an integer in [0, 4294967295]'],
    ['examples', 0, `eval.examples must be an integer in [1, ${MAX_EVAL_EXAMPLES}]`],
    ['examples', MAX_EVAL_EXAMPLES + 1, `eval.examples must be an integer in [1, ${MAX_EVAL_EXAMPLES}]`],
    ['hitsAt10', 41, 'eval.hitsAt10 must be an integer in [0, 40]'],
    ['hitsAt10', 1.5, 'eval.hitsAt10 must be an integer in [0, 40]'],
    ['ndcgAt10', -0.1, 'eval.ndcgAt10 must be a number in [0, 40]'],
    ['ndcgAt10', 9.5, 'eval.ndcgAt10 must not exceed hitsAt10'],
    ['ndcgAt10', '4', 'eval.ndcgAt10 must be a number in [0, 40]'],
  ] as Array<[string, unknown, string]>)('rejects %s = %j', (path, value, message) => {
    expect(rejection(() => parseEvalReport(edit(EVAL, path, value)))).toBe(message);
  });
});
