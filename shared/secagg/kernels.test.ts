import { describe, expect, it } from 'vitest';
import { compileKernel } from '../wasm/runtime.ts';
import { buildDiscreteGaussianTable, sampleFromTable } from './discrete-gaussian.ts';
import { roundUp } from './encode.ts';
import { type EncoderExports, encoderModule } from './kernels.ts';
import { RandomWords } from './random.ts';

/** The kernels over a fresh memory of `bytes`, and views on it. */
function kernels(bytes: number) {
  const { memory, exports } = compileKernel(encoderModule())!.instantiate(bytes);
  const x = exports as unknown as EncoderExports;
  return {
    x,
    u32: (at: number, n: number) => new Uint32Array(memory.buffer, at, n),
    f64: (at: number, n: number) => new Float64Array(memory.buffer, at, n),
    state: () => new DataView(memory.buffer, 0, 16),
  };
}

/** A RandomWords that returns `words` in order (then fails). */
function scripted(words: number[]): RandomWords {
  let k = 0;
  return new RandomWords((w) => {
    for (let i = 0; i < w.length; i++) w[i] = k < words.length ? words[k++]! : 0xdeadbeef;
  });
}

describe('encoding kernels against their JavaScript twins', () => {
  it('round: the same integers, squares and words as roundUp, ties included', () => {
    // z = 0.5 gives t = 2^31 exactly: the word 2^31 ties and two more words decide (RandomWords.uniform).
    const z = [0.5, 0.5, 0.5, -1.25, 3.75, 0.5, 1e-12, -7];
    // prettier-ignore
    const words = [
      2 ** 31, 0x1fffff, 0xffffffff, // 0.5: tie, then the uniform's two words
      2 ** 31, 0, 0, // 0.5: tie
      5, // 0.5
      2 ** 31 - 1, // -1.25
      0xc0000000, 0x3fffffff, 2 ** 31, // 3.75: tie
      0x100000, // 0.5
      0, 1, 2, // 1e-12: t < 1, so the word 0 ties
      77, // -7: t = 0
    ];
    const k = kernels(1 << 16);
    const Z = 1024;
    const OUT = 2048;
    const W = 4096;
    k.f64(Z, z.length).set(z);
    // Three words of slack: the kernel wants 3 left before each coordinate.
    k.u32(W, words.length + 3).set([...words, 0, 0, 0]);
    k.state().setInt32(0, 0, true);
    k.state().setInt32(4, W, true);
    k.state().setFloat64(8, 0.25, true);
    expect(k.x.round(Z, z.length, OUT, W + 4 * (words.length + 3))).toBe(1);
    const r = scripted([...words, 0x1234]);
    let sq = 0.25;
    const want = z.map((x) => {
      const f = Math.floor(x);
      const v = roundUp(x - f, r) ? f + 1 : f;
      sq += v * v;
      return v;
    });
    expect(Array.from(new Int32Array(k.u32(OUT, z.length).buffer, OUT, z.length))).toEqual(want);
    expect(k.state().getFloat64(8, true)).toBe(sq);
    const used = (k.state().getInt32(4, true) - W) / 4;
    expect(used).toBe(words.length);
    expect(r.word()).toBe(0x1234); // the twin read exactly as many words
    // Four ties (0.5 against 2^31 twice, 3.75 against 0xc0000000, 1e-12 against 0) took two words more each.
    expect(used).toBe(z.length + 4 * 2);
  });

  it('round stops with fewer than 3 words left and resumes where it stopped', () => {
    const k = kernels(1 << 16);
    k.f64(1024, 4).set([0.1, 0.2, 0.3, 0.4]);
    k.u32(4096, 4).set([1, 2, 3, 4]);
    k.state().setInt32(0, 0, true);
    k.state().setInt32(4, 4096, true);
    k.state().setFloat64(8, 0, true);
    expect(k.x.round(1024, 4, 2048, 4096 + 16)).toBe(0);
    expect(k.state().getInt32(0, true)).toBe(2); // two done, two words left
    expect(k.state().getInt32(4, true)).toBe(4096 + 8);
  });

  it('noise: the same draws as sampleFromTable, high-word ties included, at sigma^2 = 7 and 250,000', () => {
    for (const s2 of [7, 250_000]) {
      const t = buildDiscreteGaussianTable(s2);
      const m = t.hi.length;
      const mid = Math.floor(m / 2);
      // Ties on the high word of entries around the middle, with the next words below, equal to and above
      // the entry's lower words; plus the extremes.
      const words: number[] = [0, 0xffffffff, 0x80000000, 12345];
      for (const i of [mid - 1, mid, mid + 1, 1, m - 1]) {
        words.push(t.hi[i]!, t.mid[i]!, t.lo[i]!);
        words.push(t.hi[i]!, t.mid[i]!, (t.lo[i]! + 1) >>> 0);
        words.push(t.hi[i]!, (t.mid[i]! - 1) >>> 0, 0xffffffff);
        words.push(t.hi[i]!, (t.mid[i]! + 1) >>> 0, 0);
      }
      const draws = words.length; // at most this many: each draw takes one or three words
      const k = kernels(1 << 22);
      const [OUT, HI] = [1024, 1 << 16];
      const [MID, LO, GUIDE] = [HI + 4 * m, HI + 8 * m, HI + 12 * m];
      const W = GUIDE + 4 * t.guide.length;
      k.u32(HI, m).set(t.hi);
      k.u32(MID, m).set(t.mid);
      k.u32(LO, m).set(t.lo);
      k.u32(GUIDE, t.guide.length).set(t.guide);
      const padded = [...words, 0, 0, 0];
      k.u32(W, padded.length).set(padded);
      k.u32(OUT, draws).fill(100);
      k.state().setInt32(0, 0, true);
      k.state().setInt32(4, W, true);
      const done = k.x.noise(OUT, draws, HI, MID, LO, GUIDE, m, 32 - t.guideBits, t.n, W + 4 * padded.length);
      const n = done ? draws : k.state().getInt32(0, true);
      const r = scripted(padded);
      const got = Array.from(new Int32Array(k.u32(OUT, n).buffer, OUT, n));
      expect(got.length).toBeGreaterThan(words.length / 3);
      expect(got).toEqual(got.map(() => 100 + sampleFromTable(t, r)));
    }
  });

  it('shuffle: refuses when the words run out', () => {
    const k = kernels(1 << 16);
    k.u32(4096, 2).set([1, 2]);
    expect(k.x.shuffle(1024, 10, 4096, 2)).toBe(-1);
  });
});
