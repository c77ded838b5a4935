/**
 * The ranking model's specification: architecture id plus hyper-parameters, the layout of the flat global
 * parameter vector, and its deterministic initialisation. Pure: no tfjs, usable by server and browser.
 *
 * Architecture `seqdot-v1` (two towers, one dot product), width D = dim + 1 (the last column is a bias):
 * - one embedding table `emb` holds the hashed item-id rows, then attribute rows, then query-token rows;
 * - item vector = sum of its `itemHashes` id rows + its attribute rows scaled by 1/sqrt(count), so its
 *   last coordinate is the item's popularity bias;
 * - user vector = Wlast·(last item) + Whist·(recency-softmax over the last `maxHistory` items) + mean
 *   query-token row + a learned constant; its last coordinate scales the popularity bias per shopper;
 * - score = dot(user, item) (+ the on-device affinity bonus). A full ranking is one matrix product.
 */
import { FedrankError } from '../errors.ts';

/** Model hyper-parameters; a different value means a different model id (and maybe parameter layout). */
export interface ModelSpec {
  /** Architecture id; a different id means a different parameter layout. */
  arch: 'seqdot-v1';
  /** Embedding width of users and items. */
  dim: number;
  /** Rows of the hashed item-id table. */
  itemBuckets: number;
  /** Hash functions per item id (their embeddings are summed, so collisions rarely coincide). */
  itemHashes: number;
  /** Rows of the hashed attribute table (category, brand, price bucket, free attributes share it). */
  attrBuckets: number;
  /** Attributes kept per item (the rest are dropped). */
  maxAttrs: number;
  /** Rows of the hashed query-token table. */
  queryBuckets: number;
  /** Query tokens kept per query. */
  maxQueryTokens: number;
  /** History items the user tower looks at (most recent first). */
  maxHistory: number;
  /** Price buckets per doubling of the price (log-scale bucketing). */
  priceBucketsPerOctave: number;
  /** Seed of the feature hashes (changing it re-maps every feature). */
  hashSeed: number;
  /** Weight of the on-device category/brand affinity term added to scores (not learned, never uploaded). */
  personalWeight: number;
  /** Per-click decay of the on-device affinities (1 = never forget). */
  affinityDecay: number;
  /** Standard deviation of the initial embeddings. */
  initStd: number;
  /**
   * Standard deviation of the initial item-id rows (attribute and query rows use initStd): below initStd, an
   * untrained item vector is mostly its catalog attributes, so items of one brand or category start close.
   */
  idInitStd: number;
  /**
   * Weight of each attribute-table row in the on-device affinity (catalog-weights.ts: the shop catalog's
   * inverse document frequency); absent means every row weighs 1. Public: derived from the catalog only.
   */
  attrWeights?: number[];
}

/**
 * The best design measured on Amazon Beauty validation targets (bench/model-exp.ts, centralized Adam, 6,000
 * validation shoppers): NDCG@10 0.051 after 3 epochs at dim 32; dim 48 was ~3% better per epoch but costs
 * 50% more per client and spreads a clipped update over more coordinates, so 32 stays the default.
 * personalWeight 2: as good as 1 centralized (0.0507 vs 0.0508), and a weakly trained federated model gains
 * from a stronger on-device bonus (10 FedAdam rounds: 0.0149 at weight 1, 0.0174 at weight 4).
 */
export const DEFAULT_SPEC: ModelSpec = {
  arch: 'seqdot-v1',
  dim: 32,
  itemBuckets: 8192,
  itemHashes: 2,
  attrBuckets: 1024,
  maxAttrs: 8,
  queryBuckets: 512,
  maxQueryTokens: 8,
  maxHistory: 20,
  priceBucketsPerOctave: 2,
  hashSeed: 1,
  personalWeight: 2,
  affinityDecay: 0.9,
  initStd: 0.05,
  idInitStd: 0.05,
};

/** One named block of the flat parameter vector. */
export interface ParamBlock {
  name: 'emb' | 'posLogits' | 'wLast' | 'wHist' | 'userBias';
  shape: number[];
  offset: number;
  size: number;
}

/** The layout of the flat global parameter vector, in order. */
export function paramLayout(spec: ModelSpec): ParamBlock[] {
  const D = spec.dim + 1;
  const shapes: [ParamBlock['name'], number[]][] = [
    ['emb', [tableRows(spec), D]],
    ['posLogits', [spec.maxHistory]],
    ['wLast', [D, D]],
    ['wHist', [D, D]],
    ['userBias', [D]],
  ];
  const out: ParamBlock[] = [];
  let offset = 0;
  for (const [name, shape] of shapes) {
    const size = shape.reduce((a, b) => a * b, 1);
    out.push({ name, shape, offset, size });
    offset += size;
  }
  return out;
}

/** Rows of the one embedding table: item ids, then attributes, then query tokens. */
export function tableRows(spec: ModelSpec): number {
  return spec.itemBuckets + spec.attrBuckets + spec.queryBuckets;
}

/** Number of global (federated) parameters. */
export function paramCount(spec: ModelSpec): number {
  return paramLayout(spec).reduce((n, b) => n + b.size, 0);
}

/** Integer fields with their allowed range (inclusive). */
const INT_FIELDS: Record<string, [number, number]> = {
  dim: [1, 512],
  itemBuckets: [1, 1 << 20],
  itemHashes: [1, 4],
  attrBuckets: [1, 1 << 18],
  maxAttrs: [0, 64],
  queryBuckets: [1, 1 << 18],
  maxQueryTokens: [0, 64],
  maxHistory: [1, 256],
  priceBucketsPerOctave: [1, 16],
  hashSeed: [0, 0xffffffff],
};
/** Real-valued fields with their allowed range (inclusive). */
const REAL_FIELDS: Record<string, [number, number]> = {
  personalWeight: [0, 100],
  affinityDecay: [0, 1],
  initStd: [0, 10],
  idInitStd: [0, 10],
};
/** Upper bound on parameters a spec may describe, so a hostile manifest cannot exhaust memory. */
export const MAX_PARAMS = 16_000_000;

/** Validates an untrusted spec (e.g. from a manifest); throws FedrankError('BAD_REQUEST') when malformed. */
export function parseSpec(x: unknown): ModelSpec {
  if (typeof x !== 'object' || x === null || Array.isArray(x)) {
    throw new FedrankError('BAD_REQUEST', 'model spec must be an object');
  }
  const o = x as Record<string, unknown>;
  if (o.arch !== 'seqdot-v1') throw new FedrankError('BAD_REQUEST', `unknown model arch ${String(o.arch)}`);
  for (const key of Object.keys(o)) {
    if (key !== 'arch' && key !== 'attrWeights' && !(key in INT_FIELDS) && !(key in REAL_FIELDS)) {
      throw new FedrankError('BAD_REQUEST', `unknown model spec field ${key}`);
    }
  }
  const spec: Record<string, unknown> = { arch: 'seqdot-v1' };
  for (const [key, [lo, hi]] of Object.entries(INT_FIELDS)) {
    const v = o[key];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi) {
      throw new FedrankError('BAD_REQUEST', `model spec field ${key} must be an integer in [${lo}, ${hi}]`);
    }
    spec[key] = v;
  }
  for (const [key, [lo, hi]] of Object.entries(REAL_FIELDS)) {
    // A spec written before idInitStd existed (stored configs, older servers' manifests) meant initStd.
    const v = key === 'idInitStd' && o[key] === undefined ? o.initStd : o[key];
    if (typeof v !== 'number' || !Number.isFinite(v) || v < lo || v > hi) {
      throw new FedrankError('BAD_REQUEST', `model spec field ${key} must be a number in [${lo}, ${hi}]`);
    }
    spec[key] = v;
  }
  const weights = parseAttrWeights(o.attrWeights, spec.attrBuckets as number);
  if (weights) spec.attrWeights = weights;
  const parsed = spec as unknown as ModelSpec;
  if (paramCount(parsed) > MAX_PARAMS) {
    throw new FedrankError('BAD_REQUEST', `model spec has more than ${MAX_PARAMS} parameters`);
  }
  return parsed;
}

/** Largest attribute weight a spec may carry. */
export const MAX_ATTR_WEIGHT = 1000;

/** An absent or empty table is no table; otherwise one finite weight in [0, 1000] per attribute row. */
function parseAttrWeights(x: unknown, rows: number): number[] | null {
  if (x === undefined || (Array.isArray(x) && x.length === 0)) return null;
  if (!Array.isArray(x) || x.length !== rows) {
    throw new FedrankError(
      'BAD_REQUEST',
      `model spec field attrWeights must list one weight per attribute row (${rows})`,
    );
  }
  for (const v of x) {
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || v > MAX_ATTR_WEIGHT) {
      throw new FedrankError(
        'BAD_REQUEST',
        `model spec field attrWeights must hold numbers in [0, ${MAX_ATTR_WEIGHT}]`,
      );
    }
  }
  return [...(x as number[])];
}

/** FNV-1a over a string's UTF-16 code units with a seed, finished by murmur3's fmix32 for avalanche. */
export function hash32(s: string, seed: number): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Stable model id: arch plus a hash of the canonical (key-sorted) hyper-parameters. */
export function modelIdOf(spec: ModelSpec): string {
  // idInitStd equal to initStd is how every spec before it initialised: leaving it out keeps those ids, so an
  // upgraded server resumes its stored model instead of starting a new one.
  const keys = Object.keys(spec)
    .filter((k) => k !== 'idInitStd' || spec.idInitStd !== spec.initStd)
    .sort();
  const canon = keys.map((k) => `${k}=${String((spec as unknown as Record<string, unknown>)[k])}`).join(';');
  return `${spec.arch}-${hash32(canon, 0x5eed).toString(16).padStart(8, '0')}`;
}

/** mulberry32: a tiny deterministic PRNG (initialisation only; privacy noise uses crypto). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Deterministic initial global parameters: Gaussian embeddings, zero biases, near-identity towers. */
export function initGlobalParams(spec: ModelSpec, seed = 1): Float32Array {
  const rand = mulberry32(seed);
  const gauss = (): number => {
    const u = 1 - rand();
    const v = rand();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  };
  const out = new Float32Array(paramCount(spec));
  const d = spec.dim;
  const D = d + 1;
  for (const b of paramLayout(spec)) {
    const view = out.subarray(b.offset, b.offset + b.size);
    switch (b.name) {
      case 'emb':
        // Gaussian rows (item-id rows at idInitStd); the bias column starts at 0.
        for (let r = 0; r < b.shape[0]!; r++) {
          const std = r < spec.itemBuckets ? spec.idInitStd : spec.initStd;
          for (let c = 0; c < d; c++) view[r * D + c] = gauss() * std;
        }
        break;
      case 'posLogits':
        // Start with a recency prior: weight halves every ~3 positions.
        for (let i = 0; i < view.length; i++) view[i] = -0.25 * i;
        break;
      case 'wLast':
      case 'wHist':
        // Near half-identity on the embedding block; the bias row/column start at 0.
        for (let i = 0; i < d; i++) {
          for (let j = 0; j < d; j++) view[i * D + j] = (i === j ? 0.5 : 0) + (gauss() * 0.1) / Math.sqrt(d);
        }
        break;
      case 'userBias':
        // The user's bias coordinate multiplies the item popularity bias: start at 1.
        view[d] = 1;
        break;
    }
  }
  return out;
}
