/**
 * Personal state: what the device knows about its own shopper (recent positives, decayed category/brand
 * affinities). Plain data kept on the device only; it shapes scores at once and never enters an update.
 */
import { attrWeight } from './catalog-weights.ts';
import type { EncodedItem } from './features.ts';
import type { ModelSpec } from './spec.ts';

/** One thing the shopper did with an item. */
export interface Interaction {
  item: EncodedItem;
  kind: 'impression' | 'click' | 'cart' | 'purchase';
  /** Milliseconds since the epoch. */
  time: number;
  /** Hashed query tokens when the item was shown for a search. */
  query?: number[];
}

/** On-device personal state (structured-clone and JSON friendly). */
export interface PersonalState {
  /** Positive interactions, oldest first, at most spec.maxHistory. */
  history: EncodedItem[];
  /** Decayed interest per attribute-table row (category, brand, price bucket, attributes), clicks weighted by spec.attrWeights. */
  affinity: Record<string, number>;
  /** Positive interactions seen so far. */
  positives: number;
  /** Time (ms) of the latest interaction, 0 if none. */
  updatedAt: number;
}

/** Attribute rows remembered at most; the weakest are forgotten first. */
export const MAX_AFFINITY_ROWS = 256;

/** Strength of each kind of positive interaction. */
const KIND_WEIGHT: Record<Interaction['kind'], number> = {
  impression: 0,
  click: 1,
  cart: 2,
  purchase: 3,
};

/** A fresh personal state. */
export function emptyPersonal(_spec: ModelSpec): PersonalState {
  return { history: [], affinity: {}, positives: 0, updatedAt: 0 };
}

/** The state after one interaction (a new object); positives update history and affinities at once. */
export function updatePersonal(
  spec: ModelSpec,
  state: PersonalState,
  interaction: Interaction,
): PersonalState {
  const w = KIND_WEIGHT[interaction.kind];
  const updatedAt = Math.max(state.updatedAt, interaction.time);
  if (w === 0) return { ...state, updatedAt };
  const history = [...state.history];
  const last = history[history.length - 1];
  // A click then a purchase of the same item is one step of the sequence, not two.
  if (!last || !sameItem(last, interaction.item)) history.push(interaction.item);
  while (history.length > spec.maxHistory) history.shift();
  const affinity: Record<string, number> = {};
  for (const [k, v] of Object.entries(state.affinity)) {
    const dv = v * spec.affinityDecay;
    if (dv > 1e-4) affinity[k] = dv;
  }
  // The catalog's weight: a click on a rare brand says more than one on a category half the shop shares.
  for (const row of interaction.item.attrs) affinity[row] = (affinity[row] ?? 0) + w * attrWeight(spec, row);
  const keys = Object.keys(affinity);
  if (keys.length > MAX_AFFINITY_ROWS) {
    keys.sort((a, b) => affinity[a]! - affinity[b]!);
    for (const k of keys.slice(0, keys.length - MAX_AFFINITY_ROWS)) delete affinity[k];
  }
  return { history, affinity, positives: state.positives + 1, updatedAt };
}

/** True when two encoded items hash to the same id rows. */
export function sameItem(a: EncodedItem, b: EncodedItem): boolean {
  return a.ids.length === b.ids.length && a.ids.every((r, i) => r === b.ids[i]);
}

/** Affinity bonus of an item (before spec.personalWeight): its attributes' share of the shopper's interest. */
export function affinityScore(state: PersonalState, item: EncodedItem, total = affinityTotal(state)): number {
  if (total <= 0) return 0;
  let s = 0;
  for (const row of item.attrs) s += state.affinity[row] ?? 0;
  return s / total;
}

/** Positions of a list of items by attribute row (a repeated row is listed twice, as affinityScore counts it). */
export type AttrIndex = Map<number, number[]>;

/** Indexes `items` by attribute row for affinityScoresInto. */
export function indexByAttr(items: readonly EncodedItem[]): AttrIndex {
  const index: AttrIndex = new Map();
  items.forEach((it, i) => {
    for (const row of it.attrs) (index.get(row) ?? index.set(row, []).get(row)!).push(i);
  });
  return index;
}

/**
 * affinityScore of every indexed item at once, into `out` (one slot per item): work proportional to the
 * shopper's affinity rows and the items sharing them, not to the number of items.
 */
export function affinityScoresInto(
  state: PersonalState,
  index: AttrIndex,
  out: Float64Array,
  total = affinityTotal(state),
): void {
  out.fill(0);
  if (total <= 0) return;
  for (const [row, v] of Object.entries(state.affinity)) {
    for (const i of index.get(Number(row)) ?? []) out[i]! += v;
  }
  for (let i = 0; i < out.length; i++) out[i] = out[i]! / total;
}

/** Sum of the affinities (pass it to affinityScore when scoring many items). */
export function affinityTotal(state: PersonalState): number {
  let total = 0;
  for (const v of Object.values(state.affinity)) total += v;
  return total;
}
