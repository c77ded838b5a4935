/**
 * The poisoning attack of issue 14 as a test: honest simulated shoppers train with the product's learner
 * against the in-process server in its default configuration (smaller hashing tables, to stay fast), while
 * an attacker uploads the 3-coordinate update (target item's popularity bias in its id rows, user-side
 * weight on the bias) as large as the server accepts. After 5 rounds the target must be in the top 10 of
 * at most 5% of shoppers. A new shopper's rank of the target is reported, not asserted: once the bounds
 * hold it is set by the rounds' noise, and one run with 9 honest + 1 put it inside the top 10.
 */
import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Ranker } from '../shared/model/ranker.ts';
import { mulberry32 } from '../shared/model/spec.ts';
import { buildServer, type FedrankServer } from './app.ts';
import { makeConfig } from './config.ts';
import { TEST_TOKEN, UNBOUNDED_ROBUST } from './testing.ts';
import {
  hitRate,
  honestContribution,
  makeShop,
  makeShoppers,
  poisonedContribution,
  Shopper,
} from './testing-shoppers.ts';

const SPEC = { itemBuckets: 1024, attrBuckets: 128, queryBuckets: 64 };
const ROUNDS = 5;

const servers: FedrankServer[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
});
beforeAll(async () => {
  await tf.setBackend('cpu');
});

interface Outcome {
  /** Fraction of simulated shoppers with the target in their top 10. */
  top10: number;
  /** The target's rank (0 = first) for a shopper with no history. */
  newShopperRank: number;
  /** The magnitude per coordinate the server accepted from the attacker, per round. */
  accepted: number[];
  medianRankBefore: number;
  /** HR@10 of held-out clicks before and after the rounds. */
  hitRateBefore: number;
  hitRate: number;
}

/** Runs ROUNDS rounds of `honest` honest uploads plus `malicious` crafted ones; rounds close at the deadline. */
async function attack(
  honest: number,
  malicious: number,
  over: Record<string, unknown> = {},
): Promise<Outcome> {
  let now = Date.parse('2026-01-01T00:00:00Z');
  const config = makeConfig(
    { db: ':memory:', operatorToken: TEST_TOKEN, model: { spec: SPEC }, logLevel: 'silent' },
    // Each crafted upload stands for one token-paying contributor; tokens themselves are tested elsewhere.
    { limits: { perIpPerMinute: 0, perClientPerMinute: 0 }, tokens: { required: false } },
    over,
  );
  const s = await buildServer(config, { logger: false, clock: () => now });
  servers.push(s);
  const a = s.aggregator;
  const shop = makeShop(a.model.spec, 200, 8, 7);
  // Shoppers favour categories 0-6; the target is the least popular item of category 7, so that honest
  // ranking puts it in almost no one's top 10 (as in issue 14: median rank 261 of 300).
  const shoppers = makeShoppers(shop, 100, 11, 7);
  const ranker = new Ranker(a.model.spec, a.params);
  const inLast = shop.items.map((_, i) => i).filter((i) => shop.category[i] === 7);
  const target = inLast.reduce((a, i) => (shop.popularity[i]! < shop.popularity[a]! ? i : a));
  const ranks = (): number[] => shoppers.map((sh) => sh.rankOf(ranker, target)).sort((x, y) => x - y);
  const medianRankBefore = ranks()[shoppers.length >> 1]!;
  const hitRateBefore = hitRate(ranker, shoppers, 99);
  const pick = mulberry32(5);
  const accepted: number[] = [];
  try {
    for (let r = 0; r < ROUNDS; r++) {
      const round = a.open!.round.id;
      for (let k = 0; k < honest; k++) {
        const sh = shoppers[Math.floor(pick() * shoppers.length)]!;
        expect(await honestContribution(s, ranker, sh)).toBe(201);
      }
      for (let k = 0; k < malicious; k++) accepted.push(await poisonedContribution(s, shop.items[target]!));
      await a.idle();
      if (a.open!.round.id === round) {
        now += (config.rounds.deadlineSeconds ?? 0) * 1000 + 1;
        a.checkDeadline();
        await a.idle();
      }
      expect(a.open!.round.id).toBe(round + 1);
    }
    ranker.setGlobal(a.params);
    const after = ranks();
    const fresh = new Shopper(shop, 0, mulberry32(1));
    return {
      top10: after.filter((x) => x < 10).length / after.length,
      newShopperRank: fresh.rankOf(ranker, target),
      accepted,
      medianRankBefore,
      hitRateBefore,
      hitRate: hitRate(ranker, shoppers, 99),
    };
  } finally {
    ranker.dispose();
  }
}

describe('poisoning (issue 14)', () => {
  it('one crafted upload per round (3 honest + 1) cannot buy the top 10', async () => {
    const o = await attack(3, 1);
    console.log('one per round', JSON.stringify(o));
    expect(o.accepted.every((v) => v > 0)).toBe(true); // the attacker did get an upload in every round
    expect(o.top10).toBeLessThanOrEqual(0.05);
  });

  it('10% of each round malicious (9 honest + 1) cannot buy the top 10', async () => {
    const o = await attack(9, 1);
    console.log('10% per round', JSON.stringify(o));
    expect(o.accepted.every((v) => v > 0)).toBe(true);
    expect(o.top10).toBeLessThanOrEqual(0.05);
  });

  it('the robust step does not hurt honest learning (HR@10 of held-out clicks, no attacker)', async () => {
    const hr = async (training: object, robust?: object): Promise<number> =>
      // No noise has no budget (a budget needs sigma > 0).
      (await attack(10, 0, { training, privacy: { epsilonBudget: null }, ...(robust ? { robust } : {}) }))
        .hitRate;
    // Default noise: sigma 1 over 10 shoppers swamps an unbounded step; the bounds keep the model usable.
    const noisy = { bounded: await hr({}), unbounded: await hr({}, UNBOUNDED_ROBUST) };
    // No device noise: the bounds must cost (almost) nothing.
    const clean = {
      bounded: await hr({ noiseMultiplier: 0 }),
      unbounded: await hr({ noiseMultiplier: 0 }, UNBOUNDED_ROBUST),
    };
    console.log('honest HR@10', JSON.stringify({ noisy, clean }));
    expect(noisy.bounded).toBeGreaterThan(noisy.unbounded + 0.1);
    expect(clean.bounded).toBeGreaterThan(clean.unbounded - 0.05);
  });
});
