/**
 * Simulated shoppers against an in-process server, for the integrity tests: a small synthetic shop
 * (categories, popularity), honest shoppers who run the product's learner (buildExamples, trainLocal,
 * makeUpdatePayload: the code the browser worker runs), and the 3-coordinate poisoning upload of issue 14.
 * Tests only; tfjs must have a backend set by the caller.
 */
import { encodeTensor } from '../shared/codec/tensor-codec.ts';
import { encodeItem, type EncodedItem } from '../shared/model/features.ts';
import { emptyPersonal, updatePersonal, type PersonalState } from '../shared/model/personal.ts';
import type { Ranker } from '../shared/model/ranker.ts';
import { mulberry32, paramLayout, type ModelSpec } from '../shared/model/spec.ts';
import { buildExamples, makeUpdatePayload, trainLocal, type Interaction } from '../shared/fl/local-update.ts';
import type { FedrankServer } from './app.ts';
import { randomId } from './testing.ts';

/** A synthetic catalog: item i is in category i % categories; popularity falls off as 1/(rank+1). */
export interface Shop {
  spec: ModelSpec;
  items: EncodedItem[];
  category: number[];
  /** Unnormalized click propensity per item. */
  popularity: number[];
}

/** `n` items in `categories` categories, with brands and prices, and a Zipf-like popularity. */
export function makeShop(spec: ModelSpec, n: number, categories: number, seed: number): Shop {
  const rand = mulberry32(seed);
  const items: EncodedItem[] = [];
  const category: number[] = [];
  const popularity: number[] = [];
  const order = Array.from({ length: n }, (_, i) => i).sort(() => rand() - 0.5);
  for (let i = 0; i < n; i++) {
    const c = i % categories;
    category.push(c);
    items.push(
      encodeItem(spec, { id: `sku-${i}`, category: `c${c}`, brand: `b${(i * 7) % 11}`, price: 5 + (i % 40) }),
    );
    popularity.push(1 / (1 + order[i]!));
  }
  return { spec, items, category, popularity };
}

/** One simulated shopper: a favourite category, a log and the on-device personal state. */
export class Shopper {
  log: Interaction[] = [];
  personal: PersonalState;
  private time = 1;

  constructor(
    readonly shop: Shop,
    readonly favourite: number,
    private readonly rand: () => number,
  ) {
    this.personal = emptyPersonal(shop.spec);
  }

  /** A visit: `shown` impressions (half from the favourite category), then `clicks` popularity-weighted clicks there. */
  visit(shown = 8, clicks = 3): void {
    const { items, category, popularity } = this.shop;
    const fav = items.map((_, i) => i).filter((i) => category[i] === this.favourite);
    const pick = (pool: number[]): number => {
      const total = pool.reduce((a, i) => a + popularity[i]!, 0);
      let r = this.rand() * total;
      for (const i of pool) if ((r -= popularity[i]!) <= 0) return i;
      return pool[pool.length - 1]!;
    };
    const all = items.map((_, i) => i);
    for (let k = 0; k < shown; k++) this.add(items[pick(k % 2 ? fav : all)]!, 'impression');
    for (let k = 0; k < clicks; k++) this.add(items[pick(fav)]!, 'click');
  }

  private add(item: EncodedItem, kind: Interaction['kind']): void {
    const ev: Interaction = { item, kind, time: this.time++ };
    this.log.push(ev);
    this.personal = updatePersonal(this.shop.spec, this.personal, ev);
  }

  /** Rank (0 = first) of item `target` in this shopper's ranking of the whole catalog. */
  rankOf(ranker: Ranker, target: number): number {
    return this.ranks(ranker, [target])[0]!;
  }

  /** Ranks (0 = first) of `targets` in this shopper's ranking of the whole catalog. */
  ranks(ranker: Ranker, targets: number[]): number[] {
    const scores = ranker.score({ history: this.personal.history, personal: this.personal }, this.shop.items);
    return targets.map((t) => {
      let above = 0;
      for (let i = 0; i < scores.length; i++) if (i !== t && scores[i]! > scores[t]!) above++;
      return above;
    });
  }

  /** `k` held-out next clicks, drawn as visit() draws them (for hit rates). */
  heldOut(k: number, rand: () => number): number[] {
    const { category, popularity } = this.shop;
    const fav = category.map((_, i) => i).filter((i) => category[i] === this.favourite);
    const total = fav.reduce((a, i) => a + popularity[i]!, 0);
    return Array.from({ length: k }, () => {
      let r = rand() * total;
      for (const i of fav) if ((r -= popularity[i]!) <= 0) return i;
      return fav[fav.length - 1]!;
    });
  }
}

/** HR@10 of held-out next clicks over the shoppers (the product's ranking: model plus personal bonus). */
export function hitRate(ranker: Ranker, shoppers: Shopper[], seed: number): number {
  const rand = mulberry32(seed);
  let hits = 0;
  let n = 0;
  for (const sh of shoppers) {
    for (const r of sh.ranks(ranker, sh.heldOut(5, rand))) {
      hits += r < 10 ? 1 : 0;
      n++;
    }
  }
  return hits / n;
}

/** `count` shoppers spread over the shop's first `categories` categories, each after one visit. */
export function makeShoppers(shop: Shop, count: number, seed: number, categories: number): Shopper[] {
  const rand = mulberry32(seed);
  return Array.from({ length: count }, (_, i) => {
    const s = new Shopper(shop, i % categories, rand);
    s.visit();
    return s;
  });
}

/** POSTs an update body with fresh ids; returns the HTTP status. */
export async function postUpdate(s: FedrankServer, body: Uint8Array): Promise<number> {
  const r = await s.app.inject({
    method: 'POST',
    url: '/v1/updates',
    payload: Buffer.from(body),
    headers: {
      'content-type': 'application/vnd.fedrank.tensor',
      'x-fedrank-client': randomId('c'),
      'idempotency-key': randomId('k'),
    },
  });
  return r.statusCode;
}

/** An honest upload body: a new visit, local training from the served model, the private payload. */
export function honestPayload(s: FedrankServer, ranker: Ranker, shopper: Shopper): Uint8Array {
  const a = s.aggregator;
  const t = a.config.training;
  shopper.visit();
  const rand = mulberry32(shopper.log.length * 7919 + shopper.favourite);
  const examples = buildExamples(shopper.shop.spec, shopper.log, shopper.shop.items, rand);
  const { delta } = trainLocal(ranker, a.params, examples, t, { pool: shopper.shop.items, random: rand });
  const header = { modelId: a.model.modelId, baseVersion: a.version, round: a.open?.round.id ?? 0 };
  return makeUpdatePayload(delta, t, header).body;
}

/** One honest contribution as a plain upload; returns the HTTP status. */
export async function honestContribution(
  s: FedrankServer,
  ranker: Ranker,
  shopper: Shopper,
): Promise<number> {
  return postUpdate(s, honestPayload(s, ranker, shopper));
}

/**
 * The coordinates of the attack of issue 14: the target's popularity bias in each of its hashed id rows,
 * and the user-side weight on the bias.
 */
export function poisonCoordinates(spec: ModelSpec, target: EncodedItem): number[] {
  const D = spec.dim + 1;
  const userBias = paramLayout(spec).find((b) => b.name === 'userBias')!;
  return [...target.ids.map((row) => row * D + spec.dim), userBias.offset + spec.dim];
}

/**
 * The attack of issue 14 as a plain upload: 3 non-zero coordinates (poisonCoordinates), as large as the
 * server accepts: it tries the L2 bound
 * spread over 3 coordinates, then smaller magnitudes (a probing attacker). Returns the accepted magnitude.
 */
export async function poisonedContribution(s: FedrankServer, target: EncodedItem): Promise<number> {
  const a = s.aggregator;
  const coords = poisonCoordinates(a.model.spec, target);
  const header = {
    kind: 'delta',
    modelId: a.model.modelId,
    baseVersion: a.version,
    round: a.open?.round.id ?? 0,
    encoding: 'f32',
  } as const;
  for (let v = a.normBound(0) / Math.sqrt(coords.length); v > 1e-3; v *= 0.8) {
    const x = new Float32Array(a.model.paramCount);
    for (const c of coords) x[c] = v;
    if ((await postUpdate(s, encodeTensor(header, x))) === 201) return v;
  }
  return 0;
}
