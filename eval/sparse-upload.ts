/**
 * The upload path of a batched client (a SparseDelta) without materializing 323k-float vectors per client:
 * clip with the product's clipPartsInPlace (the zeros elsewhere do not change the norm), quantize with the
 * product's int8 block quantizer over the blocks the delta spans (blocks are quantized independently, and
 * an all-zero block encodes to zeros, so this is what encodeTensor + decodeTensor do to the whole vector),
 * and add the decoded values into the round's accumulator. f32 uploads decode to exactly what was sent, so
 * their clipped values are added directly.
 */
import { DEFAULT_BLOCK_SIZE } from '../shared/codec/tensor-codec.ts';
import { dequantizeInt8, quantizeInt8 } from '../shared/codec/quantize.ts';
import type { RandomFill } from '../shared/codec/quantize.ts';
import { clipPartsInPlace } from '../shared/dp/clip.ts';
import type { Accumulator } from '../shared/fl/aggregate.ts';
import type { SparseDelta } from '../shared/fl/local-update.ts';
import type { TensorEncoding } from '../shared/protocol.ts';

/** Clips, round-trips through the codec and accumulates sparse deltas of one parameter layout. */
export class SparseUploader {
  private readonly scratch: Float32Array;
  private readonly q: Int8Array;
  private readonly scales: Float32Array;
  private readonly block: number;

  /**
   * `width`: floats per table row; `denseStart`: flat index of SparseDelta.dense[0]; `fill`: the int8
   * rounding randomness (default: the quantizer's crypto source; tests pass a constant one).
   */
  constructor(
    n: number,
    private readonly width: number,
    private readonly denseStart: number,
    private readonly encoding: TensorEncoding,
    blockSize = DEFAULT_BLOCK_SIZE,
    private readonly fill?: RandomFill,
  ) {
    this.scratch = new Float32Array(n);
    this.q = new Int8Array(n);
    this.block = blockSize;
    this.scales = new Float32Array(Math.ceil(n / blockSize));
  }

  /** Clips `d` in place to `clip`, then adds its decoded upload to `acc`. Returns the pre-clip norm. */
  add(acc: Accumulator, d: SparseDelta, clip: number): number {
    const { norm } = clipPartsInPlace([d.rowValues, d.dense], clip);
    if (this.encoding === 'f32') {
      accumulateSparse(acc, d, this.width, this.denseStart); // the f32 codec round trip is exact
      return norm;
    }
    const { scratch, width, block } = this;
    let lo = this.denseStart;
    let hi = this.denseStart + d.dense.length;
    const rv = d.rowValues;
    for (let k = 0; k < d.rows.length; k++) {
      const at = d.rows[k]! * width;
      // A plain loop: subarray() per row would allocate thousands of views per client.
      for (let j = 0, from = k * width; j < width; j++) scratch[at + j] = rv[from + j]!;
      if (at < lo) lo = at;
      if (at + width > hi) hi = at + width;
    }
    scratch.set(d.dense, this.denseStart);
    // One quantizer call over the block-aligned span of touched values: untouched blocks inside it are
    // all zero, which the quantizer passes through as zeros at the cost of one scan.
    const from = Math.floor(lo / block) * block;
    const to = Math.min(scratch.length, Math.ceil(hi / block) * block);
    const values = scratch.subarray(from, to);
    const q = this.q.subarray(from, to);
    const s = this.scales.subarray(from / block, Math.ceil(to / block));
    quantizeInt8(values, block, s, q, this.fill);
    dequantizeInt8(q, s, block, values);
    // Only the touched rows and the dense tail can be non-zero (a zero quantizes to zero): accumulate them
    // and clear the scratch.
    const sum = acc.sum;
    const addRange = (a: number, b: number): void => {
      for (let i = a; i < b; i++) {
        sum[i]! += scratch[i]!;
        scratch[i] = 0;
      }
    };
    for (let k = 0; k < d.rows.length; k++) addRange(d.rows[k]! * width, (d.rows[k]! + 1) * width);
    addRange(this.denseStart, this.denseStart + d.dense.length);
    acc.weight += 1;
    acc.count += 1;
    return norm;
  }
}

/** Adds a sparse delta's values into the accumulator's sum, and counts it. */
function accumulateSparse(acc: Accumulator, d: SparseDelta, width: number, denseStart: number): void {
  const { sum } = acc;
  const rv = d.rowValues;
  for (let k = 0; k < d.rows.length; k++) {
    const at = d.rows[k]! * width;
    for (let j = 0, from = k * width; j < width; j++) sum[at + j]! += rv[from + j]!;
  }
  for (let j = 0; j < d.dense.length; j++) sum[denseStart + j]! += d.dense[j]!;
  acc.weight += 1;
  acc.count += 1;
}
