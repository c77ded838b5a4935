import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { encodeItem } from '../shared/model/features.ts';
import { Ranker } from '../shared/model/ranker.ts';
import { DEFAULT_SPEC, initGlobalParams } from '../shared/model/spec.ts';
import { useBackend } from './backend.ts';
import { evaluateCases, rankerScorer, scorerDiscrepancy } from './ranking.ts';
import type { EvalCase } from './split.ts';

beforeAll(async () => {
  await useBackend('wasm');
});

describe('full-ranking evaluation', () => {
  it('ranks each target against the catalog minus the history', () => {
    // Scores are the item index: the best item is N-1.
    const N = 30;
    const scorer = (cases: EvalCase[]): Float32Array => {
      const out = new Float32Array(cases.length * N);
      for (let i = 0; i < cases.length; i++) for (let j = 0; j < N; j++) out[i * N + j] = j;
      return out;
    };
    const cases: EvalCase[] = [
      { user: 0, history: Int32Array.from([1]), target: 29 }, // first: NDCG 1
      { user: 1, history: Int32Array.from([29, 28]), target: 27 }, // two above it are history: first again
      { user: 2, history: Int32Array.from([]), target: 27 }, // third: NDCG 0.5
      { user: 3, history: Int32Array.from([]), target: 0 }, // last: miss
    ];
    const m = evaluateCases(scorer, cases, N, 3);
    expect(m.users).toBe(4);
    expect(m.hr10).toBeCloseTo(0.75, 12);
    expect(m.ndcg10).toBeCloseTo(2.5 / 4, 12);
  });

  it('the matrix-product scorer (with the on-device affinity bonus) equals Ranker.score()', () => {
    const spec = { ...DEFAULT_SPEC, dim: 8, itemBuckets: 256, attrBuckets: 32, personalWeight: 0.7 };
    const items = Array.from({ length: 60 }, (_, i) => ({
      id: `sku${i}`,
      attributes: [`c${i % 5}`, `b${i % 7}`],
    }));
    const encoded = items.map((it) => encodeItem(spec, it));
    const before = tf.memory().numTensors;
    const ranker = new Ranker(spec, initGlobalParams(spec, 3));
    const cases: EvalCase[] = [
      { user: 0, history: Int32Array.from([1, 6, 11, 2]), target: 16 },
      { user: 1, history: Int32Array.from([40]), target: 3 },
      { user: 2, history: Int32Array.from([]), target: 5 },
    ];
    const { scorer, dispose } = rankerScorer(ranker, encoded);
    expect(scorerDiscrepancy(ranker, encoded, scorer, cases)).toBeLessThan(1e-5);
    // The bonus matters: the same parameters without it score the row differently.
    const plain = new Ranker({ ...spec, personalWeight: 0 }, initGlobalParams(spec, 3));
    const noBonus = rankerScorer(plain, encoded);
    const a = scorer(cases.slice(0, 1));
    const b = noBonus.scorer(cases.slice(0, 1));
    expect(a.some((v, j) => Math.abs(v - b[j]!) > 1e-3)).toBe(true);
    dispose();
    noBonus.dispose();
    plain.dispose();
    ranker.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});
