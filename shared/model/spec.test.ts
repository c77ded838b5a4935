import { describe, expect, it } from 'vitest';
import { encodedByteLength } from '../codec/tensor-codec.ts';
import { isFedrankError } from '../errors.ts';
import { DEFAULT_SPEC, initGlobalParams, modelIdOf, paramCount, paramLayout, parseSpec } from './spec.ts';

describe('model spec', () => {
  it('lays parameters out contiguously', () => {
    const layout = paramLayout(DEFAULT_SPEC);
    let off = 0;
    for (const b of layout) {
      expect(b.offset).toBe(off);
      expect(b.size).toBe(b.shape.reduce((a, c) => a * c, 1));
      off += b.size;
    }
    expect(paramCount(DEFAULT_SPEC)).toBe(off);
  });

  it('keeps a dense int8 delta of DEFAULT_SPEC within 512 KB', () => {
    const n = paramCount(DEFAULT_SPEC);
    expect(encodedByteLength(n, 'i8', 256, modelIdOf(DEFAULT_SPEC))).toBeLessThanOrEqual(512 * 1024);
  });

  it('initialises deterministically per seed', () => {
    const a = initGlobalParams(DEFAULT_SPEC, 7);
    const b = initGlobalParams(DEFAULT_SPEC, 7);
    const c = initGlobalParams(DEFAULT_SPEC, 8);
    expect(a.length).toBe(paramCount(DEFAULT_SPEC));
    expect(Buffer.from(a.buffer).equals(Buffer.from(b.buffer))).toBe(true);
    expect(Buffer.from(a.buffer).equals(Buffer.from(c.buffer))).toBe(false);
    expect(a.every(Number.isFinite)).toBe(true);
    const emb = paramLayout(DEFAULT_SPEC)[0]!;
    const D = DEFAULT_SPEC.dim + 1;
    const v = a.subarray(emb.offset, emb.offset + emb.size).filter((_, i) => i % D !== DEFAULT_SPEC.dim);
    const mean = v.reduce((s, x) => s + x, 0) / v.length;
    const sd = Math.sqrt(v.reduce((s, x) => s + (x - mean) ** 2, 0) / v.length);
    expect(Math.abs(mean)).toBeLessThan(0.002);
    expect(sd).toBeGreaterThan(DEFAULT_SPEC.initStd * 0.95);
    expect(sd).toBeLessThan(DEFAULT_SPEC.initStd * 1.05);
  });

  it('draws item-id rows at idInitStd and attribute rows at initStd, from the same stream', () => {
    const spec = { ...DEFAULT_SPEC, idInitStd: 0.01, initStd: 0.1 };
    const a = initGlobalParams(spec, 7);
    const base = initGlobalParams(DEFAULT_SPEC, 7);
    const D = spec.dim + 1;
    const sdOf = (p: Float32Array, from: number, to: number): number => {
      const v = p.subarray(from * D, to * D).filter((_, i) => i % D !== spec.dim);
      return Math.sqrt(v.reduce((s, x) => s + x * x, 0) / v.length);
    };
    const ids = spec.itemBuckets;
    const attrs = ids + spec.attrBuckets;
    expect(sdOf(a, 0, ids)).toBeCloseTo(0.01, 3);
    expect(sdOf(a, ids, attrs)).toBeCloseTo(0.1, 2);
    // Same draws scaled: an item-id row is DEFAULT_SPEC's row times idInitStd / initStd.
    expect(a[5]!).toBeCloseTo((base[5]! * 0.01) / DEFAULT_SPEC.initStd, 6);
    expect(a[ids * D + 5]!).toBeCloseTo((base[ids * D + 5]! * 0.1) / DEFAULT_SPEC.initStd, 6);
  });

  it('derives a stable model id that changes with any hyper-parameter', () => {
    const id = modelIdOf(DEFAULT_SPEC);
    expect(id).toMatch(/^seqdot-v1-[0-9a-f]{8}$/);
    expect(modelIdOf({ ...DEFAULT_SPEC })).toBe(id);
    const reordered = Object.fromEntries(Object.entries(DEFAULT_SPEC).reverse()) as typeof DEFAULT_SPEC;
    expect(modelIdOf(reordered)).toBe(id);
    expect(modelIdOf({ ...DEFAULT_SPEC, dim: 16 })).not.toBe(id);
    expect(modelIdOf({ ...DEFAULT_SPEC, personalWeight: 0.25 })).not.toBe(id);
    expect(modelIdOf({ ...DEFAULT_SPEC, idInitStd: 0.01 })).not.toBe(id);
  });

  it('keeps the ids and the specs written before idInitStd existed', () => {
    // The default model's id before idInitStd: an upgraded server must find its stored model under it.
    expect(modelIdOf(DEFAULT_SPEC)).toBe('seqdot-v1-42f3b4fd');
    const { idInitStd: _, ...older } = { ...DEFAULT_SPEC, initStd: 0.2 };
    expect(parseSpec(older)).toEqual({ ...older, idInitStd: 0.2 });
  });

  it('parses valid specs and rejects malformed ones with BAD_REQUEST', () => {
    expect(parseSpec(JSON.parse(JSON.stringify(DEFAULT_SPEC)))).toEqual(DEFAULT_SPEC);
    const bad: unknown[] = [
      null,
      [],
      'x',
      { ...DEFAULT_SPEC, arch: 'other' },
      { ...DEFAULT_SPEC, dim: 0 },
      { ...DEFAULT_SPEC, dim: 1.5 },
      { ...DEFAULT_SPEC, itemBuckets: '8' },
      { ...DEFAULT_SPEC, initStd: Number.NaN },
      { ...DEFAULT_SPEC, idInitStd: -1 },
      { ...DEFAULT_SPEC, affinityDecay: 2 },
      { ...DEFAULT_SPEC, extra: 1 },
      { ...DEFAULT_SPEC, itemBuckets: 1 << 20, dim: 512 },
      (({ dim: _d, ...rest }) => rest)(DEFAULT_SPEC),
    ];
    for (const x of bad) {
      let err: unknown;
      try {
        parseSpec(x);
      } catch (e) {
        err = e;
      }
      expect(isFedrankError(err) && err.code === 'BAD_REQUEST').toBe(true);
    }
  });
});
