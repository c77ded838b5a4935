import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../shared/model/spec.ts';
import { roundSampler } from './sampler.ts';
import { parseEvalArgs } from './config.ts';

describe('roundSampler', () => {
  it('shuffle: every shopper exactly once per cycle, M per round, a new order each cycle', () => {
    const N = 103;
    const draw = roundSampler(N, 10, 'shuffle', mulberry32(3));
    const cycles: number[][] = [];
    for (let c = 0; c < 3; c++) {
      const seen: number[] = [];
      for (let r = 0; r < 11; r++) {
        const round = draw();
        expect(round.length).toBe(r < 10 ? 10 : 3); // the cycle's last round takes what is left
        seen.push(...round);
      }
      expect([...seen].sort((a, b) => a - b)).toEqual(Array.from({ length: N }, (_, u) => u));
      cycles.push(seen);
    }
    expect(cycles[1]).not.toEqual(cycles[0]);
  });

  it('poisson: each shopper joins independently at rate M/N', () => {
    const N = 2000;
    const draw = roundSampler(N, 50, 'poisson', mulberry32(5));
    const sizes = Array.from({ length: 400 }, () => draw().length);
    const mean = sizes.reduce((a, b) => a + b, 0) / sizes.length;
    // Binomial(2000, 0.025): mean 50, sd 7; the mean of 400 rounds has sd 0.35.
    expect(Math.abs(mean - 50)).toBeLessThan(1.5);
    expect(new Set(sizes).size).toBeGreaterThan(10);
  });

  it('refuses shuffled sampling with noise (no privacy accounting for it)', () => {
    const base = ['--data', 'd', '--mode', 'federated', '--sampling', 'shuffle'];
    expect(() => parseEvalArgs([...base, '--epsilon', '8'])).toThrow(/sampling shuffle/);
    expect(() => parseEvalArgs([...base, '--sigma', '0.5'])).toThrow(/sampling shuffle/);
    expect(parseEvalArgs(base).federated.sampling).toBe('shuffle');
  });
});
