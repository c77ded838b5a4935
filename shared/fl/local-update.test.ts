import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { decodeTensor } from '../codec/tensor-codec.ts';
import { encodeItem } from '../model/features.ts';
import type { EncodedItem } from '../model/features.ts';
import { sameItem } from '../model/personal.ts';
import { Ranker } from '../model/ranker.ts';
import { DEFAULT_SPEC, initGlobalParams, mulberry32, paramCount } from '../model/spec.ts';
import type { ModelSpec } from '../model/spec.ts';
import type { TrainingConfig } from '../protocol.ts';
import { buildExamples, makeUpdatePayload, trainLocal, trainLocalAsync } from './local-update.ts';
import { vi } from 'vitest';
import type { Interaction } from './local-update.ts';

const spec: ModelSpec = { ...DEFAULT_SPEC, itemBuckets: 512, attrBuckets: 64, queryBuckets: 64, dim: 16 };
const catalog: EncodedItem[] = Array.from({ length: 50 }, (_, i) =>
  encodeItem(spec, { id: `p${i}`, category: `c${i % 5}` }),
);
const config: TrainingConfig = {
  clipNorm: 1,
  noiseMultiplier: 0,
  noiseMode: 'local',
  expectedClientsPerRound: 10,
  localEpochs: 2,
  learningRate: 0.2,
  batchSize: 4,
  minNewEvents: 1,
  updateEncoding: 'f32',
};

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('buildExamples', () => {
  const log: Interaction[] = [
    { item: catalog[1]!, kind: 'impression', time: 1 },
    { item: catalog[2]!, kind: 'impression', time: 2 },
    { item: catalog[3]!, kind: 'impression', time: 3 },
    { item: catalog[2]!, kind: 'click', time: 4, query: [7] },
    { item: catalog[2]!, kind: 'purchase', time: 5 },
    { item: catalog[9]!, kind: 'impression', time: 6 },
    { item: catalog[4]!, kind: 'cart', time: 7 },
    { item: catalog[8]!, kind: 'impression', time: 8 },
  ];

  it('makes one example per positive step with skipped impressions as negatives', () => {
    const ex = buildExamples(spec, [...log].reverse(), catalog, mulberry32(1), { sampledNegatives: 5 });
    expect(ex).toHaveLength(2);
    const [a, b] = ex as [(typeof ex)[0], (typeof ex)[0]];
    expect(a.positive).toEqual(catalog[2]);
    expect(a.context.history).toEqual([]);
    expect(a.context.query).toEqual([7]);
    // Shown and skipped: 1 and 3 (2 was chosen).
    expect(a.negatives.slice(0, 2)).toEqual([catalog[1], catalog[3]]);
    expect(a.negatives).toHaveLength(7);
    expect(b.positive).toEqual(catalog[4]);
    expect(b.context.history).toEqual([catalog[2]]);
    expect(b.negatives[0]).toEqual(catalog[9]);
    for (const e of ex) {
      for (const n of e.negatives) {
        expect(sameItem(n, e.positive)).toBe(false);
        expect(e.context.history.some((h) => sameItem(h, n))).toBe(false);
      }
    }
  });

  it('builds nothing from impressions only, and copes with an empty pool', () => {
    expect(
      buildExamples(
        spec,
        log.filter((e) => e.kind === 'impression'),
        catalog,
        Math.random,
      ),
    ).toEqual([]);
    const ex = buildExamples(spec, log, [], Math.random, { sampledNegatives: 5 });
    expect(ex[0]!.negatives).toHaveLength(2);
  });
});

describe('trainLocal and makeUpdatePayload', () => {
  const clicks: Interaction[] = [0, 5, 10, 15, 20, 25].map((i, t) => ({
    item: catalog[i]!,
    kind: 'click',
    time: t,
  }));

  it('returns delta = local - global and keeps tensors at baseline', () => {
    const before = tf.memory().numTensors;
    const global = initGlobalParams(spec, 4);
    const ranker = new Ranker(spec, global);
    const examples = buildExamples(spec, clicks, catalog, mulberry32(2));
    const { delta, loss } = trainLocal(ranker, global, examples, config);
    const local = ranker.getGlobal();
    expect(delta.length).toBe(paramCount(spec));
    for (let i = 0; i < delta.length; i += 97) expect(delta[i]).toBeCloseTo(local[i]! - global[i]!, 6);
    expect(delta.some((v) => v !== 0)).toBe(true);
    expect(Number.isFinite(loss) && loss > 0).toBe(true);
    // The input global vector is untouched.
    expect(global).toEqual(initGlobalParams(spec, 4));
    ranker.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('trainLocalAsync runs the same steps, yielding between mini-batches, with no tensors left', async () => {
    const before = tf.memory().numTensors;
    const global = initGlobalParams(spec, 4);
    const examples = buildExamples(spec, clicks, catalog, mulberry32(2));
    // The same shuffle for both runs: the two variants must then give the same update.
    const seeded = (): void => {
      const rnd = mulberry32(9);
      vi.spyOn(Math, 'random').mockImplementation(rnd);
    };
    const a = new Ranker(spec, global);
    seeded();
    const sync = trainLocal(a, global, examples, config);
    vi.restoreAllMocks();
    const b = new Ranker(spec, global);
    seeded();
    let yields = 0;
    const asyncR = await trainLocalAsync(b, global, examples, config, async () => {
      yields++;
      await new Promise<void>((r) => setTimeout(r, 0));
    });
    vi.restoreAllMocks();
    expect(yields).toBe(config.localEpochs * Math.ceil(examples.length / config.batchSize));
    expect(asyncR.loss).toBeCloseTo(sync.loss, 5);
    for (let i = 0; i < sync.delta.length; i += 31) expect(asyncR.delta[i]).toBeCloseTo(sync.delta[i]!, 5);
    a.dispose();
    b.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('encodes a clipped update that decodes to the privatized delta', () => {
    const delta = new Float32Array(paramCount(spec)).map((_, i) => (i % 3) - 1);
    const h = { modelId: 'seqdot-v1-test', baseVersion: 3, round: 4 };
    const { body, preClipNorm, noiseStd } = makeUpdatePayload(delta, config, h);
    expect(noiseStd).toBe(0);
    expect(preClipNorm).toBeCloseTo(Math.sqrt(delta.reduce((s, v) => s + v * v, 0)), 2);
    const { header, values } = decodeTensor(body, { maxCount: delta.length });
    expect(header).toMatchObject({ kind: 'delta', ...h, count: delta.length, encoding: 'f32' });
    const norm = Math.sqrt(values.reduce((s, v) => s + v * v, 0));
    expect(norm).toBeCloseTo(config.clipNorm, 4);
    const i8 = makeUpdatePayload(delta, { ...config, updateEncoding: 'i8', noiseMultiplier: 1 }, h);
    expect(i8.noiseStd).toBeGreaterThan(0);
    expect(i8.body.length).toBeLessThan(body.length / 3.5);
  });
});
