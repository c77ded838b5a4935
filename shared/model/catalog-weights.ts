/**
 * Catalog weights of the on-device affinity: how much a click on an item tells about each of its attribute
 * rows. A brand or category that few items of the shop carry says more about a shopper's taste than one that
 * half the catalog shares (inverse document frequency, as in TF-IDF). Computed from the shop's catalog
 * alone, which is public, so it costs no privacy; the server publishes the weights in the model spec and
 * every device applies them in `updatePersonal`. Pure: the server, the browser and `fedrank eval` share it.
 */
import { encodeItem } from './features.ts';
import type { EncodedItem, ItemFeatures } from './features.ts';
import { MAX_ATTR_WEIGHT } from './spec.ts';
import type { ModelSpec } from './spec.ts';

/**
 * Exponent of the inverse document frequency (Amazon Beauty validation, eval/PRIVATE-METHOD.md "Fifth
 * pass"): 0.5 beat 1 (rare attributes then drown the shopper's main category) and 0 (no weighting).
 */
export const CATALOG_IDF_POWER = 0.5;

/**
 * One weight per attribute-table row, (items / items carrying the row)^CATALOG_IDF_POWER, scaled so that the
 * catalog's mean over its items' rows is 1; a row no catalog item carries gets 1 (an attribute the catalog
 * did not list is weighed as an average one). Rounded to 4 significant digits so the manifest stays short
 * and the model id is stable across platforms. [] when the catalog has no attributes.
 */
export function catalogAttrWeights(spec: ModelSpec, catalog: readonly EncodedItem[]): number[] {
  const df = new Float64Array(spec.attrBuckets);
  let occurrences = 0;
  for (const item of catalog) {
    for (const row of item.attrs) {
      if (row >= 0 && row < spec.attrBuckets) {
        df[row]!++;
        occurrences++;
      }
    }
  }
  if (occurrences === 0) return [];
  const raw = new Float64Array(spec.attrBuckets);
  let sum = 0;
  for (let r = 0; r < spec.attrBuckets; r++) {
    if (df[r]! > 0) {
      raw[r] = Math.pow(catalog.length / df[r]!, CATALOG_IDF_POWER);
      sum += raw[r]! * df[r]!;
    }
  }
  const scale = occurrences / sum;
  const out: number[] = [];
  for (let r = 0; r < spec.attrBuckets; r++) {
    out.push(df[r]! > 0 ? Math.min(MAX_ATTR_WEIGHT, Number((raw[r]! * scale).toPrecision(4))) : 1);
  }
  return out;
}

/** The spec with `attrWeights` computed from a catalog of shop items (feature-hashed with this spec). */
export function withCatalogWeights(spec: ModelSpec, items: readonly ItemFeatures[]): ModelSpec {
  const weights = catalogAttrWeights(
    spec,
    items.map((it) => encodeItem(spec, it)),
  );
  const { attrWeights: _old, ...rest } = spec;
  return weights.length > 0 ? { ...rest, attrWeights: weights } : rest;
}

/** The weight of attribute row `row` under `spec` (1 without a table). */
export function attrWeight(spec: ModelSpec, row: number): number {
  return spec.attrWeights?.[row] ?? 1;
}
