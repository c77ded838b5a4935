import { describe, expect, it } from 'vitest';
import { addGaussianNoise, fillGaussian, gaussianNoise, noiseStdPerClient } from './noise.ts';
import { erfc } from './special.ts';

const N = 400_000;
// Statistical checks use ~5-standard-error bands: a false failure is a 1-in-a-million event per check.
const Z = 5;

function moments(x: Float32Array): { mean: number; std: number } {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i]!;
  const mean = s / x.length;
  let ss = 0;
  for (let i = 0; i < x.length; i++) ss += (x[i]! - mean) ** 2;
  return { mean, std: Math.sqrt(ss / (x.length - 1)) };
}

function tailFraction(x: Float32Array, threshold: number): number {
  let c = 0;
  for (let i = 0; i < x.length; i++) if (Math.abs(x[i]!) > threshold) c++;
  return c / x.length;
}

const normalCdf = (z: number): number => erfc(-z / Math.SQRT2) / 2;

/** Kolmogorov-Smirnov statistic of x against N(0, std^2). */
function ksStatistic(x: Float32Array, std: number): number {
  const sorted = Float64Array.from(x).sort();
  let d = 0;
  for (let i = 0; i < sorted.length; i++) {
    const f = normalCdf(sorted[i]! / std);
    d = Math.max(d, f - i / sorted.length, (i + 1) / sorted.length - f);
  }
  return d;
}

function correlation(a: Float32Array, b: Float32Array): number {
  const ma = moments(a);
  const mb = moments(b);
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i]! - ma.mean) * (b[i]! - mb.mean);
  return s / (a.length - 1) / (ma.std * mb.std);
}

describe.each([0.37, 2.5])('gaussianNoise with std %f', (std) => {
  const x = gaussianNoise(N, std);

  it('has mean 0 and the requested standard deviation', () => {
    const m = moments(x);
    expect(Math.abs(m.mean)).toBeLessThan((Z * std) / Math.sqrt(N));
    // The sample std of a normal has standard error std / sqrt(2N).
    expect(Math.abs(m.std - std)).toBeLessThan((Z * std) / Math.sqrt(2 * N));
  });

  it.each([
    [2, 0.0455002638963584],
    [3, 0.0026997960632601866],
  ])('has the normal fraction beyond %i std', (k, p) => {
    const f = tailFraction(x, k * std);
    expect(Math.abs(f - p)).toBeLessThan(Z * Math.sqrt((p * (1 - p)) / N));
  });

  it('passes a Kolmogorov-Smirnov test against N(0, std^2)', () => {
    // Critical value sqrt(ln(2/alpha)/2)/sqrt(N) at alpha = 1e-6.
    expect(ksStatistic(x, std)).toBeLessThan(Math.sqrt(Math.log(2 / 1e-6) / 2) / Math.sqrt(N));
  });

  it('is finite everywhere and has no serial correlation', () => {
    expect(x.every(Number.isFinite)).toBe(true);
    const lag = correlation(x.subarray(0, N - 1), x.subarray(1));
    expect(Math.abs(lag)).toBeLessThan(Z / Math.sqrt(N));
  });
});

describe('independence between calls', () => {
  it('gives uncorrelated, never identical draws', () => {
    const a = gaussianNoise(N, 1.3);
    const b = gaussianNoise(N, 1.3);
    expect(Math.abs(correlation(a, b))).toBeLessThan(Z / Math.sqrt(N));
    const draws = Array.from({ length: 20 }, () => gaussianNoise(64, 1).join(','));
    expect(new Set(draws).size).toBe(20);
  });
});

describe('many small draws', () => {
  it('are N(0, std^2) and independent too (each call draws only the random words it needs)', () => {
    const std = 0.37;
    const x = new Float32Array(90_000);
    for (let k = 0; k < 30_000; k++) x.set(gaussianNoise(3, std), 3 * k);
    const m = moments(x);
    expect(Math.abs(m.mean)).toBeLessThan((Z * std) / Math.sqrt(x.length));
    expect(Math.abs(m.std - std)).toBeLessThan((Z * std) / Math.sqrt(2 * x.length));
    expect(ksStatistic(x, std)).toBeLessThan(Math.sqrt(Math.log(2 / 1e-6) / 2) / Math.sqrt(x.length));
    const lag = correlation(x.subarray(0, x.length - 3), x.subarray(3));
    expect(Math.abs(lag)).toBeLessThan(Z / Math.sqrt(x.length));
  });
});

describe('edge cases', () => {
  it('never yields Infinity or NaN, even when the source produces u = v = 0', () => {
    let calls = 0;
    const out = new Float32Array(1000);
    fillGaussian(out, 1, false, (words) => {
      // First chunk: every pair is (2^31, 0), i.e. the uniform 0.5, i.e. u = v = 0 exactly; then real randomness.
      if (calls++ === 0) for (let i = 0; i < words.length; i++) words[i] = i % 2 === 0 ? 2 ** 31 : 0;
      else crypto.getRandomValues(words);
    });
    expect(calls).toBeGreaterThan(1);
    expect(out.every(Number.isFinite)).toBe(true);
    expect(out.some((v) => v !== 0)).toBe(true);
  });

  it('fills odd lengths, empty arrays and zero std', () => {
    expect(gaussianNoise(0, 1).length).toBe(0);
    const odd = gaussianNoise(40_001, 1);
    expect(odd.length).toBe(40_001);
    expect(odd[40_000]).not.toBe(0);
    expect(gaussianNoise(10, 0).every((v) => v === 0)).toBe(true);
    expect(() => gaussianNoise(10, -1)).toThrow(RangeError);
    expect(() => gaussianNoise(10, NaN)).toThrow(RangeError);
    expect(() => gaussianNoise(1.5, 1)).toThrow(RangeError);
  });

  it('adds noise in place', () => {
    const v = new Float32Array(N).fill(3);
    addGaussianNoise(v, 0.5);
    const m = moments(v);
    expect(Math.abs(m.mean - 3)).toBeLessThan((Z * 0.5) / Math.sqrt(N));
    expect(Math.abs(m.std - 0.5)).toBeLessThan((Z * 0.5) / Math.sqrt(2 * N));
  });
});

describe('noiseStdPerClient', () => {
  const base = { clipNorm: 0.8, noiseMultiplier: 1.25, expectedClientsPerRound: 100 };
  it('is sigma*C locally and sigma*C/sqrt(m) when distributed', () => {
    expect(noiseStdPerClient({ ...base, noiseMode: 'local' })).toBeCloseTo(1, 15);
    expect(noiseStdPerClient({ ...base, noiseMode: 'distributed' })).toBeCloseTo(0.1, 15);
  });
  it('rejects invalid configurations', () => {
    expect(() => noiseStdPerClient({ ...base, noiseMode: 'local', clipNorm: 0 })).toThrow(RangeError);
    expect(() =>
      noiseStdPerClient({ ...base, noiseMode: 'distributed', expectedClientsPerRound: 0 }),
    ).toThrow(RangeError);
    expect(() => noiseStdPerClient({ ...base, noiseMode: 'local', noiseMultiplier: -1 })).toThrow(RangeError);
  });
});
