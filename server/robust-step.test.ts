import { describe, expect, it } from 'vitest';
import { DEFAULT_SPEC, paramCount, paramLayout } from '../shared/model/spec.ts';
import { clipRoundUpdate, honestRoundNorm, robustStep } from './robust-step.ts';

const spec = { ...DEFAULT_SPEC, dim: 3, itemBuckets: 4, attrBuckets: 2, queryBuckets: 2, maxHistory: 2 };
const D = spec.dim + 1;
const n = paramCount(spec);
const dense = paramLayout(spec).find((b) => b.name === 'posLogits')!.offset;
const norm = (v: Float32Array, from = 0, to = v.length): number =>
  Math.sqrt(v.subarray(from, to).reduce((a, x) => a + x * x, 0));

describe('robustStep', () => {
  const bounds = { rowStep: 0.1, idBiasStep: 0.01, idBiasMax: 0.25, biasMax: 0.5, denseStep: 0.2 };

  it('bounds each row’s change, the dense change and the biases; leaves small steps alone', () => {
    const before = new Float32Array(n).map((_, i) => (i % 5) * 0.01);
    before[5 * D + spec.dim] = 2; // attribute row 5's bias, above biasMax from an earlier configuration
    before[3 * D + spec.dim] = 0.3; // item-id row 3's bias, above idBiasMax from an earlier configuration
    const next = before.slice();
    next[0] = before[0]! + 3; // item-id row 0: a large change
    next[1 * D + 1] = before[1 * D + 1]! + 0.05; // item-id row 1: a small change
    next[2 * D + spec.dim] = before[2 * D + spec.dim]! + 0.05; // item-id row 2: its bias, past the step
    next[1 * D + spec.dim] = before[1 * D + spec.dim]! - 0.005; // item-id row 1: its bias, within the step
    for (let i = dense; i < n; i++) next[i] = before[i]! + 1;
    const r = robustStep(spec, before, next, bounds);
    const change = next.map((x, i) => x - before[i]!);
    expect(norm(change, 0, D - 1)).toBeCloseTo(0.1, 5);
    expect(change[1 * D + 1]).toBeCloseTo(0.05, 6);
    expect(next[5 * D + spec.dim]).toBeCloseTo(0.5, 6);
    expect(change[2 * D + spec.dim]).toBeCloseTo(0.01, 6);
    expect(change[1 * D + spec.dim]).toBeCloseTo(-0.005, 6);
    expect(next[3 * D + spec.dim]).toBeCloseTo(0.25, 6);
    for (let row = 0; row < spec.itemBuckets; row++) {
      expect(Math.abs(change[row * D + spec.dim]!)).toBeLessThanOrEqual(0.01 + 1e-6 + (row === 3 ? 0.05 : 0));
    }
    expect(norm(change, dense)).toBeCloseTo(0.2, 5);
    expect(r.denseClipped).toBe(true);
    expect(r.rowsClipped).toBe(1);
    expect(r.biasesBounded).toBeGreaterThanOrEqual(1);
  });

  it('clips the round update to the honest round norm', () => {
    const bound = honestRoundNorm(1, 0.1, 100, 8);
    expect(bound).toBeCloseTo(1 + 0.1 * (10 + 8), 5);
    const mean = new Float32Array(100).fill(1);
    expect(clipRoundUpdate(mean, bound)).toBe(true);
    expect(norm(mean)).toBeCloseTo(bound, 4);
    const small = new Float32Array(100).fill(0.01);
    expect(clipRoundUpdate(small, bound)).toBe(false);
    expect(small[0]).toBeCloseTo(0.01, 7);
  });
});
