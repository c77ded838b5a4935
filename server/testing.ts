/**
 * Helpers for server tests, the SIGKILL test's child process and the benchmark: a tiny model spec, test
 * configurations, update payloads with known values, and unique ids.
 */
import { randomBytes } from 'node:crypto';
import { encodeTensor } from '../shared/codec/tensor-codec.ts';
import { DEFAULT_SPEC, paramCount, parseSpec } from '../shared/model/spec.ts';
import { makeConfig, type ServerConfig } from './config.ts';

/** A valid seqdot-v1 spec with `dim` and `itemBuckets` chosen by the caller (tiny by default: under 100 params). */
export function smallSpec(dim = 2, itemBuckets = 8): Record<string, unknown> {
  return {
    dim,
    itemBuckets,
    itemHashes: 1,
    attrBuckets: 4,
    maxAttrs: 1,
    queryBuckets: 4,
    maxQueryTokens: 1,
    maxHistory: 2,
  };
}

/** The smallest item-bucket count that gives at least `target` parameters at width `dim`. */
export function specWithParams(target: number, dim = 32): Record<string, unknown> {
  const base = smallSpec(dim, 1);
  const count = (b: number): number => paramCount(parseSpec({ ...DEFAULT_SPEC, ...base, itemBuckets: b }));
  let b = 1;
  while (count(b) < target) b = Math.max(b + 1, Math.floor((b * target) / count(b)));
  return { ...base, itemBuckets: b };
}

/** A test operator token (tests only; the server has no default). */
export const TEST_TOKEN = 'test-operator-token-0123456789';

/** Robust-step bounds that never bind: for tests of the optimizer's exact arithmetic. */
export const UNBOUNDED_ROBUST = {
  rowStep: 1e9,
  idBiasStep: 1e9,
  idBiasMax: 1e9,
  biasMax: 1e9,
  denseStep: 1e9,
};

/**
 * Config for tests: tiny model, no noise unless asked, no rate limits, in-memory db, quiet, and the
 * robust step's bounds off (server/poisoning.test.ts and robust-step.test.ts test them).
 */
export function testConfig(over: Record<string, unknown> = {}): ServerConfig {
  return makeConfig(
    {
      db: ':memory:',
      operatorToken: TEST_TOKEN,
      model: { spec: smallSpec() },
      training: { clipNorm: 100, noiseMultiplier: 0, noiseMode: 'local', expectedClientsPerRound: 1 },
      rounds: { minClients: 2, maxClients: 3, deadlineSeconds: null, maxStaleness: 1, stalenessAlpha: 0.5 },
      limits: { perIpPerMinute: 0, perClientPerMinute: 0 },
      // No noise, so no budget (a budget needs sigma > 0); privacy tests set both.
      privacy: { epsilonBudget: null },
      robust: UNBOUNDED_ROBUST,
      // Tests of other features upload without tokens; the token tests turn them on.
      tokens: { required: false },
      logLevel: 'silent',
    },
    over,
  );
}

/** A random id matching the protocol's pattern (16-64 of [A-Za-z0-9_-]). */
export function randomId(prefix = ''): string {
  return (prefix + randomBytes(16).toString('base64url')).slice(0, 64);
}

/** A delta payload whose every value is `value`. */
export function constantDelta(
  h: { modelId: string; baseVersion: number; round: number; encoding?: 'f32' | 'i8' },
  n: number,
  value: number,
): Uint8Array {
  return encodeTensor(
    {
      kind: 'delta',
      modelId: h.modelId,
      baseVersion: h.baseVersion,
      round: h.round,
      encoding: h.encoding ?? 'f32',
    },
    new Float32Array(n).fill(value),
  );
}
