import { afterEach, describe, expect, it, vi } from 'vitest';
import { planEncoding } from './calibration.ts';
import { addDiscreteGaussian } from './discrete-gaussian.ts';
import { encodeIntegers } from './encode.ts';
import { WasmEncoder } from './encoder-wasm.ts';
import { RandomWords } from './random.ts';
import { makeRotation } from './rotation.ts';

/** A fixed word stream (xorshift32). */
function fixedWords(start: number): RandomWords {
  let x = start >>> 0 || 1;
  return new RandomWords((w) => {
    for (let i = 0; i < w.length; i++) {
      x ^= x << 13;
      x >>>= 0;
      x ^= x >>> 17;
      x ^= x << 5;
      x >>>= 0;
      w[i] = x;
    }
  });
}

/** encode.ts and rotation.ts loaded with WebAssembly missing (a page whose CSP forbids it). */
async function withoutWasm() {
  vi.resetModules();
  vi.stubGlobal('WebAssembly', undefined);
  const enc = await import('./encode.ts');
  const rot = await import('./rotation.ts');
  const wasm = await import('./encoder-wasm.ts');
  const dg = await import('./discrete-gaussian.ts');
  return {
    encodeIntegers: enc.encodeIntegers,
    makeRotation: rot.makeRotation,
    addDiscreteGaussian: dg.addDiscreteGaussian,
    get: wasm.WasmEncoder.get,
  };
}

afterEach(() => {
  vi.unstubAllGlobals();
  vi.resetModules();
});

describe('WebAssembly encoder', () => {
  it('runs in Node 20 (so the comparisons below compare two paths)', () => {
    expect(WasmEncoder.get()).not.toBeNull();
  });

  it.each([1, 2, 3, 5, 8, 100, 40_000, 70_001])(
    'gives the rotation, integers and random stream of the JavaScript path at d = %i',
    async (d) => {
      // A large noise variance (noise for 1 client of 1,000) makes high-word ties of the table likely.
      const e = planEncoding({ d, clipNorm: 1, noiseMultiplier: 1, noiseClients: 1, maxClients: 1000 }, 20)!;
      const seed = new Uint8Array(32).fill(d & 0xff);
      const update = Float32Array.from({ length: d }, (_, i) => Math.sin(i * 0.37 + d) * 0.5);
      const rotW = await makeRotation(seed, d);
      const rW = fixedWords(d);
      const intsW = encodeIntegers(update, e, rotW, rW);
      const js = await withoutWasm();
      expect(js.get()).toBeNull();
      const rotJ = await js.makeRotation(seed, d);
      const rJ = fixedWords(d);
      const intsJ = js.encodeIntegers(update, e, rotJ, rJ);
      expect(rotW.perm).toEqual(rotJ.perm);
      expect(rotW.signs).toEqual(rotJ.signs);
      expect(intsW).toEqual(intsJ);
      // Both left the random stream at the same word (the WebAssembly path reads ahead and gives back).
      expect([rW.word(), rW.word(), rW.word()]).toEqual([rJ.word(), rJ.word(), rJ.word()]);
    },
    20_000,
  );

  it.each([3, 1000, 2 ** 20])(
    'adds the same discrete Gaussian draws as the JavaScript sampler at s2 = %i',
    async (s2) => {
      const base = Int32Array.from({ length: 30_001 }, (_, i) => (i % 7) - 3);
      const w = base.slice();
      const rW = fixedWords(s2);
      addDiscreteGaussian(w, s2, rW);
      const js = await withoutWasm();
      const j = base.slice();
      const rJ = fixedWords(s2);
      js.addDiscreteGaussian(j, s2, rJ);
      expect(w).toEqual(j);
      expect(w).not.toEqual(base);
      expect([rW.word(), rW.word()]).toEqual([rJ.word(), rJ.word()]);
    },
  );

  it('leaves no trace of the update in its memory', async () => {
    const d = 5000;
    const e = planEncoding({ d, clipNorm: 1, noiseMultiplier: 1, noiseClients: 5, maxClients: 10 }, 16)!;
    const update = Float32Array.from({ length: d }, () => 0.123);
    encodeIntegers(update, e, await makeRotation(new Uint8Array(32), d));
    const memory = (WasmEncoder.get() as unknown as { memory: { buffer: ArrayBuffer } }).memory;
    const f32 = new Float32Array(memory.buffer);
    expect(f32.some((v) => v === Math.fround(0.123))).toBe(false);
  });
});
