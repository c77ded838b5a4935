/**
 * Simulated shoppers for `fedrank start --shoppers N`: headless clients in Node that run the product's own
 * learner (shared/fl/local-update.ts, shared/model, shared/codec) against the aggregation server over HTTP,
 * each with its own favourite categories, so the dashboard moves without anyone clicking.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { decodeTensor } from '../shared/codec/tensor-codec.ts';
import { encodeItem, type EncodedItem } from '../shared/model/features.ts';
import { emptyPersonal, updatePersonal, type PersonalState } from '../shared/model/personal.ts';
import { Ranker } from '../shared/model/ranker.ts';
import { parseSpec, mulberry32, type ModelSpec } from '../shared/model/spec.ts';
import { buildExamples, makeUpdatePayload, trainLocal, type Interaction } from '../shared/fl/local-update.ts';
import { HEADER_CLIENT_ID, HEADER_IDEMPOTENCY_KEY, TENSOR_CONTENT_TYPE } from '../shared/protocol.ts';
import type { EvalReport, ModelManifest, UpdateAck } from '../shared/protocol.ts';
import type { Catalog, Product } from './catalog-types.ts';

/** Options of the shopper simulation. */
export interface ShopperOptions {
  serverUrl: string;
  count: number;
  catalog: Catalog;
  /** Seed of the shoppers' preferences and behaviour (default 1). */
  seed?: number;
  /** Mean pause between two browsing steps of one shopper, ms (default 400). */
  pauseMs?: number;
  /** Also send a federated evaluation report before each training pass (default true). */
  evalReports?: boolean;
  /** Progress lines (default: none). */
  log?: (line: string) => void;
}

/** Counters of the whole simulation. */
export interface ShopperStats {
  clicks: number;
  updatesAccepted: number;
  updatesRefused: Record<string, number>;
  evalReports: number;
  errors: number;
}

/** A running simulation. */
export interface ShopperSim {
  stats(): ShopperStats;
  stop(): Promise<void>;
}

interface Shopper {
  clientId: string;
  likes: Set<string>;
  log: Interaction[];
  /** Created once the model spec is known. */
  personal: PersonalState | null;
  newEvents: number;
  lastRound: number;
  rand: () => number;
}

interface ModelCache {
  manifest: ModelManifest | null;
  etag: string | null;
  spec: ModelSpec | null;
  weights: Float32Array | null;
  weightsVersion: number;
  ranker: Ranker | null;
}

const randomId = (): string => Buffer.from(crypto.getRandomValues(new Uint8Array(18))).toString('base64url');

/** Minimal boundary check of a manifest (the fields the simulation relies on). */
function checkManifest(x: unknown): ModelManifest {
  const m = x as Partial<ModelManifest> | null;
  if (
    !m ||
    typeof m.modelId !== 'string' ||
    typeof m.version !== 'number' ||
    typeof m.paramCount !== 'number' ||
    typeof m.training !== 'object' ||
    m.training === null
  )
    throw new Error('malformed manifest');
  return m as ModelManifest;
}

/** Starts `count` shoppers browsing, training and uploading until stop(). */
export async function startShoppers(opts: ShopperOptions): Promise<ShopperSim> {
  // PROD silences tfjs's "install tfjs-node" console banner (no native downloads here by design).
  tf.env().set('PROD', true);
  if (tf.getBackend() !== 'cpu') await tf.setBackend('cpu');
  await tf.ready();
  const base = opts.serverUrl.replace(/\/$/, '');
  const pause = opts.pauseMs ?? 400;
  const say = opts.log ?? (() => {});
  const seedRand = mulberry32(opts.seed ?? 1);
  const categories = [...new Set(opts.catalog.products.map((p) => p.category))];
  const stats: ShopperStats = {
    clicks: 0,
    updatesAccepted: 0,
    updatesRefused: {},
    evalReports: 0,
    errors: 0,
  };
  const cache: ModelCache = {
    manifest: null,
    etag: null,
    spec: null,
    weights: null,
    weightsVersion: -1,
    ranker: null,
  };
  let stopped = false;
  let encoded = new Map<string, EncodedItem>();

  const shoppers: Shopper[] = Array.from({ length: opts.count }, (_, i) => {
    const a = categories[Math.floor(seedRand() * categories.length)]!;
    let b = categories[Math.floor(seedRand() * categories.length)]!;
    if (b === a) b = categories[(categories.indexOf(a) + 1 + i) % categories.length]!;
    return {
      clientId: `sim-${randomId()}`,
      likes: new Set([a, b]),
      log: [],
      personal: null,
      newEvents: 0,
      lastRound: -1,
      rand: mulberry32((opts.seed ?? 1) * 7919 + i),
    };
  });

  let inflight: Promise<ModelManifest> | null = null;
  let fetchedAt = 0;
  /** The current manifest, re-fetched at most every 300 ms by one shopper at a time (like a shared HTTP cache). */
  function current(): Promise<ModelManifest> {
    if (inflight) return inflight;
    if (cache.manifest && Date.now() - fetchedAt < 300) return Promise.resolve(cache.manifest);
    inflight = refresh().finally(() => {
      inflight = null;
      fetchedAt = Date.now();
    });
    return inflight;
  }

  /** Refreshes the manifest (ETag) and, on a new version, the weights. */
  async function refresh(): Promise<ModelManifest> {
    const res = await fetch(`${base}/v1/model`, {
      headers: cache.etag ? { 'if-none-match': cache.etag } : {},
    });
    if (res.status !== 304) {
      if (!res.ok) throw new Error(`GET /v1/model: HTTP ${res.status}`);
      cache.manifest = checkManifest(await res.json());
      cache.etag = res.headers.get('etag');
    }
    const m = cache.manifest!;
    if (!cache.spec || JSON.stringify(cache.spec) !== JSON.stringify(m.spec)) {
      cache.spec = parseSpec(m.spec);
      cache.ranker?.dispose();
      cache.ranker = null;
      encoded = new Map();
      cache.weightsVersion = -1;
    }
    if (cache.weightsVersion !== m.version) {
      const w = await fetch(`${base}/v1/model/weights`);
      if (!w.ok) throw new Error(`GET /v1/model/weights: HTTP ${w.status}`);
      const { header, values } = decodeTensor(new Uint8Array(await w.arrayBuffer()), {
        maxCount: m.paramCount,
      });
      if (header.modelId !== m.modelId || values.length !== m.paramCount)
        throw new Error('weights do not match manifest');
      cache.weights = values;
      cache.weightsVersion = header.baseVersion;
      if (cache.ranker) cache.ranker.setGlobal(values);
      else cache.ranker = new Ranker(cache.spec, values);
    }
    return m;
  }

  const enc = (p: Product): EncodedItem => {
    let e = encoded.get(p.id);
    if (!e) {
      e = encodeItem(cache.spec!, { id: p.id, category: p.category, brand: p.brand, price: p.price });
      encoded.set(p.id, e);
    }
    return e;
  };

  /** One browsing step: a page of 12 items, ranked by the current model, some clicked. */
  function browse(s: Shopper): void {
    const spec = cache.spec!;
    s.personal ??= emptyPersonal(spec);
    const pool: Product[] = [];
    for (let k = 0; k < 40; k++)
      pool.push(opts.catalog.products[Math.floor(s.rand() * opts.catalog.products.length)]!);
    const personal = s.personal;
    const scores = cache.ranker!.score({ history: personal.history, personal }, pool.map(enc));
    const page = pool
      .map((p, i) => ({ p, v: scores[i]! }))
      .sort((x, y) => y.v - x.v)
      .slice(0, 12)
      .map((x) => x.p);
    const now = Date.now();
    for (const p of page) {
      const item = enc(p);
      s.log.push({ item, kind: 'impression', time: now });
      const like = s.likes.has(p.category) ? 0.3 : 0.015;
      if (s.rand() < like) {
        const ev: Interaction = { item, kind: s.rand() < 0.25 ? 'cart' : 'click', time: now + 1 };
        s.log.push(ev);
        s.personal = updatePersonal(spec, s.personal!, ev);
        s.newEvents += 1;
        stats.clicks += 1;
      }
    }
    if (s.log.length > 600) s.log.splice(0, s.log.length - 600);
  }

  /** Hit@10 and NDCG@10 of the shopper's last few choices against 49 random items each. */
  function evaluate(s: Shopper, m: ModelManifest): EvalReport | null {
    const chosen = s.log.filter((e) => e.kind !== 'impression');
    const report: EvalReport = { modelVersion: m.version, examples: 0, hitsAt10: 0, ndcgAt10: 0 };
    for (let k = Math.max(1, chosen.length - 5); k < chosen.length; k++) {
      const history = chosen.slice(0, k).map((e) => e.item);
      const cands = [chosen[k]!.item];
      for (let j = 0; j < 49; j++)
        cands.push(enc(opts.catalog.products[Math.floor(s.rand() * opts.catalog.products.length)]!));
      const sc = cache.ranker!.score({ history }, cands);
      let rank = 0;
      for (let j = 1; j < sc.length; j++) if (sc[j]! > sc[0]!) rank++;
      report.examples += 1;
      if (rank < 10) {
        report.hitsAt10 += 1;
        report.ndcgAt10 += 1 / Math.log2(rank + 2);
      }
    }
    return report.examples > 0 ? report : null;
  }

  async function contribute(s: Shopper, m: ModelManifest): Promise<void> {
    const round = m.round;
    if (!round || round.state !== 'open' || round.id === s.lastRound) return;
    if (s.newEvents < Math.max(1, m.training.minNewEvents)) return;
    if (opts.evalReports !== false) {
      const rep = evaluate(s, m);
      if (rep) {
        const r = await fetch(`${base}/v1/eval`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', [HEADER_CLIENT_ID]: s.clientId },
          body: JSON.stringify(rep),
        });
        if (r.ok) stats.evalReports += 1;
      }
    }
    const pool = opts.catalog.products.map(enc);
    const examples = buildExamples(cache.spec!, s.log, pool, s.rand);
    if (examples.length === 0) return;
    const { delta } = trainLocal(cache.ranker!, cache.weights!, examples, m.training);
    cache.ranker!.setGlobal(cache.weights!);
    const { body } = makeUpdatePayload(delta, m.training, {
      modelId: m.modelId,
      baseVersion: m.version,
      round: round.id,
    });
    const key = randomId();
    for (let attempt = 0; attempt < 4; attempt++) {
      let res: Response;
      try {
        res = await fetch(`${base}/v1/updates`, {
          method: 'POST',
          headers: {
            'content-type': TENSOR_CONTENT_TYPE,
            [HEADER_CLIENT_ID]: s.clientId,
            [HEADER_IDEMPOTENCY_KEY]: key,
          },
          body,
        });
      } catch {
        await sleep(500 * 2 ** attempt);
        continue;
      }
      if (res.ok) {
        const ack = (await res.json()) as UpdateAck;
        s.lastRound = typeof ack.round === 'number' ? ack.round : round.id;
        s.newEvents = 0;
        stats.updatesAccepted += 1;
        return;
      }
      const err = (await res.json().catch(() => null)) as { error?: { code?: string } } | null;
      const code = err?.error?.code ?? `HTTP_${res.status}`;
      stats.updatesRefused[code] = (stats.updatesRefused[code] ?? 0) + 1;
      if (code === 'UPDATE_ALREADY_CONTRIBUTED') s.lastRound = round.id;
      if (res.status >= 500 || res.status === 429) {
        await sleep(500 * 2 ** attempt);
        continue;
      }
      return;
    }
  }

  async function loop(s: Shopper): Promise<void> {
    await sleep(pause * s.rand() * 3);
    while (!stopped) {
      try {
        const m = await current();
        browse(s);
        await contribute(s, m);
      } catch (err) {
        stats.errors += 1;
        if (stats.errors % 20 === 1) say(`shoppers: ${(err as Error).message}`);
        await sleep(2000);
      }
      await sleep(pause * (0.5 + s.rand()));
    }
  }

  const running = shoppers.map((s) => loop(s));
  say(`shoppers: ${opts.count} simulated shoppers started`);
  return {
    stats: () => structuredClone(stats),
    stop: async () => {
      stopped = true;
      await Promise.allSettled(running);
      cache.ranker?.dispose();
      cache.ranker = null;
    },
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((ok) => setTimeout(ok, ms));
}
