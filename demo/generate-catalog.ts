/**
 * Generates the demo storefront's catalog deterministically (seeded PRNG) and writes demo/catalog.json.
 * Run: `npx tsx demo/generate-catalog.ts [--seed N] [--count N]`. The output is checked in.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Catalog, Product } from './catalog-types.ts';
import { mulberry32 } from '../shared/model/spec.ts';

interface CategoryDef {
  name: string;
  hue: number;
  brands: string[];
  nouns: string[];
  adjectives: string[];
  price: [number, number];
}

const CATEGORIES: CategoryDef[] = [
  {
    name: 'Coffee & Tea',
    hue: 28,
    brands: ['Roastwell', 'Kettle & Co', 'Bean Theory', 'Leafline'],
    nouns: [
      'Espresso Beans',
      'Pour-Over Kit',
      'Green Tea',
      'Chai Blend',
      'French Press',
      'Milk Frother',
      'Cold Brew Jar',
    ],
    adjectives: ['Single-Origin', 'Smoky', 'Organic', 'Dark Roast', 'Floral', 'Classic'],
    price: [6, 90],
  },
  {
    name: 'Kitchen',
    hue: 8,
    brands: ['Cuisina', 'Ironleaf', 'Panforte', 'Oakstone'],
    nouns: [
      'Skillet',
      'Chef Knife',
      'Cutting Board',
      'Spice Rack',
      'Dutch Oven',
      'Mixing Bowls',
      'Salad Spinner',
    ],
    adjectives: ['Cast-Iron', 'Stainless', 'Walnut', 'Nonstick', 'Heavy-Duty', 'Compact'],
    price: [9, 180],
  },
  {
    name: 'Outdoor',
    hue: 130,
    brands: ['Trailborn', 'Northpeak', 'Fernwood', 'Summit Supply'],
    nouns: ['Tent', 'Hiking Boots', 'Daypack', 'Headlamp', 'Sleeping Bag', 'Water Filter', 'Trekking Poles'],
    adjectives: ['Ultralight', 'Waterproof', 'Two-Person', 'Alpine', 'Packable', 'Rugged'],
    price: [15, 320],
  },
  {
    name: 'Audio',
    hue: 265,
    brands: ['Sonara', 'Bassline', 'Quietwave', 'Echo Lab'],
    nouns: ['Headphones', 'Bluetooth Speaker', 'Earbuds', 'Turntable', 'Soundbar', 'USB Microphone'],
    adjectives: ['Wireless', 'Noise-Cancelling', 'Studio', 'Portable', 'Hi-Fi', 'Retro'],
    price: [19, 400],
  },
  {
    name: 'Books',
    hue: 210,
    brands: ['Paperlane', 'Inkwell Press', 'Northlight Books', 'Marginalia'],
    nouns: ['Novel', 'Cookbook', 'Field Guide', 'Poetry Collection', 'Travel Journal', 'Graphic Novel'],
    adjectives: ['Illustrated', 'Hardcover', 'Pocket', 'Collected', 'Annotated', 'First-Edition'],
    price: [8, 60],
  },
  {
    name: 'Toys & Games',
    hue: 330,
    brands: ['Playwright Toys', 'Tinker Tot', 'Meeple House', 'Kitefly'],
    nouns: ['Board Game', 'Puzzle', 'Plush Bear', 'Building Blocks', 'Kite', 'Card Game'],
    adjectives: ['1000-Piece', 'Family', 'Wooden', 'Cooperative', 'Giant', 'Classic'],
    price: [7, 95],
  },
  {
    name: 'Garden',
    hue: 95,
    brands: ['Greenthumb', 'Bloomfield', 'Terra Verde', 'Rootwise'],
    nouns: ['Planter', 'Seed Kit', 'Pruning Shears', 'Watering Can', 'Herb Garden', 'Raised Bed'],
    adjectives: ['Ceramic', 'Self-Watering', 'Heirloom', 'Galvanized', 'Indoor', 'Cedar'],
    price: [5, 150],
  },
  {
    name: 'Fitness',
    hue: 190,
    brands: ['Pulse Athletics', 'Corewell', 'Stride', 'Flexform'],
    nouns: ['Yoga Mat', 'Kettlebell', 'Resistance Bands', 'Foam Roller', 'Jump Rope', 'Running Shoes'],
    adjectives: ['Non-Slip', 'Adjustable', 'Pro', 'Eco', 'Weighted', 'Lightweight'],
    price: [9, 220],
  },
  {
    name: 'Home Decor',
    hue: 45,
    brands: ['Hearth & Home', 'Lumen', 'Nordhaus', 'Casa Clay'],
    nouns: ['Scented Candle', 'Throw Blanket', 'Wall Print', 'Table Lamp', 'Vase', 'Cushion Cover'],
    adjectives: ['Linen', 'Handmade', 'Minimalist', 'Boho', 'Velvet', 'Stoneware'],
    price: [12, 240],
  },
  {
    name: 'Stationery',
    hue: 160,
    brands: ['Quill & Grid', 'Papyra', 'Dotwork', 'Letterfold'],
    nouns: ['Notebook', 'Fountain Pen', 'Planner', 'Sketchbook', 'Washi Tape Set', 'Desk Organizer'],
    adjectives: ['Dotted', 'Refillable', 'A5', 'Recycled', 'Leather', 'Pastel'],
    price: [4, 120],
  },
];

function pick<T>(rand: () => number, xs: readonly T[]): T {
  return xs[Math.floor(rand() * xs.length)]!;
}

/** Builds `count` products spread evenly over the categories; same seed, same catalog. */
export function generateCatalog(seed: number, count: number): Catalog {
  const rand = mulberry32(seed);
  const products: Product[] = [];
  const names = new Set<string>();
  for (let i = 0; products.length < count && i < count * 20; i++) {
    const cat = CATEGORIES[products.length % CATEGORIES.length]!;
    const brand = pick(rand, cat.brands);
    const name = `${brand} ${pick(rand, cat.adjectives)} ${pick(rand, cat.nouns)}`;
    if (names.has(name)) continue;
    names.add(name);
    const [lo, hi] = cat.price;
    // Log-uniform prices look like a real shelf (many cheap, few expensive), ending in .99/.49/.00.
    const raw = Math.exp(Math.log(lo) + rand() * (Math.log(hi) - Math.log(lo)));
    const cents = pick(rand, [0.99, 0.49, 0.0, 0.95]);
    const price = Math.max(1, Math.floor(raw)) + cents;
    products.push({
      id: `SKU-${String(1001 + products.length)}`,
      name,
      category: cat.name,
      brand,
      price: Math.round(price * 100) / 100,
      hue: (cat.hue + Math.floor(rand() * 30) - 15 + 360) % 360,
      rating: Math.round((3.4 + rand() * 1.6) * 10) / 10,
    });
  }
  // Shuffle (Fisher-Yates) so the default grid mixes categories like a "featured" page, not sorted blocks.
  for (let i = products.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [products[i], products[j]] = [products[j]!, products[i]!];
  }
  return { seed, products };
}

/** Category names in catalog order (used by the simulated shoppers for their preferences). */
export const CATEGORY_NAMES: readonly string[] = CATEGORIES.map((c) => c.name);

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const arg = (k: string, d: number) => {
    const i = process.argv.indexOf(`--${k}`);
    return i > 0 ? Number(process.argv[i + 1]) : d;
  };
  const catalog = generateCatalog(arg('seed', 20260), arg('count', 300));
  const out = fileURLToPath(new URL('./catalog.json', import.meta.url));
  // One product per line: small, diff-friendly, still valid JSON.
  const body = catalog.products.map((p) => '    ' + JSON.stringify(p)).join(',\n');
  writeFileSync(out, `{\n  "seed": ${catalog.seed},\n  "products": [\n${body}\n  ]\n}\n`);
  process.stdout.write(`wrote ${catalog.products.length} products to ${out}\n`);
}
