/**
 * Model deltas shaped like a shopper's local training on the default model (323,255 parameters): the rows
 * of the clicked items' hashed ids move along the shopper's user vector, some sampled negatives' rows move
 * against it, and the dense blocks move a little. Used by the secure-aggregation tests and benchmark to
 * measure wrap-around and to run the clicked-item reconstruction attack.
 */
import { DEFAULT_SPEC, paramCount, paramLayout } from '../../shared/model/spec.ts';

/** The default model's width (dim + 1) and item-id rows. */
export const WIDTH = DEFAULT_SPEC.dim + 1;
export const ITEM_ROWS = DEFAULT_SPEC.itemBuckets;
export const D_MODEL = paramCount(DEFAULT_SPEC);

/** A deterministic generator for synthetic data (not for secrets). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A shopper's delta and the item-id rows of what they clicked. */
export interface SyntheticUpdate {
  delta: Float32Array;
  clickedRows: number[];
}

/** One shopper's delta: `clicks` items (2 hashed rows each), 64 negatives, dense noise; seeded. */
export function syntheticUpdate(seed: number, clicks = 5, itemsOf?: number[]): SyntheticUpdate {
  const r = rng(seed);
  const delta = new Float32Array(D_MODEL);
  const user = Float32Array.from({ length: WIDTH }, () => r() * 2 - 1);
  const items = itemsOf ?? Array.from({ length: clicks }, () => Math.floor(r() * 1e9));
  const clickedRows: number[] = [];
  for (const item of items)
    for (let h = 0; h < 2; h++) {
      const row = (Math.imul(item, 2654435761 + h * 40503) >>> 0) % ITEM_ROWS;
      clickedRows.push(row);
      for (let j = 0; j < WIDTH; j++) delta[row * WIDTH + j]! += 0.2 * user[j]!;
    }
  for (let k = 0; k < 64; k++) {
    const row = Math.floor(r() * ITEM_ROWS);
    for (let j = 0; j < WIDTH; j++) delta[row * WIDTH + j]! -= 0.004 * user[j]!;
  }
  const dense = paramLayout(DEFAULT_SPEC).find((b) => b.name === 'posLogits')!.offset;
  for (let i = dense; i < D_MODEL; i++) delta[i] = (r() - 0.5) * 0.004;
  return { delta, clickedRows: [...new Set(clickedRows)] };
}

/** Item-id rows ranked by the L2 norm of their delta rows, largest first (the reconstruction attack). */
export function rankItemRows(v: ArrayLike<number>): number[] {
  const norms = new Float64Array(ITEM_ROWS);
  for (let row = 0; row < ITEM_ROWS; row++) {
    let s = 0;
    for (let j = 0; j < WIDTH; j++) s += v[row * WIDTH + j]! ** 2;
    norms[row] = s;
  }
  return Array.from(norms.keys()).sort((a, b) => norms[b]! - norms[a]!);
}

/** How many of `clicked` are among the top |clicked| rows of the ranking. */
export function attackHits(v: ArrayLike<number>, clicked: number[]): number {
  const top = new Set(rankItemRows(v).slice(0, clicked.length));
  return clicked.filter((r) => top.has(r)).length;
}
