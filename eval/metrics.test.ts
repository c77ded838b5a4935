import { describe, expect, it } from 'vitest';
import { MetricAccumulator, hitAt, ndcgAt, rankInRow } from './metrics.ts';

describe('ranking metrics', () => {
  it('HR and NDCG of an untied target match hand-computed values', () => {
    // Position 0: NDCG = 1/log2(2) = 1; position 2: 1/log2(4) = 0.5; position 6: 1/log2(8) = 1/3.
    expect(hitAt(10, 0, 0)).toBe(1);
    expect(ndcgAt(10, 0, 0)).toBe(1);
    expect(ndcgAt(10, 2, 0)).toBeCloseTo(0.5, 12);
    expect(ndcgAt(10, 6, 0)).toBeCloseTo(1 / 3, 12);
    // Position 9 is the last inside the top 10, position 10 is out.
    expect(hitAt(10, 9, 0)).toBe(1);
    expect(ndcgAt(10, 9, 0)).toBeCloseTo(1 / Math.log2(11), 12);
    expect(hitAt(10, 10, 0)).toBe(0);
    expect(ndcgAt(10, 10, 0)).toBe(0);
    expect(hitAt(20, 10, 0)).toBe(1);
    expect(ndcgAt(20, 14, 0)).toBeCloseTo(0.25, 12); // 1/log2(16)
  });

  it('ties are broken uniformly in expectation', () => {
    // Target tied with 3 others at the top: positions 0..3 equally likely.
    expect(hitAt(10, 0, 3)).toBe(1);
    expect(ndcgAt(10, 0, 3)).toBeCloseTo((1 + 1 / Math.log2(3) + 0.5 + 1 / Math.log2(5)) / 4, 12);
    // Positions 8..11 equally likely: two of four inside the top 10.
    expect(hitAt(10, 8, 3)).toBe(0.5);
    expect(ndcgAt(10, 8, 3)).toBeCloseTo((1 / Math.log2(10) + 1 / Math.log2(11)) / 4, 12);
  });

  it('a constant model gets the metrics of a random order', () => {
    // 100 candidates all tied: HR@10 = 10/100.
    expect(hitAt(10, 0, 99)).toBeCloseTo(0.1, 12);
  });

  it('rankInRow counts candidates above and tied, leaving out history but keeping the target', () => {
    const row = Float32Array.from([0.9, 0.5, 0.7, 0.5, 0.1, 0.8]);
    // Target 1 (0.5): above it 0, 2, 5; tied 3.
    expect(rankInRow(row, 1, [])).toEqual({ greater: 3, ties: 1 });
    // History {0, 3}: drops one above and the tie; a repeated history item is removed once.
    expect(rankInRow(row, 1, [0, 3, 0])).toEqual({ greater: 2, ties: 0 });
    // The target in its own history stays a candidate.
    expect(rankInRow(row, 1, [1, 5])).toEqual({ greater: 2, ties: 1 });
    // A NaN target score is a miss, never a win.
    expect(rankInRow(Float32Array.from([NaN, 0.1]), 0, []).greater).toBe(2);
  });

  it('rankInRow ranks every candidate scored NaN above the target: a broken model gains nothing', () => {
    // Target 2 (0.5); items 0 and 3 are NaN, item 1 is below: only a model that scored them would beat them.
    const row = Float32Array.from([NaN, 0.2, 0.5, NaN, 0.9]);
    expect(rankInRow(row, 2, [])).toEqual({ greater: 3, ties: 0 });
    // A NaN history item is left out like any other.
    expect(rankInRow(row, 2, [0])).toEqual({ greater: 2, ties: 0 });
    // All-NaN but the target: last place, not first.
    const broken = new Float32Array(50).fill(NaN);
    broken[7] = 0;
    expect(hitAt(10, rankInRow(broken, 7, []).greater, 0)).toBe(0);
  });

  it('the accumulator averages over cases', () => {
    const acc = new MetricAccumulator();
    acc.add(0, 0); // hit at 1
    acc.add(2, 0); // NDCG 0.5
    acc.add(15, 0); // only in the top 20: NDCG@20 = 1/log2(17)
    acc.add(100, 0); // miss
    const r = acc.result();
    expect(r.users).toBe(4);
    expect(r.hr10).toBeCloseTo(0.5, 12);
    expect(r.ndcg10).toBeCloseTo(1.5 / 4, 12);
    expect(r.hr20).toBeCloseTo(0.75, 12);
    expect(r.ndcg20).toBeCloseTo((1.5 + 1 / Math.log2(17)) / 4, 12);
    expect(new MetricAccumulator().result()).toEqual({ hr10: 0, ndcg10: 0, hr20: 0, ndcg20: 0, users: 0 });
  });
});
