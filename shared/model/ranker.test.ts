import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { encodeItem } from './features.ts';
import type { EncodedItem } from './features.ts';
import { emptyPersonal, updatePersonal } from './personal.ts';
import { Ranker } from './ranker.ts';
import type { TrainingExample } from './ranker.ts';
import { DEFAULT_SPEC, initGlobalParams, paramCount } from './spec.ts';
import type { ModelSpec } from './spec.ts';

// A small spec keeps the tests fast; the default spec is exercised where its size matters.
const spec: ModelSpec = { ...DEFAULT_SPEC, itemBuckets: 512, attrBuckets: 64, queryBuckets: 64, dim: 16 };
const item = (i: number, cat: string): EncodedItem =>
  encodeItem(spec, { id: `i${i}`, category: cat, brand: `b${i % 7}`, price: 5 + i });
const catalog: EncodedItem[] = [];
const catOf: string[] = [];
for (let i = 0; i < 60; i++) {
  catOf.push(`c${i % 4}`);
  catalog.push(item(i, `c${i % 4}`));
}

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('Ranker', () => {
  it('async read-back variants give the same numbers as the sync ones and leave no tensors', async () => {
    const r = new Ranker(spec, initGlobalParams(spec, 3));
    const before = tf.memory().numTensors;
    const personal = updatePersonal(spec, emptyPersonal(spec), { item: catalog[1]!, kind: 'click', time: 1 });
    const ctx = { history: catalog.slice(0, 3), query: [1, 2], personal };
    const cands = catalog.slice(10, 20);
    expect(Array.from(await r.scoreAsync(ctx, cands))).toEqual(Array.from(r.score(ctx, cands)));
    expect(Array.from(await r.userVectorsAsync([ctx]))).toEqual(Array.from(r.userVectors([ctx])));
    expect(Array.from(await r.itemVectorsAsync(cands))).toEqual(Array.from(r.itemVectors(cands)));
    expect(Array.from(await r.getGlobalAsync())).toEqual(Array.from(r.getGlobal()));
    expect((await r.scoreAsync(ctx, [])).length).toBe(0);
    const batch = [{ context: ctx, positive: catalog[4]!, negatives: catalog.slice(21, 25) }];
    const loss = await r.trainAsync(batch, { learningRate: 0.1 });
    expect(Number.isFinite(loss) && loss > 0).toBe(true);
    expect(await r.trainAsync([], { learningRate: 0.1 })).toBe(0);
    expect(tf.memory().numTensors).toBe(before);
    r.dispose();
  });

  it('produces vectors and scores of the right shape, consistent with each other', () => {
    const r = new Ranker(spec, initGlobalParams(spec, 3));
    const ctxs = [{ history: catalog.slice(0, 3) }, { history: [], query: [1, 2] }];
    const u = r.userVectors(ctxs);
    const v = r.itemVectors(catalog.slice(10, 15));
    expect(u.length).toBe(2 * r.vectorDim);
    expect(v.length).toBe(5 * r.vectorDim);
    const s = r.score(ctxs[0]!, catalog.slice(10, 15));
    expect(s.length).toBe(5);
    for (let n = 0; n < 5; n++) {
      let dot = 0;
      for (let k = 0; k < r.vectorDim; k++) dot += u[k]! * v[n * r.vectorDim + k]!;
      expect(s[n]).toBeCloseTo(dot, 4);
    }
    expect(r.score({ history: [] }, [])).toHaveLength(0);
    r.dispose();
  });

  it('round-trips the flat global parameters', () => {
    const g = initGlobalParams(spec, 5);
    const r = new Ranker(spec, g);
    expect(r.getGlobal()).toEqual(g);
    const g2 = initGlobalParams(spec, 6);
    r.setGlobal(g2);
    expect(r.getGlobal()).toEqual(g2);
    expect(() => r.setGlobal(new Float32Array(3))).toThrow(/parameters/);
    r.dispose();
  });

  it('returns the tensor count to baseline after score, train and dispose', () => {
    const before = tf.memory().numTensors;
    const r = new Ranker(spec, initGlobalParams(spec));
    const ex: TrainingExample[] = [
      {
        context: { history: catalog.slice(0, 4), query: [3] },
        positive: catalog[5]!,
        negatives: catalog.slice(6, 9),
      },
      { context: { history: [] }, positive: catalog[9]!, negatives: catalog.slice(10, 11) },
    ];
    r.score({ history: catalog.slice(0, 2) }, catalog);
    r.userVectors([{ history: catalog.slice(0, 2) }]);
    r.itemVectors(catalog);
    r.train(ex, { learningRate: 0.1 });
    r.train(ex, {
      learningRate: 0.01,
      optimizer: 'adam',
      sharedNegatives: catalog.slice(20, 30),
      inBatchNegatives: true,
    });
    r.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('keeps Adam moments when the rate changes between steps (a decay schedule scales the step)', () => {
    const before = tf.memory().numTensors;
    const ex: TrainingExample[] = [
      { context: { history: catalog.slice(0, 3) }, positive: catalog[5]!, negatives: catalog.slice(6, 9) },
      { context: { history: catalog.slice(2, 4) }, positive: catalog[12]!, negatives: catalog.slice(13, 15) },
    ];
    const secondStep = (rate: number): Float32Array => {
      const r = new Ranker(spec, initGlobalParams(spec, 3));
      // Different examples per step, so that a continued step differs from a first one.
      r.train(ex.slice(0, 1), { learningRate: 0.01, optimizer: 'adam' });
      const mid = r.getGlobal();
      r.train(ex.slice(1), { learningRate: rate, optimizer: 'adam' });
      const end = r.getGlobal();
      r.dispose();
      return end.map((v, i) => v - mid[i]!);
    };
    const full = secondStep(0.01);
    const half = secondStep(0.005);
    let maxAbs = 0;
    let maxErr = 0;
    for (let i = 0; i < full.length; i++) {
      maxAbs = Math.max(maxAbs, Math.abs(full[i]!));
      maxErr = Math.max(maxErr, Math.abs(half[i]! - full[i]! / 2));
    }
    // A fresh optimizer would take a first (sign-like) Adam step instead of half the continued one.
    expect(maxAbs).toBeGreaterThan(1e-3);
    expect(maxErr).toBeLessThan(1e-6);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('learns a planted preference: clicks on one category raise its scores', () => {
    const r = new Ranker(spec, initGlobalParams(spec, 11));
    const ctx = { history: [catalog[0]!] };
    const meanScore = (cat: string): number => {
      const s = r.score(ctx, catalog);
      let sum = 0;
      let n = 0;
      for (let i = 0; i < catalog.length; i++) if (catOf[i] === cat) ((sum += s[i]!), n++);
      return sum / n;
    };
    const before = meanScore('c2') - meanScore('c1');
    const pos = catalog.filter((_, i) => catOf[i] === 'c2');
    const neg = catalog.filter((_, i) => catOf[i] !== 'c2');
    let first = 0;
    let last = 0;
    for (let step = 0; step < 30; step++) {
      const batch: TrainingExample[] = pos.slice(0, 8).map((p, j) => ({
        context: { history: [catalog[(step + j) % catalog.length]!] },
        positive: p,
        negatives: neg.slice((step + j) % 30, ((step + j) % 30) + 8),
      }));
      const loss = r.train(batch, { learningRate: 0.5 });
      if (step === 0) first = loss;
      last = loss;
    }
    expect(last).toBeLessThan(first);
    expect(meanScore('c2') - meanScore('c1')).toBeGreaterThan(before + 0.5);
    r.dispose();
  });

  it('reflects a click in the next score through the personal state', () => {
    const r = new Ranker(spec, initGlobalParams(spec, 2));
    let personal = emptyPersonal(spec);
    const cands = catalog.slice(20, 40);
    const before = r.score({ history: personal.history, personal }, cands);
    personal = updatePersonal(spec, personal, { item: catalog[21]!, kind: 'click', time: 1 });
    const after = r.score({ history: personal.history, personal }, cands);
    // Items sharing the clicked item's category gain relative to the others.
    const gain = (i: number): number => after[i]! - before[i]!;
    const same = cands.map((_, i) => i).filter((i) => catOf[20 + i] === catOf[21]);
    const other = cands.map((_, i) => i).filter((i) => catOf[20 + i] !== catOf[21]);
    const avg = (xs: number[]): number => xs.reduce((s, i) => s + gain(i), 0) / xs.length;
    expect(avg(same)).toBeGreaterThan(avg(other) + 0.1);
    r.dispose();
  });

  it('handles the default spec (full size) within its memory footprint', () => {
    const before = tf.memory().numTensors;
    const r = new Ranker(DEFAULT_SPEC, initGlobalParams(DEFAULT_SPEC));
    expect(r.getGlobal().length).toBe(paramCount(DEFAULT_SPEC));
    const items = Array.from({ length: 100 }, (_, i) =>
      encodeItem(DEFAULT_SPEC, { id: `x${i}`, category: 'a' }),
    );
    expect(r.score({ history: items.slice(0, 30) }, items).every(Number.isFinite)).toBe(true);
    r.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});
