import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { encodeItem, encodeQuery } from '../../shared/model/features.ts';
import { emptyPersonal, updatePersonal } from '../../shared/model/personal.ts';
import { Ranker } from '../../shared/model/ranker.ts';
import { DEFAULT_SPEC, initGlobalParams } from '../../shared/model/spec.ts';
import { personalOrder } from '../../shared/device/local-rank.ts';
import { Scorer } from './scorer.ts';

describe('Scorer', () => {
  it('orders candidates exactly as Ranker.score does, with no tensors left behind', async () => {
    await tf.setBackend('cpu');
    const spec = DEFAULT_SPEC;
    const params = initGlobalParams(spec, 3);
    for (let i = 0; i < params.length; i++) params[i] = params[i]! + 0.02 * Math.sin(i);
    const ranker = new Ranker(spec, params);
    const scorer = new Scorer(spec, ranker);
    const items = Array.from({ length: 60 }, (_, i) => ({
      id: `s${i}`,
      category: `c${i % 6}`,
      brand: `b${i % 4}`,
      price: 3 + i,
    }));
    let personal = emptyPersonal(spec);
    for (const i of [2, 8, 14])
      personal = updatePersonal(spec, personal, {
        item: encodeItem(spec, items[i]!),
        kind: 'click',
        time: i,
      });
    const before = tf.memory().numTensors;
    const order = scorer.rank(items, 'blue shoes', personal);
    const again = scorer.rank(items, 'blue shoes', personal);
    expect(tf.memory().numTensors).toBe(before);
    expect(again).toEqual(order);
    // The asynchronous variant ranks the same, cold cache or warm.
    expect(await new Scorer(spec, ranker).rankAsync(items, 'blue shoes', personal)).toEqual(order);
    expect(await scorer.rankAsync(items, 'blue shoes', personal)).toEqual(order);
    expect(tf.memory().numTensors).toBe(before);
    const ref = ranker.score(
      { history: personal.history, query: encodeQuery(spec, 'blue shoes'), personal },
      items.map((it) => encodeItem(spec, it)),
    );
    const refOrder = Array.from(ref.keys()).sort((a, b) => ref[b]! - ref[a]! || a - b);
    // Same ranking up to float rounding: compare scores along both orders.
    for (let k = 0; k < items.length; k++) expect(ref[order[k]!]!).toBeCloseTo(ref[refOrder[k]!]!, 4);
    // The click on category c2 moves c2 items up at once.
    expect(order.slice(0, 6).filter((i) => items[i]!.category === 'c2').length).toBeGreaterThanOrEqual(4);
    ranker.dispose();
  });
});

describe('Scorer.rankAsync', () => {
  it('does not cache vectors computed while the personal state changed underneath', async () => {
    await tf.setBackend('cpu');
    const spec = DEFAULT_SPEC;
    const ranker = new Ranker(spec, initGlobalParams(spec, 3));
    const scorer = new Scorer(spec, ranker);
    const items = Array.from({ length: 30 }, (_, i) => ({ id: `a${i}`, category: `c${i % 3}` }));
    const empty = emptyPersonal(spec);
    const pending = scorer.rankAsync(items, '', empty);
    scorer.personalChanged();
    const clicked = updatePersonal(spec, empty, {
      item: encodeItem(spec, items[1]!),
      kind: 'click',
      time: 1,
    });
    await pending;
    // Had the stale user vector been cached, this ranking would ignore the click.
    const after = await scorer.rankAsync(items, '', clicked);
    expect(after).toEqual(new Scorer(spec, ranker).rank(items, '', clicked));
    ranker.dispose();
  });
});

describe('Scorer with the safeguard’s weight', () => {
  it('at weight 0 ranks as on-device personalization alone (the shop’s order before any click)', async () => {
    await tf.setBackend('cpu');
    const spec = DEFAULT_SPEC;
    const params = initGlobalParams(spec, 5);
    for (let i = 0; i < params.length; i++) params[i] = params[i]! + 0.5 * Math.sin(7 * i);
    const ranker = new Ranker(spec, params);
    const scorer = new Scorer(spec, ranker);
    const items = Array.from({ length: 24 }, (_, i) => ({
      id: `w${i}`,
      category: `c${i % 4}`,
      brand: `b${i % 5}`,
    }));
    const identity = items.map((_, i) => i);
    const empty = emptyPersonal(spec);
    // The noisy model re-orders at weight 1; at weight 0 with no click nothing moves.
    expect(await scorer.rankAsync(items, '', empty, 1)).not.toEqual(identity);
    expect(await scorer.rankAsync(items, '', empty, 0)).toEqual(identity);
    const clicked = updatePersonal(spec, empty, {
      item: encodeItem(spec, items[3]!),
      kind: 'click',
      time: 1,
    });
    scorer.personalChanged();
    const enc = items.map((it) => encodeItem(spec, it));
    expect(await scorer.rankAsync(items, '', clicked, 0)).toEqual(personalOrder(spec, enc, clicked));
    ranker.dispose();
  });
});
