import { describe, expect, it } from 'vitest';
import { FedrankError } from '../errors.ts';
import { encodeTensor } from './tensor-codec.ts';
import { decodeWeights, encodeCompactWeights, weightsPath, WEIGHTS_BLOCK_SIZE } from './weights.ts';

function values(n: number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37) * (1 + (i % 7)));
}

describe('compact weights', () => {
  it('encode deterministically (same bytes every time) within half a block scale', () => {
    const v = values(1000);
    const a = encodeCompactWeights('m1', 3, 0, v);
    expect(encodeCompactWeights('m1', 3, 0, v)).toEqual(a);
    const { header, values: out } = decodeWeights(a, { modelId: 'm1', paramCount: 1000 });
    expect(header).toMatchObject({ kind: 'weights', baseVersion: 3, encoding: 'i8' });
    for (let b = 0; b < 1000; b += WEIGHTS_BLOCK_SIZE) {
      const block = v.subarray(b, b + WEIGHTS_BLOCK_SIZE);
      const half = block.reduce((m, x) => Math.max(m, Math.abs(x)), 0) / 127 / 2;
      for (let i = 0; i < block.length; i++)
        expect(Math.abs(out[b + i]! - block[i]!)).toBeLessThanOrEqual(half * (1 + 1e-6));
    }
    expect(a.byteLength).toBeLessThan(1000 * 4 * 0.3);
  });

  it('decodeWeights refuses deltas and other models or sizes', () => {
    const v = values(64);
    const d = encodeTensor({ kind: 'delta', modelId: 'm1', baseVersion: 0, round: 1, encoding: 'f32' }, v);
    expect(() => decodeWeights(d, { modelId: 'm1', paramCount: 64 })).toThrow(FedrankError);
    const w = encodeCompactWeights('m1', 0, 0, v);
    expect(() => decodeWeights(w, { modelId: 'm2', paramCount: 64 })).toThrow(/expected m2/);
    expect(() => decodeWeights(w, { modelId: 'm1', paramCount: 65 })).toThrow(FedrankError);
    expect(decodeWeights(w, { modelId: 'm1', paramCount: 64 }).values).toHaveLength(64);
  });

  it('decodes from a Node Buffer that is a view into a larger pool (byteOffset != 0)', () => {
    const w = encodeCompactWeights('m1', 0, 0, values(100));
    const pool = Buffer.alloc(w.byteLength + 13, 0x7f);
    pool.set(w, 5);
    const view = pool.subarray(5, 5 + w.byteLength);
    const want = decodeWeights(w, { modelId: 'm1', paramCount: 100 }).values;
    expect(decodeWeights(view, { modelId: 'm1', paramCount: 100 }).values).toEqual(want);
  });

  it('names one path per model version', () => {
    expect(weightsPath('seqdot-v1-abc', 12)).toBe('/v1/model/seqdot-v1-abc/12/weights');
  });
});
