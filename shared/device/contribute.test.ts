import { describe, expect, it } from 'vitest';
import { manifest, trainingConfig } from '../../e2e/sdk/support.ts';
import { decodeTensor } from '../codec/tensor-codec.ts';
import { DEFAULT_SPEC, initGlobalParams } from '../model/spec.ts';
import { prepareContribution } from './contribute.ts';
import { evaluate, itemKey, itemPool, toInteraction } from './examples.ts';
import { FakeLearner } from './fakes.ts';
import { cryptoRandom } from './random.ts';
import type { EventRecord, ModelRecord } from './records.ts';

const model = (t = trainingConfig()): ModelRecord => ({
  key: 'global',
  manifest: manifest(3, t),
  manifestEtag: null,
  weightsEtag: null,
  params: initGlobalParams(DEFAULT_SPEC),
});
const item = (i: number) => ({ id: `sku-${i}`, category: `c${i % 4}`, brand: `b${i % 3}`, price: 10 + i });

function events(clicks: number[], shown = 20): EventRecord[] {
  let seq = 0;
  const evs: EventRecord[] = [];
  for (let i = 0; i < shown; i++) evs.push({ seq: ++seq, type: 'impression', item: item(i), time: i });
  for (const i of clicks) evs.push({ seq: ++seq, type: 'click', item: item(i), time: 100 + i });
  return evs;
}

describe('prepareContribution', () => {
  it('trains, then clips, noises and encodes for the round, with a matching ledger entry', async () => {
    const learner = new FakeLearner();
    const to = { round: 7, clientId: 'c'.repeat(20) };
    const p = await prepareContribution(
      model(),
      events([1, 2, 3]),
      to,
      learner,
      cryptoRandom,
      () => 5,
      () => false,
    );
    expect(p).not.toBeNull();
    const { ledger, outbox } = p!;
    expect(learner.trainings).toBe(1);
    expect(outbox).toMatchObject({
      round: 7,
      baseVersion: 3,
      clientId: 'c'.repeat(20),
      attempts: 0,
      createdAt: 5,
    });
    expect(ledger.key).toBe(outbox.key);
    expect(ledger).toMatchObject({
      round: 7,
      modelVersion: 3,
      clipNorm: 1,
      noiseMultiplier: 1,
      q: 1,
      sigma: 1,
    });
    expect(ledger.noiseStd).toBeCloseTo(1, 9);
    const { header, values } = decodeTensor(outbox.body, { maxCount: 1e7 });
    expect(header).toMatchObject({ kind: 'delta', round: 7, baseVersion: 3, modelId: manifest().modelId });
    expect(values.length).toBe(manifest().paramCount);
    // The fixed delta of the fake learner (1e-3 everywhere) is far below the noise: the noise is there.
    expect(Math.max(...values.slice(0, 1000).map(Math.abs))).toBeGreaterThan(0.01);
  });

  it('accounts distributed noise at the sigma of a round closed with only minClients survivors', async () => {
    const t = trainingConfig({ noiseMode: 'distributed', expectedClientsPerRound: 4, noiseMultiplier: 2 });
    const p = await prepareContribution(
      model(t),
      events([1, 2]),
      { round: 7, clientId: 'c'.repeat(20) },
      new FakeLearner(),
      cryptoRandom,
      () => 0,
      () => false,
    );
    // The round may close with minClients = 2 of the 4 the noise was sized for: their noise, 2 * sqrt(2/4).
    expect(p!.ledger.sigma).toBeCloseTo(2 * Math.sqrt(2 / 4), 12);
    expect(p!.ledger.noiseStd).toBeCloseTo(1, 9); // 2 * 1 / sqrt(4)
  });

  it('leaves nothing when cancelled during training, or when there is nothing to learn', async () => {
    const to = { round: 7, clientId: 'c'.repeat(20) };
    const learner = new FakeLearner();
    const cancelled = await prepareContribution(
      model(),
      events([1]),
      to,
      learner,
      cryptoRandom,
      () => 0,
      () => true,
    );
    expect(cancelled).toBeNull();
    const none = await prepareContribution(
      model(),
      events([], 5),
      to,
      learner,
      cryptoRandom,
      () => 0,
      () => false,
    );
    expect(none).toBeNull();
    expect(learner.trainings).toBe(1);
  });
});

describe('events as learner input', () => {
  it('maps event kinds and queries onto interactions, and pools distinct items', () => {
    const spec = DEFAULT_SPEC;
    const e: EventRecord = { type: 'add_to_cart', item: item(1), time: 9, query: 'red hat' };
    const it = toInteraction(spec, e);
    expect(it.kind).toBe('cart');
    expect(it.query!.length).toBeGreaterThan(0);
    expect(toInteraction(spec, { type: 'purchase', item: item(1), time: 1 }).kind).toBe('purchase');
    expect(itemPool(spec, [...events([1, 2], 5), ...events([3], 5)]).size).toBe(5);
    expect(itemKey(item(1))).not.toBe(itemKey({ ...item(1), price: 11.5 }));
  });
});

describe('federated evaluation', () => {
  it('ranks each new positive among the other shown items; only sums leave', async () => {
    // The fake learner scores candidates in list order: the positive (first) always ranks first.
    const learner = new FakeLearner();
    const r = await evaluate(model(), learner, events([1, 2, 3]), 0);
    expect(r).toEqual({ modelVersion: 3, examples: 3, hitsAt10: 3, ndcgAt10: 3 });
    // Positives already seen by an earlier pass are not evaluated again.
    const later = await evaluate(model(), learner, events([1, 2, 3]), 22);
    expect(later).toEqual({ modelVersion: 3, examples: 1, hitsAt10: 1, ndcgAt10: 1 });
  });

  it('counts a miss when the positive ranks below ten others, and needs ten others to score', async () => {
    const worst = new FakeLearner();
    worst.score = async (_m, _c, items) => items.map((_, i) => i);
    const r = await evaluate(model(), worst, events([1]), 0);
    expect(r).toMatchObject({ examples: 1, hitsAt10: 0, ndcgAt10: 0 });
    expect(await evaluate(model(), new FakeLearner(), events([1], 8), 0)).toBeNull();
  });
});
