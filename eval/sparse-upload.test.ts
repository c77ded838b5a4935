import { describe, expect, it } from 'vitest';
import type { RandomFill } from '../shared/codec/quantize.ts';
import { decodeTensor, encodeTensor } from '../shared/codec/tensor-codec.ts';
import { clipL2 } from '../shared/dp/clip.ts';
import { accumulate, newAccumulator } from '../shared/fl/aggregate.ts';
import type { SparseDelta } from '../shared/fl/local-update.ts';
import { mulberry32 } from '../shared/model/spec.ts';
import type { TensorEncoding } from '../shared/protocol.ts';
import { SparseUploader } from './sparse-upload.ts';

// 10 table rows of width 9 (rows straddle the 16-value blocks), then a dense tail of 7: n = 97, so the last
// block is partial.
const ROWS = 10;
const WIDTH = 9;
const DENSE = 7;
const DENSE_START = ROWS * WIDTH;
const N = DENSE_START + DENSE;
const BLOCK = 16;
const CLIP = 1;

/** Constant rounding sources: u ~ 1 (k = 0) rounds every value up, u = 0 (k = 2^32 - 1) rounds down. */
const ZEROS: RandomFill = (a) => a.fill(0);
const ONES: RandomFill = (a) => a.fill(0xffffffff);

/** A sparse delta on `rows` (in this order) with values uniform in (-scale, scale). */
function sparseDelta(rows: number[], scale: number, seed: number): SparseDelta {
  const rnd = mulberry32(seed);
  const val = (): number => (2 * rnd() - 1) * scale;
  return {
    rows: Int32Array.from(rows),
    rowValues: Float32Array.from({ length: rows.length * WIDTH }, val),
    dense: Float32Array.from({ length: DENSE }, val),
    loss: 0,
  };
}

/** The delta as the full vector the product would upload (zeros off its rows). */
function densify(d: SparseDelta): Float32Array {
  const out = new Float32Array(N);
  d.rows.forEach((r, k) => out.set(d.rowValues.subarray(k * WIDTH, (k + 1) * WIDTH), r * WIDTH));
  out.set(d.dense, DENSE_START);
  return out;
}

/** The product's path: clip the whole vector, encode, decode. */
function productUpload(
  v: Float32Array,
  encoding: TensorEncoding,
  fill: RandomFill,
): { values: Float32Array; norm: number } {
  const { clipped, norm } = clipL2(v, CLIP);
  const header = { kind: 'delta', modelId: 'm', baseVersion: 0, round: 1, encoding } as const;
  const body = encodeTensor(header, clipped, { blockSize: BLOCK, random: fill });
  return { values: decodeTensor(body, { maxCount: N }).values, norm };
}

/** Deltas above and below the clip bound, with unsorted rows, the first and last row, and none at all. */
function deltas(): SparseDelta[] {
  return [
    sparseDelta([7, 2, 4], 1, 1), // norm ~ 3: clipped
    sparseDelta([0, 9], 0.02, 2), // norm ~ 0.07: kept
    sparseDelta([], 0.1, 3), // dense tail only
    sparseDelta([5, 1, 8, 3], 2, 4), // clipped
  ];
}

describe('SparseUploader', () => {
  it.each([
    ['f32', ZEROS],
    ['i8', ZEROS],
    ['i8', ONES],
  ] as Array<[TensorEncoding, RandomFill]>)(
    'adds exactly what clip + encode + decode of the dense vector gives (%s)',
    (encoding, fill) => {
      const up = new SparseUploader(N, WIDTH, DENSE_START, encoding, BLOCK, fill);
      const acc = newAccumulator(N);
      const ref = newAccumulator(N);
      const list = deltas();
      list.forEach((d, k) => {
        const dense = densify(d);
        const want = productUpload(dense, encoding, fill);
        accumulate(ref, want.values);
        const norm = up.add(acc, d, CLIP);
        // The pre-clip norm, up to the order of the double-precision sum.
        expect(norm).toBeCloseTo(want.norm, 12);
        // Cumulative: the second and later adds start from a cleared scratch.
        expect(acc.sum).toEqual(ref.sum);
        expect(acc.count).toBe(k + 1);
        expect(acc.weight).toBe(k + 1);
      });
      expect(list[0]!.rowValues.length).toBeGreaterThan(0);
      // The fixture exercises both sides of the bound.
      const norms = deltas().map((d) => clipL2(densify(d), CLIP).norm);
      expect(norms.some((x) => x > CLIP) && norms.some((x) => x < CLIP)).toBe(true);
    },
  );

  it('int8 really quantizes: the two constant fills round in opposite directions', () => {
    const sums = [ZEROS, ONES].map((fill) => {
      const up = new SparseUploader(N, WIDTH, DENSE_START, 'i8', BLOCK, fill);
      const acc = newAccumulator(N);
      up.add(acc, deltas()[0]!, CLIP);
      return acc.sum;
    });
    const exact = clipL2(densify(deltas()[0]!), CLIP).clipped;
    let up = 0;
    let down = 0;
    for (let i = 0; i < N; i++) {
      expect(sums[0]![i]!).toBeGreaterThanOrEqual(exact[i]!);
      expect(sums[1]![i]!).toBeLessThanOrEqual(exact[i]!);
      if (sums[0]![i]! > exact[i]!) up++;
      if (sums[1]![i]! < exact[i]!) down++;
    }
    expect(up).toBeGreaterThan(10);
    expect(down).toBeGreaterThan(10);
  });

  it('clips the delta in place and leaves untouched entries of the accumulator alone', () => {
    const up = new SparseUploader(N, WIDTH, DENSE_START, 'f32', BLOCK);
    const acc = newAccumulator(N);
    const d = sparseDelta([3], 5, 7);
    const norm = up.add(acc, d, CLIP);
    expect(norm).toBeGreaterThan(CLIP);
    const after = clipL2(densify(d), 1e9).norm;
    expect(after).toBeLessThanOrEqual(CLIP);
    expect(after).toBeCloseTo(CLIP, 6);
    for (let i = 0; i < N; i++) {
      const touched = (i >= 3 * WIDTH && i < 4 * WIDTH) || i >= DENSE_START;
      if (!touched) expect(acc.sum[i]).toBe(0);
    }
  });
});
