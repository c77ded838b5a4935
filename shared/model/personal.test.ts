import { describe, expect, it } from 'vitest';
import { encodeItem } from './features.ts';
import { affinityScore, affinityScoresInto, emptyPersonal, indexByAttr, updatePersonal } from './personal.ts';
import { DEFAULT_SPEC } from './spec.ts';
import type { ModelSpec } from './spec.ts';

const spec: ModelSpec = { ...DEFAULT_SPEC, attrBuckets: 16 }; // few rows: items share and repeat rows
const items = Array.from({ length: 40 }, (_, i) =>
  encodeItem(spec, { id: `i${i}`, category: `c${i % 3}`, brand: `b${i % 5}`, price: 1 + i }),
);

describe('affinityScoresInto', () => {
  it('equals affinityScore item by item, for an empty and a busy shopper', () => {
    let state = emptyPersonal(spec);
    const index = indexByAttr(items);
    const out = new Float64Array(items.length);
    affinityScoresInto(state, index, out);
    expect(Array.from(out)).toEqual(items.map(() => 0));
    for (let t = 0; t < 12; t++) {
      state = updatePersonal(spec, state, { item: items[(t * 7) % 40]!, kind: 'click', time: t });
    }
    affinityScoresInto(state, index, out);
    items.forEach((it, i) => expect(out[i]).toBeCloseTo(affinityScore(state, it), 12));
    expect(out.some((x) => x > 0)).toBe(true);
  });
});
