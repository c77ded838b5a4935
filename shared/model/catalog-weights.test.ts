import { describe, expect, it } from 'vitest';
import { catalogAttrWeights, CATALOG_IDF_POWER, withCatalogWeights } from './catalog-weights.ts';
import { encodeItem, type ItemFeatures } from './features.ts';
import { affinityScore, emptyPersonal, updatePersonal } from './personal.ts';
import { DEFAULT_SPEC, modelIdOf, parseSpec, type ModelSpec } from './spec.ts';

const spec: ModelSpec = { ...DEFAULT_SPEC };
// 40 items: one category for all but 4, brand "common" on 30 of them, brand "rare" on 2.
const catalog: ItemFeatures[] = Array.from({ length: 40 }, (_, i) => ({
  id: `sku${i}`,
  category: i < 36 ? 'skin' : 'hair',
  brand: i < 30 ? 'common' : i < 32 ? 'rare' : `solo${i}`,
}));
const encoded = catalog.map((it) => encodeItem(spec, it));
const row = (key: ItemFeatures): number => encodeItem(spec, key).attrs[0]!;

describe('catalogAttrWeights', () => {
  const w = catalogAttrWeights(spec, encoded);

  it('weighs a row by (items / items carrying it)^power, scaled to mean 1 over the catalog', () => {
    expect(w).toHaveLength(spec.attrBuckets);
    const skin = row({ id: 'x', category: 'skin' });
    const rare = row({ id: 'x', brand: 'rare' });
    const common = row({ id: 'x', brand: 'common' });
    // The ratio of two rows' weights is the power of their inverse document-frequency ratio (4 digits kept).
    expect(w[rare]! / w[common]!).toBeCloseTo(Math.pow(30 / 2, CATALOG_IDF_POWER), 2);
    expect(w[rare]! / w[skin]!).toBeCloseTo(Math.pow(36 / 2, CATALOG_IDF_POWER), 2);
    let sum = 0;
    let n = 0;
    for (const e of encoded) for (const r of e.attrs) ((sum += w[r]!), n++);
    expect(sum / n).toBeCloseTo(1, 2);
  });

  it('gives a row no catalog item carries the weight 1, and no table for a catalog without attributes', () => {
    const used = new Set(encoded.flatMap((e) => e.attrs));
    const unused = [...Array(spec.attrBuckets).keys()].find((r) => !used.has(r))!;
    expect(w[unused]).toBe(1);
    expect(catalogAttrWeights(spec, [{ ids: [1, 2], attrs: [] }])).toEqual([]);
    expect(withCatalogWeights(spec, [{ id: 'a' }]).attrWeights).toBeUndefined();
  });

  it('makes a click on a rare brand count for more than a click on a catalog-wide category', () => {
    const weighted = withCatalogWeights(spec, catalog);
    const shopper = (s: ModelSpec) =>
      updatePersonal(s, emptyPersonal(s), { item: encoded[30]!, kind: 'click', time: 1 });
    // Item 31 shares the clicked item's rare brand, item 0 only its category.
    const sameBrand = encoded[31]!;
    const sameCategoryOnly = encoded[0]!;
    const plain = shopper(spec);
    const idf = shopper(weighted);
    const plainGap = affinityScore(plain, sameBrand) - affinityScore(plain, sameCategoryOnly);
    const idfGap = affinityScore(idf, sameBrand) - affinityScore(idf, sameCategoryOnly);
    expect(idfGap).toBeGreaterThan(plainGap * 1.5);
  });
});

describe('a spec with attrWeights', () => {
  const weighted = withCatalogWeights(spec, catalog);

  it('round-trips through the shared validator and changes the model id, while no table keeps the old id', () => {
    const parsed = parseSpec(JSON.parse(JSON.stringify(weighted)));
    expect(parsed.attrWeights).toEqual(weighted.attrWeights);
    expect(modelIdOf(parsed)).toBe(modelIdOf(weighted));
    expect(modelIdOf(parsed)).not.toBe(modelIdOf(spec));
    expect(modelIdOf(parseSpec({ ...spec, attrWeights: [] }))).toBe(modelIdOf(spec));
  });

  it('is refused with a clear error when malformed', () => {
    const bad = (attrWeights: unknown) => () => parseSpec({ ...spec, attrWeights });
    expect(bad([1, 2, 3])).toThrow(/one weight per attribute row \(1024\)/);
    expect(bad(new Array(1024).fill(-1))).toThrow(/numbers in \[0, 1000\]/);
    expect(bad(new Array(1024).fill('1'))).toThrow(/numbers in \[0, 1000\]/);
    expect(bad({ 0: 1 })).toThrow(/attrWeights/);
  });
});
