import { describe, expect, it } from 'vitest';
import type { TrainingConfig } from '../protocol.ts';
import { l2Norm } from './clip.ts';
import { privatizeDelta } from './privatize.ts';

const config: TrainingConfig = {
  clipNorm: 1,
  noiseMultiplier: 0.8,
  noiseMode: 'local',
  expectedClientsPerRound: 64,
  localEpochs: 1,
  learningRate: 0.05,
  batchSize: 32,
  sharedNegatives: 0,
  lossReduction: 'mean',
  minNewEvents: 5,
  updateEncoding: 'i8',
};

describe('privatizeDelta', () => {
  it('clips to C then adds noise of std sigma*C (local)', () => {
    const n = 200_000;
    const delta = new Float32Array(n).fill(0.01); // norm ~4.47 > C
    const { noised, preClipNorm, noiseStd } = privatizeDelta(delta, config);
    expect(preClipNorm).toBeCloseTo(Math.sqrt(n) * Math.fround(0.01), 6);
    expect(noiseStd).toBeCloseTo(0.8, 15);
    // noised - clipped is the noise: its std must be sigma*C, and its mean the clipped value.
    const clippedValue = (0.01 * 1) / preClipNorm;
    let s = 0;
    let ss = 0;
    for (let i = 0; i < n; i++) {
      const e = noised[i]! - clippedValue;
      s += e;
      ss += e * e;
    }
    expect(Math.abs(s / n)).toBeLessThan((5 * 0.8) / Math.sqrt(n));
    expect(Math.abs(Math.sqrt(ss / n) - 0.8)).toBeLessThan((5 * 0.8) / Math.sqrt(2 * n));
    expect(delta[0]).toBe(Math.fround(0.01)); // input untouched
  });

  it('divides the noise over m clients in distributed mode, and clips exactly with no noise', () => {
    const delta = Float32Array.from({ length: 1000 }, (_, i) => Math.sin(i));
    const dist = privatizeDelta(delta, { ...config, noiseMode: 'distributed' });
    expect(dist.noiseStd).toBeCloseTo(0.8 / 8, 15);
    const silent = privatizeDelta(delta, { ...config, noiseMultiplier: 0 });
    expect(silent.noiseStd).toBe(0);
    expect(l2Norm(silent.noised)).toBeCloseTo(Math.min(l2Norm(delta), 1), 6);
  });
});
