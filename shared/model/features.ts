/**
 * Feature hashing of shop items and search queries into the model's fixed-size tables, so the model's
 * shape never depends on the catalog. Pure and deterministic: the browser and Node map alike.
 */
import { hash32 } from './spec.ts';
import type { ModelSpec } from './spec.ts';

/** An item as the shop describes it. */
export interface ItemFeatures {
  /** The shop's own item id (SKU). */
  id: string;
  category?: string;
  brand?: string;
  /** Price in the shop's currency; bucketed on a log scale. */
  price?: number;
  /** Free-form attributes (tags, sizes, ...). */
  attributes?: string[];
}

/** An item mapped to table rows: plain structured-clone-able data. */
export interface EncodedItem {
  /** Rows of the item-id table, one per hash function. */
  ids: number[];
  /** Rows of the attribute table (category, brand, price bucket, attributes), at most spec.maxAttrs. */
  attrs: number[];
}

/** Log-scale price bucket: `perOctave` buckets per doubling, so 10 and 11 share one, 10 and 40 do not. */
export function priceBucket(price: number, perOctave: number): number {
  if (!Number.isFinite(price) || price <= 0) return -1;
  return Math.floor(Math.log2(1 + price) * perOctave);
}

/** Hashes an item's id and attributes into table rows. */
export function encodeItem(spec: ModelSpec, item: ItemFeatures): EncodedItem {
  const ids: number[] = [];
  for (let h = 0; h < spec.itemHashes; h++) {
    ids.push(hash32(item.id, (spec.hashSeed + 0x9e3779b9 * (h + 1)) >>> 0) % spec.itemBuckets);
  }
  const keys: string[] = [];
  if (item.category !== undefined && item.category !== '') keys.push(`c:${item.category}`);
  if (item.brand !== undefined && item.brand !== '') keys.push(`b:${item.brand}`);
  if (item.price !== undefined) {
    const pb = priceBucket(item.price, spec.priceBucketsPerOctave);
    if (pb >= 0) keys.push(`p:${pb}`);
  }
  for (const a of item.attributes ?? []) if (a !== '') keys.push(`a:${a}`);
  const attrs: number[] = [];
  const seen = new Set<number>();
  for (const k of keys) {
    if (attrs.length >= spec.maxAttrs) break;
    const row = hash32(k, spec.hashSeed ^ 0x41747472) % spec.attrBuckets;
    if (!seen.has(row)) {
      seen.add(row);
      attrs.push(row);
    }
  }
  return { ids, attrs };
}

/** Lower-cased letter/digit tokens of a query, hashed into query-table rows (at most maxQueryTokens). */
export function encodeQuery(spec: ModelSpec, text: string): number[] {
  const tokens = text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];
  const out: number[] = [];
  for (const t of tokens) {
    if (out.length >= spec.maxQueryTokens) break;
    out.push(hash32(t, spec.hashSeed ^ 0x51756572) % spec.queryBuckets);
  }
  return out;
}

/** True when `x` is a well-formed EncodedItem for `spec` (boundary check for worker and storage data). */
export function isEncodedItem(spec: ModelSpec, x: unknown): x is EncodedItem {
  if (typeof x !== 'object' || x === null) return false;
  const o = x as { ids?: unknown; attrs?: unknown };
  const rowsOk = (v: unknown, n: number, max: number): boolean =>
    Array.isArray(v) && v.length <= max && v.every((r) => Number.isInteger(r) && r >= 0 && r < n);
  return (
    Array.isArray(o.ids) &&
    o.ids.length === spec.itemHashes &&
    rowsOk(o.ids, spec.itemBuckets, spec.itemHashes) &&
    rowsOk(o.attrs, spec.attrBuckets, spec.maxAttrs)
  );
}
