import { describe, expect, it } from 'vitest';
import { meanOfSum } from '../shared/secagg/encode.ts';
import { makeRotation } from '../shared/secagg/rotation.ts';
import { encodingFor } from './private-accounting.ts';
import { SecureSum, type SecureNoisePath } from './secure-sum.ts';

const D = 16;
const CLIENTS = 4;
// Four fixed deltas; the last two exceed the clip (C = 1) and are clipped by both paths.
const deltas = Array.from({ length: CLIENTS }, (_, c) =>
  Float32Array.from({ length: D }, (_, i) => Math.sin(1 + c * D + i) * (c < 2 ? 0.2 : 0.9)),
);
const shape = {
  d: D,
  clip: 1,
  cohort: CLIENTS,
  survivors: CLIENTS,
  maxContributions: 1,
  minSeparation: 1,
  delta: 1e-5,
};

/** Per-coordinate mean and variance of the decoded mean over `trials` rounds. */
async function moments(
  path: SecureNoisePath,
  trials: number,
): Promise<{ mean: number[]; variance: number[] }> {
  const plan = encodingFor(shape, 0.5);
  const s1 = new Float64Array(D);
  const s2 = new Float64Array(D);
  // Rotations are public per round: a few seeds stand for many rounds.
  const rotations = await Promise.all(
    Array.from({ length: 8 }, (_, r) =>
      makeRotation(
        Uint8Array.from({ length: 32 }, (_, i) => (i * 7 + r) & 255),
        D,
      ),
    ),
  );
  for (let t = 0; t < trials; t++) {
    const rotation = rotations[t % rotations.length]!;
    const sum = new SecureSum(plan, rotation, path);
    for (const d of deltas) sum.addDense(d);
    const mean = meanOfSum(sum.decoded(), CLIENTS);
    for (let i = 0; i < D; i++) {
      s1[i]! += mean[i]!;
      s2[i]! += mean[i]! * mean[i]!;
    }
  }
  const mean = Array.from(s1, (x) => x / trials);
  return { mean, variance: Array.from(s2, (x, i) => x / trials - mean[i]! ** 2) };
}

describe('secure sum: the exact per-client path and the fast aggregate path', () => {
  it('give the same distribution of the decoded mean (mean and variance per coordinate)', async () => {
    const trials = 600;
    const exact = await moments('client', trials);
    const fast = await moments('aggregate', trials);
    // The mean of the clipped deltas, which both must estimate without bias.
    const clipped = deltas.map((d) => {
      const n = Math.hypot(...d);
      return Array.from(d, (x) => x * Math.min(1, 1 / n));
    });
    const target = Array.from({ length: D }, (_, i) => clipped.reduce((s, c) => s + c[i]!, 0) / CLIENTS);
    for (let i = 0; i < D; i++) {
      const se = Math.sqrt(exact.variance[i]! / trials);
      expect(Math.abs(exact.mean[i]! - target[i]!)).toBeLessThan(4.5 * se);
      expect(Math.abs(fast.mean[i]! - target[i]!)).toBeLessThan(4.5 * se);
      // The ratio of two sample variances of 600 draws has a standard error of ~0.08.
      expect(fast.variance[i]! / exact.variance[i]!).toBeGreaterThan(0.65);
      expect(fast.variance[i]! / exact.variance[i]!).toBeLessThan(1.5);
    }
    const total = (v: number[]): number => v.reduce((s, x) => s + x, 0);
    expect(total(fast.variance) / total(exact.variance)).toBeGreaterThan(0.9);
    expect(total(fast.variance) / total(exact.variance)).toBeLessThan(1.1);
    // The noise is the calibrated one: z * clip over the survivors, divided by the fixed denominator.
    const plan = encodingFor(shape, 0.5);
    const expected = (plan.noiseStdOverClip * shape.clip) / CLIENTS;
    const avg = exact.variance.reduce((s, v) => s + v, 0) / D;
    expect(Math.sqrt(avg) / expected).toBeGreaterThan(0.93);
    expect(Math.sqrt(avg) / expected).toBeLessThan(1.07);
  });
});
