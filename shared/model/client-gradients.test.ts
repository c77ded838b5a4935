import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import type { ClientGradient } from './client-gradients.ts';
import { encodeItem } from './features.ts';
import type { EncodedItem } from './features.ts';
import { emptyPersonal, updatePersonal } from './personal.ts';
import { Ranker } from './ranker.ts';
import type { ExampleGroup, TrainingExample } from './ranker.ts';
import { DEFAULT_SPEC, initGlobalParams, mulberry32, paramCount } from './spec.ts';
import type { ModelSpec } from './spec.ts';

const spec: ModelSpec = { ...DEFAULT_SPEC, itemBuckets: 256, attrBuckets: 32, queryBuckets: 32, dim: 8 };
const catalog: EncodedItem[] = Array.from({ length: 80 }, (_, i) =>
  encodeItem(spec, { id: `i${i}`, category: `c${i % 5}`, brand: `b${i % 7}`, price: 3 + i }),
);

/** A client: a few examples with histories, per-example negatives, a query, and shared negatives. */
function client(seed: number, n: number, shared: number): ExampleGroup {
  const rnd = mulberry32(seed);
  const pick = (): EncodedItem => catalog[Math.floor(rnd() * catalog.length)]!;
  const examples: TrainingExample[] = [];
  let personal = emptyPersonal(spec);
  const history: EncodedItem[] = [];
  for (let i = 0; i < n; i++) {
    const positive = pick();
    const ctx =
      i % 3 === 2 ? { history: [...history], query: [3, 5], personal } : { history: [...history], personal };
    examples.push({ context: ctx, positive, negatives: Array.from({ length: i % 3 }, pick) });
    history.push(positive);
    personal = updatePersonal(spec, personal, { item: positive, kind: 'purchase', time: i });
  }
  // The first example's positive is also a shared negative: it must be masked for that example.
  const sharedNegatives = [examples[0]!.positive, ...Array.from({ length: shared - 1 }, pick)];
  return { examples, sharedNegatives };
}

/** A client gradient as a dense vector in layout order (emb first, then the dense blocks). */
function dense(g: ClientGradient): Float32Array {
  const D = spec.dim + 1;
  const out = new Float32Array(paramCount(spec));
  g.rows.forEach((r, k) => out.set(g.rowGrads.subarray(k * D, (k + 1) * D), r * D));
  out.set(g.dense, paramCount(spec) - g.dense.length);
  return out;
}

beforeAll(async () => {
  await tf.setBackend('cpu');
});

/** Clients that all score one common list of shared negatives. */
function commonGroups(): ExampleGroup[] {
  const groups = [client(1, 4, 6), client(2, 1, 3), client(3, 7, 6), client(4, 2, 1)];
  const common = [groups[2]!.examples[1]!.positive, ...catalog.slice(40, 49)];
  return groups.map((g) => ({ examples: g.examples, sharedNegatives: common }));
}

describe('Ranker.clientGradients', () => {
  it.each([
    [
      'own shared negatives per client',
      (): ExampleGroup[] => [client(1, 4, 6), client(2, 1, 3), client(3, 7, 6), client(4, 2, 1)],
    ],
    ['one shared list for all clients', commonGroups],
  ])("equals each client's own SGD step (%s), in one batched pass, and leaves no tensors", (_, make) => {
    const global = initGlobalParams(spec, 5);
    const groups = make();
    const r = new Ranker(spec, global);
    const before = tf.memory().numTensors;
    const grads = r.clientGradients(groups);
    expect(tf.memory().numTensors).toBe(before);
    expect(r.getGlobal()).toEqual(global); // no parameter moved
    const lr = 0.5;
    groups.forEach((g, c) => {
      r.setGlobal(global);
      const loss = r.train(g.examples, { learningRate: lr, sharedNegatives: g.sharedNegatives });
      const after = r.getGlobal();
      const got = dense(grads[c]!);
      let maxErr = 0;
      let maxAbs = 0;
      for (let i = 0; i < got.length; i++) {
        const want = (global[i]! - after[i]!) / lr;
        maxErr = Math.max(maxErr, Math.abs(got[i]! - want));
        maxAbs = Math.max(maxAbs, Math.abs(want));
      }
      expect(maxAbs).toBeGreaterThan(1e-3);
      // float32 round-off of the SGD step (|w| ~ 1, divided by lr) bounds the comparison.
      expect(maxErr).toBeLessThan(1e-5);
      expect(grads[c]!.loss).toBeCloseTo(loss, 5);
      // Touched rows are listed once each.
      expect(new Set(grads[c]!.rows).size).toBe(grads[c]!.rows.length);
    });
    r.dispose();
  });

  it('rejects an empty client and returns nothing for no clients', () => {
    const r = new Ranker(spec, initGlobalParams(spec, 5));
    expect(r.clientGradients([])).toEqual([]);
    expect(() => r.clientGradients([{ examples: [], sharedNegatives: [] }])).toThrow(RangeError);
    r.dispose();
  });
});
