/** One product of the demo storefront's catalog (demo/catalog.json). */
export interface Product {
  /** The shop's own SKU, used as `data-fedrank-item`. */
  id: string;
  name: string;
  category: string;
  brand: string;
  /** Price in euros, two decimals. */
  price: number;
  /** Hue (0-359) of the tile's background gradient. */
  hue: number;
  /** Average rating, 1 decimal, shown under the name. */
  rating: number;
}

/** The checked-in demo catalog. */
export interface Catalog {
  /** Seed the generator used: regenerating with it gives the same file. */
  seed: number;
  products: Product[];
}

/** Validates a parsed catalog file (it is read from disk at start, so it is checked like any input). */
export function parseCatalog(x: unknown): Catalog {
  if (typeof x !== 'object' || x === null) throw new Error('catalog: not an object');
  const { seed, products } = x as { seed?: unknown; products?: unknown };
  if (typeof seed !== 'number' || !Array.isArray(products)) throw new Error('catalog: missing seed/products');
  const ids = new Set<string>();
  for (const p of products as unknown[]) {
    const q = p as Partial<Product>;
    if (
      typeof q?.id !== 'string' ||
      typeof q.name !== 'string' ||
      typeof q.category !== 'string' ||
      typeof q.brand !== 'string' ||
      typeof q.price !== 'number' ||
      !Number.isFinite(q.price) ||
      typeof q.hue !== 'number' ||
      typeof q.rating !== 'number'
    ) {
      throw new Error(`catalog: malformed product ${JSON.stringify(p).slice(0, 80)}`);
    }
    if (ids.has(q.id)) throw new Error(`catalog: duplicate id ${q.id}`);
    ids.add(q.id);
  }
  return { seed, products: products as Product[] };
}
