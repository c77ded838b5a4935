import { describe, expect, it } from 'vitest';
import { clipL2, l2Norm } from './clip.ts';

function randomVector(n: number, scale: number): Float32Array {
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) v[i] = (Math.random() - 0.5) * scale;
  return v;
}

describe('clipL2', () => {
  it('scales a long vector down to exactly the bound, keeping its direction', () => {
    const v = randomVector(100_000, 2);
    const norm = l2Norm(v);
    const { clipped, norm: pre, factor } = clipL2(v, 1.5);
    expect(pre).toBe(norm);
    expect(l2Norm(clipped)).toBeLessThanOrEqual(1.5);
    expect(l2Norm(clipped)).toBeGreaterThan(1.5 * (1 - 1e-6));
    expect(factor).toBeCloseTo(1.5 / norm, 6);
    for (const i of [0, 17, 99_999]) expect(clipped[i]).toBeCloseTo(v[i]! * factor, 6);
    expect(clipped).not.toBe(v);
  });

  it('leaves a vector within the bound unchanged (a copy)', () => {
    const v = Float32Array.from([3, 4]);
    const { clipped, norm, factor } = clipL2(v, 5);
    expect(norm).toBe(5);
    expect(factor).toBe(1);
    expect(Array.from(clipped)).toEqual([3, 4]);
    clipped[0] = 9;
    expect(v[0]).toBe(3);
  });

  it('gives norm min(norm, C) across scales', () => {
    for (const scale of [1e-6, 1e-2, 1, 1e3]) {
      const v = randomVector(5000, scale);
      const n = l2Norm(v);
      const c = 0.1;
      expect(l2Norm(clipL2(v, c).clipped)).toBeCloseTo(Math.min(n, c), 6);
    }
  });

  it('handles the zero vector and rejects non-finite input or bounds', () => {
    expect(clipL2(new Float32Array(4), 1).factor).toBe(1);
    expect(() => clipL2(Float32Array.from([1, NaN]), 1)).toThrow(RangeError);
    expect(() => clipL2(Float32Array.from([Infinity]), 1)).toThrow(RangeError);
    expect(() => clipL2(Float32Array.from([1]), 0)).toThrow(RangeError);
    expect(() => clipL2(Float32Array.from([1]), Infinity)).toThrow(RangeError);
  });

  it('computes the norm in double precision', () => {
    const v = new Float32Array(1_000_000).fill(1e-3);
    expect(l2Norm(v)).toBeCloseTo(Math.sqrt(1_000_000) * Math.fround(1e-3), 10);
  });
});
