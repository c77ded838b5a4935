/**
 * Update ingestion math on the codec's raw views: the L2 norm, the norm bound an honest client can reach,
 * and adding a weighted update into the running float64 sum without materializing a float32 copy.
 */
import { noiseStdPerClient } from '../shared/dp/noise.ts';
import type { TensorView } from '../shared/codec/tensor-codec.ts';
import type { TrainingConfig } from '../shared/protocol.ts';
import type { RoundAccumulator } from './store/types.ts';

/** L2 norm of the decoded update (float64 accumulation). */
export function viewNorm(v: TensorView): number {
  let ss = 0;
  if ('values' in v) {
    const x = v.values;
    for (let i = 0; i < x.length; i++) ss += x[i]! * x[i]!;
    return Math.sqrt(ss);
  }
  const { q, scales, blockSize } = v;
  const n = q.length;
  for (let start = 0, b = 0; start < n; start += blockSize, b++) {
    const end = Math.min(n, start + blockSize);
    let k2 = 0; // exact: at most 65536 * 127^2 < 2^31
    for (let i = start; i < end; i++) k2 += q[i]! * q[i]!;
    const s = scales[b]!;
    ss += k2 * s * s;
  }
  return Math.sqrt(ss);
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
export function addView(acc: RoundAccumulator, v: TensorView, weight: number, norm: number): void {
  const sum = acc.sum;
  if ('values' in v) {
    const x = v.values;
    for (let i = 0; i < x.length; i++) sum[i]! += weight * x[i]!;
  } else {
    const { q, scales, blockSize } = v;
    const n = q.length;
    for (let start = 0, b = 0; start < n; start += blockSize, b++) {
      const end = Math.min(n, start + blockSize);
      const ws = weight * scales[b]!;
      for (let i = start; i < end; i++) sum[i]! += ws * q[i]!;
    }
  }
  acc.weight += weight;
  acc.count += 1;
  acc.normSum += norm;
  acc.sqWeightSum += weight * weight;
  if (weight > acc.maxWeight) acc.maxWeight = weight;
}

/** A zeroed accumulator for `n` parameters. */
export function emptyAccumulator(n: number): RoundAccumulator {
  return { sum: new Float64Array(n), weight: 0, count: 0, normSum: 0, sqWeightSum: 0, maxWeight: 0 };
}
