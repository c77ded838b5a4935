import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEMO_CATALOG_PATH, loadCatalog } from '../demo/shop-server.ts';
import { catalogAttrWeights } from '../shared/model/catalog-weights.ts';
import { encodeItem } from '../shared/model/features.ts';
import { DEFAULT_SPEC, modelIdOf } from '../shared/model/spec.ts';
import { parseCatalogItems, readCatalogFile } from './catalog-file.ts';
import { makeConfig } from './config.ts';
import { modelFromConfig } from './model-source.ts';

const dir = mkdtempSync(join(tmpdir(), 'fedrank-catalog-'));
const write = (name: string, body: string): string => {
  const path = join(dir, name);
  writeFileSync(path, body);
  return path;
};

describe('the catalog file', () => {
  it('reads a list of items or an object with products, keeping only the features', () => {
    const items = [
      { id: 'a', category: 'skin', brand: 'x', price: 9.5, name: 'ignored' },
      { id: 'b', attributes: ['vegan'] },
    ];
    expect(parseCatalogItems(items)).toEqual([
      { id: 'a', category: 'skin', brand: 'x', price: 9.5 },
      { id: 'b', attributes: ['vegan'] },
    ]);
    expect(parseCatalogItems({ products: items })).toHaveLength(2);
    expect(loadCatalog().products.length).toBe(readCatalogFile(DEMO_CATALOG_PATH).length);
  });

  it('refuses a malformed catalog with CONFIG_INVALID naming the file and the item', () => {
    const bad = write('bad.json', JSON.stringify([{ id: 'a' }, { id: 'b', price: 'cheap' }]));
    expect(() => readCatalogFile(bad)).toThrow(/model\.catalog .*bad\.json\[1\]: "price" must be a number/);
    expect(() => readCatalogFile(write('junk.json', '{"products": 3}'))).toThrow(/must be a list of items/);
    expect(() => readCatalogFile(write('nojson.json', '[{'))).toThrow(/not valid JSON/);
    expect(() => readCatalogFile(join(dir, 'missing.json'))).toThrow(/cannot read \(ENOENT\)/);
    try {
      readCatalogFile(join(dir, 'missing.json'));
    } catch (err) {
      expect((err as { code: string }).code).toBe('CONFIG_INVALID');
    }
  });
});

describe('model.catalog', () => {
  const products = loadCatalog().products;

  it('publishes the catalog weights in the served spec (and so in the model id)', () => {
    const model = modelFromConfig(makeConfig({ model: { catalog: DEMO_CATALOG_PATH } }));
    const expected = catalogAttrWeights(
      DEFAULT_SPEC,
      products.map((p) => encodeItem(DEFAULT_SPEC, p)),
    );
    expect(model.spec.attrWeights).toEqual(expected);
    expect(new Set(expected).size).toBeGreaterThan(2);
    expect(model.modelId).toBe(modelIdOf(model.spec));
    expect(model.modelId).not.toBe(modelIdOf(DEFAULT_SPEC));
  });

  it('leaves a table given in model.spec alone, and fails start on a missing catalog', () => {
    const own = new Array(DEFAULT_SPEC.attrBuckets).fill(2);
    const model = modelFromConfig(
      makeConfig({ model: { catalog: DEMO_CATALOG_PATH, spec: { attrWeights: own } } }),
    );
    expect(model.spec.attrWeights).toEqual(own);
    expect(() => modelFromConfig(makeConfig({ model: { catalog: join(dir, 'nope.json') } }))).toThrow(
      /model\.catalog .*nope\.json: cannot read/,
    );
    expect(() => makeConfig({ model: { catalog: 7 } })).toThrow(/model\.catalog/);
  });
});
