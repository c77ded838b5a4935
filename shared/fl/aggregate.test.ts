import { describe, expect, it } from 'vitest';
import {
  accumulate,
  applyServerStep,
  decayedRate,
  decayOver,
  meanDelta,
  newAccumulator,
  newAdamState,
} from './aggregate.ts';
import type { ServerOptimizer } from './aggregate.ts';

/** Textbook Adam (Kingma & Ba) in float64 on a sequence of pseudo-gradients, ascending (x += step). */
function referenceAdam(grads: number[][], lr: number, b1: number, b2: number, eps: number, correct: boolean) {
  const n = grads[0]!.length;
  const x = new Array<number>(n).fill(0);
  const m = new Array<number>(n).fill(0);
  const v = new Array<number>(n).fill(0);
  grads.forEach((g, t) => {
    for (let i = 0; i < n; i++) {
      m[i] = b1 * m[i]! + (1 - b1) * g[i]!;
      v[i] = b2 * v[i]! + (1 - b2) * g[i]! ** 2;
      const mh = correct ? m[i]! / (1 - b1 ** (t + 1)) : m[i]!;
      const vh = correct ? v[i]! / (1 - b2 ** (t + 1)) : v[i]!;
      x[i]! += (lr * mh) / (Math.sqrt(vh) + eps);
    }
  });
  return x;
}

describe('server optimizers', () => {
  const grads = Array.from({ length: 30 }, (_, t) => [Math.sin(t + 1) * 1e-3, 0.5 - (t % 4) * 0.3, 2e-6 * t]);

  it.each([false, true])('FedAdam (bias correction %s) matches textbook Adam step by step', (correct) => {
    const opt: ServerOptimizer = {
      kind: 'fedadam',
      learningRate: 0.01,
      beta1: 0.9,
      beta2: 0.999,
      tau: 1e-7,
      biasCorrection: correct,
    };
    const x = new Float32Array(3);
    const adam = newAdamState(3);
    grads.forEach((g, t) => applyServerStep(x, Float32Array.from(g), opt, adam, t + 1));
    const want = referenceAdam(grads, 0.01, 0.9, 0.999, 1e-7, correct);
    for (let i = 0; i < 3; i++) expect(x[i]).toBeCloseTo(want[i]!, 5);
  });

  it('bias correction makes the first step lr * sign(g), as Adam', () => {
    const x = new Float32Array(2);
    const opt: ServerOptimizer = { kind: 'fedadam', learningRate: 0.1, beta1: 0.9, beta2: 0.999, tau: 1e-9 };
    applyServerStep(x, Float32Array.of(3e-4, -2), { ...opt, biasCorrection: true }, newAdamState(2), 1);
    expect(x[0]).toBeCloseTo(0.1, 5);
    expect(x[1]).toBeCloseTo(-0.1, 5);
    // Without it (Reddi et al.), the first step is (1 - b1) / sqrt(1 - b2) = 3.16 times larger.
    const y = new Float32Array(2);
    applyServerStep(y, Float32Array.of(3e-4, -2), opt, newAdamState(2), 1);
    expect(y[0]).toBeCloseTo((0.1 * 0.1) / Math.sqrt(0.001), 4);
  });

  it('FedAvg adds lr times the weighted mean of the deltas', () => {
    const acc = newAccumulator(2);
    accumulate(acc, Float32Array.of(1, 2));
    accumulate(acc, Float32Array.of(3, -2), 0.5);
    const mean = meanDelta(acc);
    expect(Array.from(mean)).toEqual([(1 + 1.5) / 1.5, (2 - 1) / 1.5].map(Math.fround));
    expect(acc.count).toBe(2);
    const x = Float32Array.of(1, 1);
    applyServerStep(x, mean, { kind: 'fedavg', learningRate: 2 });
    expect(x[0]).toBeCloseTo(1 + 2 * (2.5 / 1.5), 5);
    expect(Array.from(meanDelta(newAccumulator(2)))).toEqual([0, 0]);
  });

  it('decays the rate linearly from decay.start to decay.end, then holds decay.final x rate', () => {
    const decay = { start: 10, end: 20, final: 0.1 };
    expect(decayedRate(2, undefined, 50)).toBe(2);
    expect(decayedRate(2, decay, 1)).toBe(2);
    expect(decayedRate(2, decay, 10)).toBe(2);
    expect(decayedRate(2, decay, 15)).toBeCloseTo(2 * 0.55, 12);
    expect(decayedRate(2, decay, 20)).toBeCloseTo(0.2, 12);
    expect(decayedRate(2, decay, 99)).toBeCloseTo(0.2, 12);
    // decayOver: the last 30% of 100 steps, down to 0; at least one step of decay.
    expect(decayOver(100, 0.3)).toEqual({ start: 70, end: 100, final: 0 });
    expect(decayOver(10, 0.01)).toEqual({ start: 9, end: 10, final: 0 });
    expect(decayedRate(1, decayOver(100, 0.3), 100)).toBe(0);
    // Both optimizers step with the decayed rate: FedAvg directly, FedAdam as Adam with that rate.
    const mean = new Float32Array([0.5, -1]);
    const x = new Float32Array(2);
    applyServerStep(x, mean, { kind: 'fedavg', learningRate: 2, decay }, undefined, 15);
    expect(Array.from(x)).toEqual([Math.fround(1.1 * 0.5), Math.fround(-1.1)]);
    const adam: ServerOptimizer = { kind: 'fedadam', learningRate: 0.1, beta1: 0.9, beta2: 0.99, tau: 1e-3 };
    const a = new Float32Array(2);
    const b = new Float32Array(2);
    applyServerStep(a, mean, { ...adam, decay: { start: 0, end: 2, final: 0.5 } }, newAdamState(2), 1);
    applyServerStep(b, mean, { ...adam, learningRate: 0.075 }, newAdamState(2), 1);
    expect(Array.from(a)).toEqual(Array.from(b));
  });
});
