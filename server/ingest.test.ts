import { describe, expect, it } from 'vitest';
import {
  decodeTensor,
  decodeTensorView,
  decodeTensorViewScanDeferred,
  encodeTensor,
} from '../shared/codec/tensor-codec.ts';
import { FedrankError } from '../shared/errors.ts';
import { privatizeDelta } from '../shared/dp/privatize.ts';
import type { TrainingConfig } from '../shared/protocol.ts';
import { addView, checkedViewNorm, emptyAccumulator, maxHonestNorm, viewNorm } from './ingest.ts';

const header = { kind: 'delta' as const, modelId: 'm-1', baseVersion: 0, round: 1 };

function reference(buf: Uint8Array, n: number): Float32Array {
  return decodeTensor(buf, { maxCount: n }).values;
}

describe('ingest on codec views', () => {
  for (const [n, blockSize] of [
    [1, 16],
    [37, 16],
    [1000, 256],
    [4099, 64],
    [70_000, 65536],
  ] as const) {
    it(`viewNorm and addView match the decoded values (n=${n}, block ${blockSize}, aligned and not)`, () => {
      const values = new Float32Array(n).map(() => (Math.random() - 0.5) * 3);
      const enc = encodeTensor({ ...header, encoding: 'i8' }, values, { blockSize });
      const ref = reference(enc, n);
      let refNorm = 0;
      for (const x of ref) refNorm += x * x;
      // an unaligned copy exercises the per-byte fallback
      const shifted = new Uint8Array(enc.length + 1).subarray(1);
      shifted.set(enc);
      for (const buf of [enc, shifted]) {
        const v = decodeTensorView(buf, { maxCount: n });
        expect(viewNorm(v)).toBeCloseTo(Math.sqrt(refNorm), 6);
        const acc = emptyAccumulator(n);
        addView(acc, v, 0.5);
        addView(acc, v, 1);
        for (let i = 0; i < n; i++) expect(acc.sum[i]).toBeCloseTo(1.5 * ref[i]!, 5);
        expect(acc).toMatchObject({ weight: 1.5, count: 2, sqWeightSum: 1.25, maxWeight: 1 });
      }
      const f = encodeTensor({ ...header, encoding: 'f32' }, values);
      const fv = decodeTensorView(f, { maxCount: n });
      let fNorm = 0;
      for (const x of values) fNorm += x * x;
      expect(viewNorm(fv)).toBeCloseTo(Math.sqrt(fNorm), 6);
    });
  }

  it('checkedViewNorm rejects a -128 anywhere as decodeTensorView does, in its one pass', () => {
    const errorOf = (f: () => unknown): string => {
      try {
        f();
        return 'none';
      } catch (e) {
        return e instanceof FedrankError ? `${e.code}: ${e.message}` : String(e);
      }
    };
    const n = 4099; // 64 whole blocks of 64 through the word loop, then a 3-value tail block
    const values = new Float32Array(n).map(() => (Math.random() - 0.5) * 3);
    const enc = encodeTensor({ ...header, encoding: 'i8' }, values, { blockSize: 64 });
    const shifted = new Uint8Array(enc.length + 1).subarray(1);
    for (const at of [0, 1, 2, 3, 1234, 4095, 4096, 4098]) {
      for (const aligned of [true, false]) {
        const buf = aligned ? enc.slice() : (shifted.set(enc), shifted);
        const v = decodeTensorViewScanDeferred(buf, { maxCount: n });
        expect(checkedViewNorm(v)).toBe(viewNorm(decodeTensorView(buf, { maxCount: n })));
        if (!('q' in v)) throw new Error('expected an i8 view');
        v.q[at] = -128;
        const want = errorOf(() => decodeTensorView(buf, { maxCount: n }));
        expect(want).toMatch(/^CODEC_BAD_VALUE/);
        expect(errorOf(() => checkedViewNorm(v))).toBe(want);
      }
    }
  });

  it('honest clipped + noised + int8 updates never exceed maxHonestNorm; slightly larger ones do', () => {
    const n = 20_000;
    for (const [sigma, mode, C] of [
      [0, 'local', 1],
      [0.5, 'local', 1],
      [2, 'local', 0.1],
      [1, 'distributed', 1],
    ] as const) {
      const t: TrainingConfig = {
        clipNorm: C,
        noiseMultiplier: sigma,
        noiseMode: mode,
        expectedClientsPerRound: 10,
        localEpochs: 1,
        learningRate: 0.1,
        batchSize: 8,
        sharedNegatives: 0,
        lossReduction: 'mean',
        minNewEvents: 1,
        updateEncoding: 'i8',
      };
      const bound = maxHonestNorm(t, n, 8, 256);
      let worst = 0;
      for (let k = 0; k < 30; k++) {
        // adversarially shaped but clipped: all mass in one block (the worst case for int8 error)
        const delta = new Float32Array(n);
        for (let i = 0; i < 256; i++) delta[i] = Math.random() * 10;
        const { noised } = privatizeDelta(delta, t);
        const v = decodeTensorView(encodeTensor({ ...header, encoding: 'i8' }, noised), { maxCount: n });
        worst = Math.max(worst, viewNorm(v) / bound);
      }
      expect(worst).toBeLessThanOrEqual(1);
      expect(worst).toBeGreaterThan(0.5); // the bound is not vacuous
    }
  });
});
