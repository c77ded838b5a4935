import { describe, expect, it } from 'vitest';
import { clipFactor, clipL2, l2Norm } from '../dp/clip.ts';
import { planEncoding } from './calibration.ts';
import { encodeIntegers, roundUp } from './encode.ts';
import { RandomWords } from './random.ts';
import { makeRotation, rotate, type Rotation } from './rotation.ts';
import type { EncodingParams } from './calibration.ts';

/** A RandomWords that returns `words` in order (then zeros). */
function scripted(words: number[]): RandomWords {
  let k = 0;
  return new RandomWords((w) => {
    for (let i = 0; i < w.length; i++) w[i] = k < words.length ? words[k++]! : 0;
  });
}

describe('randomized rounding from one word', () => {
  it('lets the first word decide away from the threshold, and the next 53 bits decide on a tie', () => {
    const frac = 0.3 + 2 ** -40; // frac 2^32 = 1288490188.8 + 2^-8: floor 1288490188
    const t = frac * 2 ** 32;
    const f = Math.floor(t);
    expect(roundUp(frac, scripted([f - 1]))).toBe(true);
    expect(roundUp(frac, scripted([f + 1]))).toBe(false);
    // Tie: U = (f + V) / 2^32 < frac exactly when V < t - f (about 0.8): V's first 21 bits, then 32 more.
    expect(roundUp(frac, scripted([f, 0, 0]))).toBe(true);
    expect(roundUp(frac, scripted([f, 0x1fffff, 0xffffffff]))).toBe(false);
    const edge = Math.floor((t - f) * 2 ** 21); // V just below and at/above t - f
    expect(roundUp(frac, scripted([f, edge - 1, 0]))).toBe(true);
    expect(roundUp(frac, scripted([f, edge + 1, 0]))).toBe(false);
  });

  it('rounds up with probability frac (cryptographic source, 5 sigma)', () => {
    const r = new RandomWords();
    for (const frac of [0, 0.001, 0.3, 0.5, 0.999]) {
      const n = 200_000;
      let ups = 0;
      for (let i = 0; i < n; i++) if (roundUp(frac, r)) ups++;
      const sd = Math.sqrt(n * frac * (1 - frac));
      expect(Math.abs(ups - n * frac)).toBeLessThanOrEqual(5 * sd + 1e-9);
    }
  });
});

describe('encodeIntegers clipping', () => {
  const d = 5000;
  const plan = planEncoding({ d, clipNorm: 1, noiseMultiplier: 1, noiseClients: 50, maxClients: 100 }, 16)!;
  const noiseless = { ...plan, noiseVariance: 0 };
  const words = crypto.getRandomValues(new Uint32Array(16384));
  const same = (): RandomWords => new RandomWords((w) => w.set(words.subarray(0, w.length)));

  it('encodes a long delta as its clipped copy (the factor folded into the rotation)', async () => {
    const rot = await makeRotation(new Uint8Array(32).fill(9), d);
    const delta = Float32Array.from({ length: d }, (_, i) => Math.sin(i) * 0.5); // norm ~ 25 C
    const folded = encodeIntegers(delta, noiseless, rot, same());
    const copied = encodeIntegers(clipL2(delta, 1).clipped, noiseless, rot, same());
    // The same rounding words: coordinates differ only where float32 rounding of the copy moved a value
    // across a rounding threshold, by 1 at most.
    let differ = 0;
    let sq = 0;
    for (let i = 0; i < d; i++) {
      expect(Math.abs(folded[i]! - copied[i]!)).toBeLessThanOrEqual(1);
      if (folded[i] !== copied[i]) differ++;
      sq += folded[i]! * folded[i]!;
    }
    expect(differ).toBeLessThan(5);
    expect(sq).toBeLessThanOrEqual(plan.normBoundSq);
    expect(Math.sqrt(sq)).toBeGreaterThan(0.9 * plan.scale); // clipped to C, not shrunk further
  });

  it('rejects non-finite deltas', async () => {
    const rot = await makeRotation(new Uint8Array(32).fill(9), d);
    const bad = new Float32Array(d);
    bad[7] = NaN;
    expect(() => encodeIntegers(bad, noiseless, rot)).toThrow(RangeError);
  });

  it('redraws the rounding as the plain separate-buffer loop does (the rotation recomputed)', async () => {
    const rot = await makeRotation(new Uint8Array(32).fill(4), d);
    const delta = Float32Array.from({ length: d }, (_, i) => Math.cos(i) * 0.01);
    // The rounding written the plain way, with its draws counted.
    let draws = 0;
    const reference = (p: EncodingParams, rt: Rotation, r: RandomWords): Int32Array => {
      const z = rotate(rt, delta, p.scale * clipFactor(l2Norm(delta), p.clipNorm));
      const out = new Int32Array(d);
      for (;;) {
        draws++;
        let sq = 0;
        for (let i = 0; i < d; i++) {
          const f = Math.floor(z[i]!);
          out[i] = roundUp(z[i]! - f, r) ? f + 1 : f;
          sq += out[i]! * out[i]!;
        }
        if (sq <= p.normBoundSq) return out;
      }
    };
    const firstSq = reference(noiseless, rot, same()).reduce((a, v) => a + v * v, 0);
    // A bound the first draw misses and later draws meet about half the time.
    const tight = { ...noiseless, normBoundSq: firstSq - 1 };
    draws = 0;
    const want = reference(tight, rot, same());
    expect(draws).toBeGreaterThan(1);
    expect(encodeIntegers(delta, tight, rot, same())).toEqual(want);
  });
});
