import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import { manifest, trainingConfig } from '../../e2e/sdk/support.ts';
import { encodeItem } from '../model/features.ts';
import { Ranker } from '../model/ranker.ts';
import { DEFAULT_SPEC, initGlobalParams } from '../model/spec.ts';
import { RankerLearner } from './ranker-learner.ts';
import type { ModelRecord } from './records.ts';

const model: ModelRecord = {
  key: 'global',
  manifest: manifest(1, trainingConfig({ sharedNegatives: 4 })),
  manifestEtag: null,
  weightsEtag: null,
  params: initGlobalParams(DEFAULT_SPEC),
};
const items = Array.from({ length: 8 }, (_, i) =>
  encodeItem(DEFAULT_SPEC, { id: `i${i}`, category: `c${i % 2}` }),
);

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('RankerLearner', () => {
  it('trains cooperatively on a ranker of its own, leaving no tensor behind and the model untouched', async () => {
    const before = tf.memory().numTensors;
    const params = model.params.slice();
    let yields = 0;
    const learner = new RankerLearner(
      () => null,
      async () => void yields++,
    );
    const examples = [0, 1, 2].map((k) => ({
      context: { history: [items[k]!] },
      positive: items[k + 1]!,
      negatives: [items[7]!],
    }));
    const delta = await learner.train(model, examples, { pool: items, random: () => 0.5 });
    expect(delta.length).toBe(model.params.length);
    expect(delta.some((v) => v !== 0)).toBe(true);
    expect(yields).toBeGreaterThan(0);
    expect(model.params).toEqual(params);
    expect(tf.memory().numTensors).toBe(before);
  });

  it("scores on the adapter's ranker when there is one, else on a ranker made for the call", async () => {
    const before = tf.memory().numTensors;
    const own = await new RankerLearner(() => null).score(model, { history: [items[0]!] }, items);
    expect(tf.memory().numTensors).toBe(before);
    const ranker = new Ranker(DEFAULT_SPEC, model.params);
    try {
      const shared = await new RankerLearner(() => ranker).score(model, { history: [items[0]!] }, items);
      expect(Array.from(shared)).toEqual(Array.from(own));
    } finally {
      ranker.dispose();
    }
    expect(tf.memory().numTensors).toBe(before);
  });
});
