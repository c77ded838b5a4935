/**
 * Ranking with on-device personalization alone: what the device does without a global model (the server
 * refused this origin, is down, or has not answered yet). The shop's order is kept until this shopper's
 * own interactions say otherwise, and ties keep it too.
 */
import type { EncodedItem } from '../model/features.ts';
import { affinityScore, affinityTotal } from '../model/personal.ts';
import type { PersonalState } from '../model/personal.ts';
import type { ModelSpec } from '../model/spec.ts';

/** Candidate indices by descending score; equal scores keep the shop's order. */
export function orderByScores(scores: ArrayLike<number>): number[] {
  const order = Array.from({ length: scores.length }, (_, i) => i);
  order.sort((a, b) => scores[b]! - scores[a]! || a - b);
  return order;
}

/**
 * The order from the personal bonus alone, or null when the shopper has no positive interaction yet
 * (nothing to personalize on: the caller keeps the shop's order).
 */
export function personalOrder(
  spec: ModelSpec,
  items: readonly EncodedItem[],
  personal: PersonalState,
): number[] | null {
  const total = affinityTotal(personal);
  if (personal.positives === 0 || total <= 0) return null;
  // The bonus's scale does not matter alone, but personalWeight 0 means the shop turned it off.
  if (spec.personalWeight <= 0) return null;
  return orderByScores(items.map((it) => affinityScore(personal, it, total)));
}

/**
 * A Ranker's scores (model plus personal bonus, as Ranker.score returns them) split into the global
 * model's part and the bonus, for the safeguard's `weight * model + bonus`.
 */
export function splitScores(
  spec: ModelSpec,
  withBonus: ArrayLike<number>,
  items: readonly EncodedItem[],
  personal: PersonalState,
): { model: Float64Array; bonus: Float64Array } {
  const total = affinityTotal(personal);
  const model = new Float64Array(items.length);
  const bonus = new Float64Array(items.length);
  for (let j = 0; j < items.length; j++) {
    bonus[j] = total > 0 ? spec.personalWeight * affinityScore(personal, items[j]!, total) : 0;
    model[j] = withBonus[j]! - bonus[j]!;
  }
  return { model, bonus };
}
