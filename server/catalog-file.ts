/**
 * The shop's catalog file (`model.catalog`): the items a storefront lists, read once at start so the server
 * can publish the catalog's attribute weights (shared/model/catalog-weights.ts) in the model spec. The
 * catalog is the shop's public product data; nothing in it comes from shoppers.
 */
import { FedrankError } from '../shared/errors.ts';
import type { ItemFeatures } from '../shared/model/features.ts';
import { readConfigFile } from './config.ts';

/** Largest catalog read (items), so a wrong path to a huge file fails fast instead of filling memory. */
export const MAX_CATALOG_ITEMS = 5_000_000;

function bad(where: string, why: string): never {
  throw new FedrankError('CONFIG_INVALID', `model.catalog ${where}: ${why}`);
}

/**
 * Validates a parsed catalog: a list of items, or an object whose `products` (or `items`) is one. Each item
 * needs a string `id`; `category`, `brand` (strings), `price` (a finite number) and `attributes` (strings)
 * are optional, anything else (names, images) is ignored.
 */
export function parseCatalogItems(x: unknown, where = ''): ItemFeatures[] {
  const list = Array.isArray(x)
    ? x
    : typeof x === 'object' && x !== null
      ? ((x as Record<string, unknown>).products ?? (x as Record<string, unknown>).items)
      : undefined;
  if (!Array.isArray(list)) bad(where, 'must be a list of items or an object with a "products" list');
  if (list.length > MAX_CATALOG_ITEMS) bad(where, `has more than ${MAX_CATALOG_ITEMS} items`);
  return list.map((raw, i) => {
    const at = `${where}[${i}]`;
    if (typeof raw !== 'object' || raw === null) bad(at, 'must be an object');
    const o = raw as Record<string, unknown>;
    if (typeof o.id !== 'string' || o.id === '') bad(at, 'needs a non-empty string "id"');
    const item: ItemFeatures = { id: o.id };
    for (const key of ['category', 'brand'] as const) {
      if (o[key] === undefined) continue;
      if (typeof o[key] !== 'string') bad(at, `"${key}" must be a string`);
      item[key] = o[key];
    }
    if (o.price !== undefined) {
      if (typeof o.price !== 'number' || !Number.isFinite(o.price)) bad(at, '"price" must be a number');
      item.price = o.price;
    }
    if (o.attributes !== undefined) {
      if (!Array.isArray(o.attributes) || o.attributes.some((a) => typeof a !== 'string'))
        bad(at, '"attributes" must be a list of strings');
      item.attributes = o.attributes as string[];
    }
    return item;
  });
}

/** Reads and validates the catalog file at `path`; a missing file or bad JSON is a one-line CONFIG_INVALID. */
export function readCatalogFile(path: string): ItemFeatures[] {
  return parseCatalogItems(readConfigFile(path, 'model.catalog '), path);
}
