import { describe, expect, it } from 'vitest';
import { encodeItem, encodeQuery, isEncodedItem, priceBucket } from './features.ts';
import { DEFAULT_SPEC } from './spec.ts';

const spec = DEFAULT_SPEC;

describe('feature hashing', () => {
  it('maps an item deterministically into the tables', () => {
    const item = { id: 'SKU-1', category: 'lipstick', brand: 'acme', price: 12.5, attributes: ['red'] };
    const a = encodeItem(spec, item);
    expect(encodeItem(spec, { ...item })).toEqual(a);
    expect(a.ids).toHaveLength(spec.itemHashes);
    expect(a.attrs).toHaveLength(4);
    expect(isEncodedItem(spec, a)).toBe(true);
    expect(structuredClone(a)).toEqual(a);
  });

  it('shares attribute rows between items of one category and separates ids', () => {
    const a = encodeItem(spec, { id: 'a', category: 'soap' });
    const b = encodeItem(spec, { id: 'b', category: 'soap' });
    expect(a.attrs).toEqual(b.attrs);
    expect(a.ids).not.toEqual(b.ids);
    // Category and brand with the same text are different features.
    expect(encodeItem(spec, { id: 'a', brand: 'soap' }).attrs).not.toEqual(a.attrs);
  });

  it('rarely collides on both item hashes', () => {
    const seen = new Set<string>();
    let single = 0;
    const rows = new Set<number>();
    for (let i = 0; i < 12000; i++) {
      const e = encodeItem(spec, { id: String(i) });
      seen.add(e.ids.join(','));
      if (rows.has(e.ids[0]!)) single++;
      rows.add(e.ids[0]!);
    }
    expect(single).toBeGreaterThan(1000); // one table of 8192 rows collides a lot...
    expect(12000 - seen.size).toBeLessThan(10); // ...two summed hashes almost never both collide.
  });

  it('buckets prices on a log scale', () => {
    expect(priceBucket(12, 2)).toBe(priceBucket(13, 2));
    expect(priceBucket(10, 2)).toBeLessThan(priceBucket(40, 2));
    expect(priceBucket(1000, 2) - priceBucket(500, 2)).toBe(2);
    expect(priceBucket(-1, 2)).toBe(-1);
    expect(priceBucket(Number.NaN, 2)).toBe(-1);
  });

  it('tokenizes queries case-insensitively and caps their length', () => {
    expect(encodeQuery(spec, 'Red Lipstick!')).toEqual(encodeQuery(spec, 'red   lipstick'));
    expect(encodeQuery(spec, 'Crème')).toHaveLength(1);
    expect(encodeQuery(spec, '')).toEqual([]);
    expect(encodeQuery(spec, 'a b c d e f g h i j k l').length).toBe(spec.maxQueryTokens);
    for (const r of encodeQuery(spec, 'x y z')) expect(r).toBeLessThan(spec.queryBuckets);
  });

  it('rejects malformed encoded items', () => {
    expect(isEncodedItem(spec, null)).toBe(false);
    expect(isEncodedItem(spec, { ids: [1], attrs: [] })).toBe(false);
    expect(isEncodedItem(spec, { ids: [1, spec.itemBuckets], attrs: [] })).toBe(false);
    expect(isEncodedItem(spec, { ids: [1, 2], attrs: [-1] })).toBe(false);
    expect(isEncodedItem(spec, { ids: [1, 2], attrs: new Array(spec.maxAttrs + 1).fill(0) })).toBe(false);
  });
});
