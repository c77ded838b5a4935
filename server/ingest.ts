/**
 * Update ingestion math on the codec's raw views: the L2 norm, the norm bound an honest client can reach,
 * and adding a weighted update into the running float64 sum without materializing a float32 copy.
 */
import { noiseStdPerClient } from '../shared/dp/noise.ts';
import { rejectInt8Min, type TensorView } from '../shared/codec/tensor-codec.ts';
import type { TrainingConfig } from '../shared/protocol.ts';
import type { RoundAccumulator } from './store/types.ts';

const LITTLE_ENDIAN = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;

/**
 * Whole blocks of `q` can be read four int8 at a time through an Int32Array (V8 does not vectorize, so
 * per-element loop overhead dominates; word reads halve it). Needs a little-endian host and a 4-aligned view.
 */
function wordBlocks(q: Int8Array, blockSize: number): { words: Int32Array; blocks: number } | null {
  if (!LITTLE_ENDIAN || q.byteOffset % 4 !== 0 || blockSize % 4 !== 0) return null;
  const blocks = Math.floor(q.length / blockSize);
  return { words: new Int32Array(q.buffer, q.byteOffset, (blocks * blockSize) >> 2), blocks };
}

/** L2 norm of the decoded update (float64 accumulation; per-block integer sums of squares are exact). */
export function viewNorm(v: TensorView): number {
  return normAndInt8Min(v).norm;
}

/**
 * The norm of an upload decoded with decodeTensorViewScanDeferred, rejecting a -128 in the same pass over
 * q (CODEC_BAD_VALUE, as decodeTensorView would): one read of the payload instead of two on the hot path.
 */
export function checkedViewNorm(v: TensorView): number {
  const r = normAndInt8Min(v);
  if (r.int8Min && 'q' in v) rejectInt8Min(v.q);
  return r.norm;
}

/** The L2 norm, and whether an i8 payload holds a -128 (which decodeTensorView rejects). */
function normAndInt8Min(v: TensorView): { norm: number; int8Min: boolean } {
  let ss = 0;
  if ('values' in v) {
    const x = v.values;
    for (let i = 0; i < x.length; i++) ss += x[i]! * x[i]!;
    return { norm: Math.sqrt(ss), int8Min: false };
  }
  const { q, scales, blockSize } = v;
  const n = q.length;
  const wb = wordBlocks(q, blockSize);
  let first = 0; // first block left to the per-byte loop
  let zero = 0; // bit 7 of a byte set iff some word had a byte 0x80 (the has-zero-byte test after XOR 0x80)
  if (wb) {
    const per = blockSize >> 2;
    const w = wb.words;
    for (let b = 0; b < wb.blocks; b++) {
      let k2 = 0; // exact: at most 65536 * 127^2 < 2^31
      for (let j = b * per, end = j + per; j < end; j++) {
        const x = w[j]!;
        const t = x ^ 0x80808080;
        zero |= (t - 0x01010101) & ~t;
        const a = (x << 24) >> 24;
        const c = (x << 16) >> 24;
        const d = (x << 8) >> 24;
        const e = x >> 24;
        k2 += a * a + c * c + d * d + e * e;
      }
      const s = scales[b]!;
      ss += k2 * s * s;
    }
    first = wb.blocks;
  }
  let int8Min = (zero & 0x80808080) !== 0;
  for (let start = first * blockSize, b = first; start < n; start += blockSize, b++) {
    const end = Math.min(n, start + blockSize);
    let k2 = 0;
    for (let i = start; i < end; i++) {
      const a = q[i]!;
      if (a === -128) int8Min = true;
      k2 += a * a;
    }
    const s = scales[b]!;
    ss += k2 * s * s;
  }
  return { norm: Math.sqrt(ss), int8Min };
}

/**
 * Largest norm an honest update can have, except with probability below exp(-z^2/2):
 * a clipped delta (norm <= C) plus Gaussian noise of per-client std s over d parameters has norm at most
 * C + s*(sqrt(d) + z) (Gaussian concentration of the 1-Lipschitz norm: P(|n| > s*sqrt(d) + s*z) <= e^{-z^2/2}).
 * int8 stochastic rounding moves each value by less than its block scale max|x_b|/127, so the quantization
 * error norm is at most sqrt(B)/127 * |x| for block size B (B = min(blockSize, d)); hence the factor
 * (1 + sqrt(B)/127). A 1e-6 relative slack covers float32 rounding.
 */
export function maxHonestNorm(t: TrainingConfig, d: number, z: number, blockSize: number): number {
  const s = noiseStdPerClient(t);
  const base = t.clipNorm + s * (Math.sqrt(d) + z);
  const quant = blockSize > 0 ? 1 + Math.sqrt(Math.min(blockSize, d)) / 127 : 1;
  return base * quant * (1 + 1e-6);
}

/** acc.sum += weight * update, and the accumulator's totals. */
export function addView(acc: RoundAccumulator, v: TensorView, weight: number): void {
  const sum = acc.sum;
  if ('values' in v) {
    const x = v.values;
    for (let i = 0; i < x.length; i++) sum[i]! += weight * x[i]!;
  } else {
    const { q, scales, blockSize } = v;
    const n = q.length;
    const wb = wordBlocks(q, blockSize);
    let first = 0;
    if (wb) {
      const per = blockSize >> 2;
      const w = wb.words;
      for (let b = 0; b < wb.blocks; b++) {
        const ws = weight * scales[b]!;
        for (let j = b * per, end = j + per, i = b * blockSize; j < end; j++, i += 4) {
          const x = w[j]!;
          sum[i]! += ws * ((x << 24) >> 24);
          sum[i + 1]! += ws * ((x << 16) >> 24);
          sum[i + 2]! += ws * ((x << 8) >> 24);
          sum[i + 3]! += ws * (x >> 24);
        }
      }
      first = wb.blocks;
    }
    for (let start = first * blockSize, b = first; start < n; start += blockSize, b++) {
      const end = Math.min(n, start + blockSize);
      const ws = weight * scales[b]!;
      for (let i = start; i < end; i++) sum[i]! += ws * q[i]!;
    }
  }
  acc.weight += weight;
  acc.count += 1;
  acc.sqWeightSum += weight * weight;
  if (weight > acc.maxWeight) acc.maxWeight = weight;
}

/** A zeroed accumulator for `n` parameters. */
export function emptyAccumulator(n: number): RoundAccumulator {
  return { sum: new Float64Array(n), weight: 0, count: 0, sqWeightSum: 0, maxWeight: 0 };
}
