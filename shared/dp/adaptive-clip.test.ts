import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../model/spec.ts';
import {
  bitRatio,
  clipBitCoordinate,
  jointNoiseMultiplier,
  nextClip,
  updateNoiseMultiplier,
  type AdaptiveClipConfig,
} from './adaptive-clip.ts';
import { composedEpsilon, gaussianRdp } from './mechanisms.ts';

const CONFIG: AdaptiveClipConfig = {
  targetQuantile: 0.5,
  learningRate: 0.2,
  countNoiseStd: 50,
  minClip: 1e-3,
  maxClip: 1e3,
};

/** Standard normal draws from a seeded PRNG (test data only). */
function gaussians(seed: number): () => number {
  const rand = mulberry32(seed);
  return () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
}

describe('adaptive clipping', () => {
  it('the bit coordinate and the update share one noise: Theorem 1 holds both ways', () => {
    for (const [z, s] of [
      [1.275, 50],
      [0.6, 0.4],
      [4, 200],
    ] as const) {
      const r = bitRatio(z, s);
      // Noise z * C * sqrt(1 + r^2/4) on the count coordinate, in count units (divide by r * C).
      expect((z * Math.sqrt(1 + (r * r) / 4)) / r).toBeCloseTo(s, 10);
      const zUpdate = updateNoiseMultiplier(z, s);
      expect(jointNoiseMultiplier(zUpdate, s)).toBeCloseTo(z, 10);
      expect(zUpdate).toBeGreaterThan(z);
    }
  });

  it('costs the update under 0.01% of its noise at a cohort-sized count noise', () => {
    expect(updateNoiseMultiplier(1.275, 1000 / 20) / 1.275).toBeLessThan(1.0001);
  });

  it('the epsilon of the joint release equals the Gaussian on the concatenated vector', () => {
    const z = 1.275;
    const s = 50;
    const joint = composedEpsilon(
      [{ rdp: gaussianRdp(jointNoiseMultiplier(updateNoiseMultiplier(z, s), s)), times: 4 }],
      1e-5,
    );
    const plain = composedEpsilon([{ rdp: gaussianRdp(z), times: 4 }], 1e-5);
    expect(joint.epsilon).toBeCloseTo(plain.epsilon, 8);
    // Without the bit the update alone, at its multiplier, costs less: the bit is not free, only cheap.
    const alone = composedEpsilon([{ rdp: gaussianRdp(updateNoiseMultiplier(z, s)), times: 4 }], 1e-5);
    expect(alone.epsilon).toBeLessThan(plain.epsilon);
  });

  it('refuses a count noise the bit cannot carry and bad settings', () => {
    expect(() => bitRatio(2, 1)).toThrow(RangeError);
    expect(() => nextClip(1, 0, 10, 0.1, { ...CONFIG, targetQuantile: 1 })).toThrow(RangeError);
    expect(() => nextClip(1, Number.NaN, 10, 0.1, CONFIG)).toThrow(RangeError);
    expect(() => clipBitCoordinate(Infinity, 1, 0.1)).toThrow(RangeError);
  });

  it('the coordinate is +-r*C/2 and an exact count moves the clip geometrically', () => {
    expect(clipBitCoordinate(0.5, 1, 0.2)).toBeCloseTo(0.1, 14);
    expect(clipBitCoordinate(1.5, 1, 0.2)).toBeCloseTo(-0.1, 14);
    // 80 of 100 clients under the clip: fraction 0.8, target 0.5 -> shrink by exp(-0.2 * 0.3).
    const sum = 80 * 0.1 + 20 * -0.1;
    expect(nextClip(1, sum, 100, 0.2, CONFIG)).toBeCloseTo(Math.exp(-0.06), 12);
    expect(nextClip(1, -1e9, 100, 0.2, CONFIG)).toBe(CONFIG.maxClip);
  });

  it('tracks the target quantile of update norms through the noised secure sum', () => {
    const gauss = gaussians(7);
    const cohort = 1000;
    const z = 1.275;
    const r = bitRatio(z, CONFIG.countNoiseStd);
    for (const gamma of [0.5, 0.9]) {
      let clip = 0.01;
      for (let round = 0; round < 200; round++) {
        let sum = 0;
        // Log-normal update norms: median 1, 90th percentile exp(0.5 * 1.2816).
        for (let i = 0; i < cohort; i++) sum += clipBitCoordinate(Math.exp(0.5 * gauss()), clip, r);
        // The secure sum's noise on this coordinate: z times the concatenated sensitivity.
        sum += gauss() * z * clip * Math.sqrt(1 + (r * r) / 4);
        clip = nextClip(clip, sum, cohort, r, { ...CONFIG, targetQuantile: gamma });
      }
      const quantile = Math.exp(0.5 * (gamma === 0.5 ? 0 : 1.2816));
      expect(Math.abs(Math.log(clip / quantile))).toBeLessThan(0.1);
    }
  });
});
