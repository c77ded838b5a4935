import { describe, expect, it } from 'vitest';
import { defaultSecAggConfig, type SecAggConfig } from './config.ts';
import { simulateRound } from './simulate.ts';

const D = 2000;

function config(neighbours: number, threshold = 2 / 3): SecAggConfig {
  return { ...defaultSecAggConfig(), neighbours, threshold };
}

/** A delta of norm ~0.5 with a per-client pattern. */
function update(slot: number): Float32Array {
  const x = new Float32Array(D);
  for (let i = 0; i < D; i++) x[i] = Math.sin(slot * 0.37 + i * 0.011) * 0.011;
  return x;
}

function clipped(slot: number, c: number): Float32Array {
  const x = update(slot);
  const n = Math.hypot(...x);
  return n > c ? x.map((v) => (v * c) / n) : x;
}

describe('simulated SecAgg+ round', () => {
  it('with dropouts after share keys and after masked input, the server gets exactly the survivors sum', async () => {
    const rep = await simulateRound({
      // t = 10 of k = 16: any client keeps >= t neighbours whichever 5 drop, so this cannot fail by chance.
      config: config(16, 0.6),
      cohort: 30,
      minSurvivors: 20,
      denominator: 30,
      d: D,
      clipNorm: 1,
      noiseMultiplier: 1,
      dropAfterShareKeys: [3, 17],
      dropAfterMaskedInput: [5, 22, 29],
      update,
    });
    expect(rep.record.phase).toBe('done');
    expect(rep.record.masked).toHaveLength(28);
    expect(rep.record.masked).toContain(5); // its input is in the sum; its self mask came from neighbours
    expect(rep.record.masked).not.toContain(3);
    expect(rep.result!.ringSum).toEqual(rep.expectedRingSum);
    expect(rep.record.params).toMatchObject({ k: 16, t: 10 });
  });

  it('without noise, the decoded mean is the mean of the clipped updates up to rounding', async () => {
    const rep = await simulateRound({
      config: config(6),
      cohort: 12,
      minSurvivors: 8,
      denominator: 12,
      d: D,
      clipNorm: 0.3,
      noiseMultiplier: 0,
      dropAfterShareKeys: [4],
      dropAfterMaskedInput: [9],
      update,
    });
    expect(rep.record.phase).toBe('done');
    const want = new Float64Array(D);
    for (const s of rep.record.masked) clipped(s, 0.3).forEach((v, i) => (want[i] = want[i]! + v));
    const scale = rep.record.params.encoding.scale;
    let maxErr = 0;
    for (let i = 0; i < D; i++) maxErr = Math.max(maxErr, Math.abs(rep.result!.mean[i]! - want[i]! / 12));
    // Rounding moves each integer by < 1, so the decoded sum is off by at most 11 / scale per coordinate (in
    // the rotated basis, whose L2 norm the inverse rotation preserves).
    expect(maxErr).toBeLessThan((Math.sqrt(D) * 11) / scale / 12);
    expect(maxErr).toBeGreaterThan(0);
  });

  it('uses the complete graph when the cohort is at most k + 1 (SecAgg)', async () => {
    const rep = await simulateRound({
      config: config(24),
      cohort: 6,
      minSurvivors: 4,
      denominator: 6,
      d: 64,
      clipNorm: 1,
      noiseMultiplier: 1,
      dropAfterShareKeys: [2],
      update: () => new Float32Array(64).fill(0.01),
    });
    expect(rep.record.params.k).toBe(5);
    expect(rep.result!.ringSum).toEqual(rep.expectedRingSum);
  });

  it('refuses to unmask below minSurvivors: the round fails and releases nothing', async () => {
    const rep = await simulateRound({
      config: config(6),
      cohort: 10,
      minSurvivors: 8,
      denominator: 10,
      d: 64,
      clipNorm: 1,
      noiseMultiplier: 1,
      dropAfterShareKeys: [1, 2, 3],
      update: () => new Float32Array(64),
    });
    expect(rep.record.phase).toBe('failed');
    expect(rep.record.failure).toMatch(/mask: 7 < 8/);
    expect(rep.result).toBeNull();
  });
});

describe('simulated SecAgg+ round, a client below its threshold', () => {
  it('refuses the unmask request and sends nothing, as a device does; the round fails without an exception', async () => {
    // Complete graph of 5 (k = 4, t = 3): with 1 and 2 gone after share keys, each of 3, 4, 5 has only two
    // surviving neighbours and must not reveal its shares; the server then cannot unmask.
    const rep = await simulateRound({
      config: config(4),
      cohort: 5,
      minSurvivors: 3,
      denominator: 5,
      d: 64,
      clipNorm: 1,
      noiseMultiplier: 1,
      dropAfterShareKeys: [1, 2],
      update: () => new Float32Array(64),
    });
    expect(rep.record.masked).toEqual([3, 4, 5]);
    expect(rep.record.unmasked).toEqual([]);
    expect(rep.record.phase).toBe('failed');
    expect(rep.result).toBeNull();
  });
});
