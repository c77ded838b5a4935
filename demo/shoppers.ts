/**
 * Simulated shoppers for `fedrank start --shoppers N`: each is the product's own device core
 * (shared/device) in Node, with a memory store that behaves like a browser's persistent one (so it keeps
 * a privacy ledger and a budget), the HTTP transport and the tfjs CPU learner. The simulation only
 * browses: it shows pages ranked by the current model, clicks by each shopper's tastes, and tells the
 * device about them; when to train, evaluate, privatize, upload and retry is the device's business.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { Device } from '../shared/device/device.ts';
import { HttpTransport } from '../shared/device/http.ts';
import { DEFAULT_FLOORS } from '../shared/device/rules.ts';
import {
  RoutingSubmitter,
  SecAggSubmitter,
  type EncodedInputSeam,
} from '../shared/device/secagg-submitter.ts';
import type { FetchLike } from '../shared/device/http.ts';
import type {
  Contribution,
  EvalSink,
  ModelSource,
  SubmitOutcome,
  Submitter,
  SyncResult,
} from '../shared/device/ports.ts';
import { cryptoRandom } from '../shared/device/random.ts';
import { splitScores } from '../shared/device/local-rank.ts';
import { RankerLearner } from '../shared/device/ranker-learner.ts';
import { blendScores } from '../shared/device/safeguard.ts';
import type { EventRecord, ModelRecord } from '../shared/device/records.ts';
import { MemoryStore } from '../shared/device/store.ts';
import type { EvalReport } from '../shared/protocol.ts';
import { encodeItem } from '../shared/model/features.ts';
import type { EncodedItem } from '../shared/model/features.ts';
import { Ranker } from '../shared/model/ranker.ts';
import { mulberry32 } from '../shared/model/spec.ts';
import { nodeClock, nodeFetch, nodeTokenFetch, shopSessionCookie } from '../node/device-ports.ts';
import { TokenWallet, tokenIssuer, tokenPurposes } from '../shared/device/tokens.ts';
import { TOKEN_RELAY_PATH } from './token-relay.ts';
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
  /** Each device's epsilon cap, as a shop's script tag would set it (default 8, the SDK's). */
  epsilonCap?: number;
  /**
   * Contribution tokens: 'relay' through the shop at `shopUrl` (each shopper with its own shop session),
   * 'pow' by proof of work, 'off' none (default: 'relay' when shopUrl is given, else 'off').
   */
  tokens?: 'relay' | 'pow' | 'off';
  /** The demo shop, whose token relay the shoppers use. */
  shopUrl?: string;
  /** Progress lines (default: none). */
  log?: (line: string) => void;
  /** The devices' requests to the aggregation server (default: Node's fetch with a deadline). */
  fetch?: FetchLike;
  /** Test seam: each survivor's encoded (pre-mask) secure-aggregation input, in-process. */
  onEncodedInput?: EncodedInputSeam;
}

/** Counters of the whole simulation. */
export interface ShopperStats {
  clicks: number;
  updatesAccepted: number;
  updatesRefused: Record<string, number>;
  evalReports: number;
  /** Devices whose privacy budget is spent (they keep browsing, and stop contributing). */
  budgetExhausted: number;
  errors: number;
}

/** A running simulation. */
export interface ShopperSim {
  stats(): ShopperStats;
  stop(): Promise<void>;
}

interface Shopper {
  device: Device;
  likes: Set<string>;
  rand: () => number;
}

/** Page size shown per browsing step, and candidates it is ranked from. */
const PAGE = 12;
const CANDIDATES = 40;
/** One shared download per manifest check for all shoppers, like a browser's HTTP cache. */
const MODEL_CACHE_MS = 300;

/**
 * The server's model, fetched once for all the simulated shoppers (they share one machine): concurrent
 * requests share one fetch, and a result is reused for a short while.
 */
class SharedModelSource implements ModelSource {
  private inflight: Promise<SyncResult> | null = null;
  private latest: { at: number; model: ModelRecord } | null = null;
  constructor(private readonly upstream: ModelSource) {}

  async fetchModel(cached: ModelRecord | null): Promise<SyncResult> {
    const fresh = this.latest && nodeClock.now() - this.latest.at < MODEL_CACHE_MS ? this.latest.model : null;
    const model = fresh ?? (await this.refresh()).model;
    const same =
      cached?.manifest.modelId === model.manifest.modelId &&
      cached?.manifest.version === model.manifest.version;
    return { model, weightsChanged: !same };
  }

  private refresh(): Promise<SyncResult> {
    this.inflight ??= this.upstream
      .fetchModel(this.latest?.model ?? null)
      .then((r) => {
        this.latest = { at: nodeClock.now(), model: r.model };
        return r;
      })
      .finally(() => (this.inflight = null));
    return this.inflight;
  }
}

/** Starts `count` shoppers browsing until stop(); their devices train and upload on their own. */
export async function startShoppers(opts: ShopperOptions): Promise<ShopperSim> {
  // PROD silences tfjs's "install tfjs-node" console banner (no native downloads here by design).
  tf.env().set('PROD', true);
  if (tf.getBackend() !== 'cpu') await tf.setBackend('cpu');
  await tf.ready();
  const pause = opts.pauseMs ?? 400;
  const say = opts.log ?? (() => {});
  const seedRand = mulberry32(opts.seed ?? 1);
  const categories = [...new Set(opts.catalog.products.map((p) => p.category))];
  const stats: ShopperStats = {
    clicks: 0,
    updatesAccepted: 0,
    updatesRefused: {},
    evalReports: 0,
    budgetExhausted: 0,
    errors: 0,
  };
  const serverFetch = opts.fetch ?? nodeFetch;
  const http = new HttpTransport(opts.serverUrl, serverFetch);
  const models = new SharedModelSource(http);
  // Counting wrappers: the simulation reports what the server answered, and nothing more.
  // Each shopper's submitter: plain uploads, or secure aggregation with its round secrets in its own store.
  const counting = (inner: Submitter): Submitter => ({
    async submit(c: Contribution): Promise<SubmitOutcome> {
      const r = await inner.submit(c);
      if (r.kind === 'accepted') stats.updatesAccepted++;
      else stats.updatesRefused[r.code] = (stats.updatesRefused[r.code] ?? 0) + 1;
      return r;
    },
  });
  const evals: EvalSink = {
    async sendEval(report: EvalReport, clientId: string, token?: string | null): Promise<void> {
      stats.evalReports++;
      await http.sendEval(report, clientId, token);
    },
  };
  const tokenMode = opts.tokens ?? (opts.shopUrl ? 'relay' : 'off');
  const evalReports = opts.evalReports !== false;
  /** A shopper's own token wallet: its own shop session for the relay, its own proofs of work otherwise. */
  const walletFor = async (store: MemoryStore): Promise<TokenWallet | null> => {
    if (tokenMode === 'off') return null;
    const relay = tokenMode === 'relay' && opts.shopUrl ? opts.shopUrl + TOKEN_RELAY_PATH : null;
    const cookie = relay ? await shopSessionCookie(opts.shopUrl!) : null;
    const fetchTokens = tokenIssuer({
      serverUrl: opts.serverUrl,
      fetch: nodeTokenFetch(),
      relayUrl: relay,
      relayFetch: nodeTokenFetch(cookie ?? undefined),
    });
    return new TokenWallet(store, fetchTokens, {
      clock: nodeClock,
      random: cryptoRandom,
      purposes: tokenPurposes(evalReports),
    });
  };
  // One ranker of the current global model for every shopper's page ranking and evaluation.
  let ranker: Ranker | null = null;
  let rankerParams: Float32Array | null = null;
  let rankerModelId: string | null = null;
  const encoded = new Map<string, EncodedItem>();
  const rankerOf = (m: ModelRecord): Ranker => {
    if (ranker && m.params === rankerParams) return ranker;
    if (ranker && m.manifest.modelId === rankerModelId) ranker.setGlobal(m.params);
    else {
      ranker?.dispose();
      ranker = new Ranker(m.manifest.spec, m.params);
      rankerModelId = m.manifest.modelId;
      encoded.clear();
    }
    rankerParams = m.params;
    return ranker;
  };
  const learner = new RankerLearner(rankerOf);

  const shoppers: Shopper[] = [];
  for (let i = 0; i < opts.count; i++) {
    const a = categories[Math.floor(seedRand() * categories.length)]!;
    let b = categories[Math.floor(seedRand() * categories.length)]!;
    if (b === a) b = categories[(categories.indexOf(a) + 1 + i) % categories.length]!;
    const store = new MemoryStore('indexeddb');
    const tokens = await walletFor(store);
    const secure = new SecAggSubmitter(
      opts.serverUrl,
      serverFetch,
      store,
      nodeClock,
      DEFAULT_FLOORS,
      undefined,
      opts.onEncodedInput,
    );
    const device = new Device(
      {
        store,
        clock: nodeClock,
        random: cryptoRandom,
        models,
        submitter: counting(new RoutingSubmitter(http, secure)),
        evals,
        learner,
        ...(tokens ? { tokens } : {}),
      },
      {
        hasServer: true,
        epsilonCap: opts.epsilonCap ?? 8,
        evalReports,
        gpcOptOut: false,
        dpOff: false,
      },
    );
    shoppers.push({ device, likes: new Set([a, b]), rand: mulberry32((opts.seed ?? 1) * 7919 + i) });
  }

  /** One browsing step: a page of PAGE items, ranked by the current model for this shopper, some clicked. */
  async function browse(s: Shopper): Promise<void> {
    const model = s.device.model;
    if (!model) return;
    const r = rankerOf(model);
    const spec = model.manifest.spec;
    const enc = (p: Product): EncodedItem => {
      let e = encoded.get(p.id);
      if (!e) encoded.set(p.id, (e = encodeItem(spec, toItem(p))));
      return e;
    };
    const pool: Product[] = [];
    for (let k = 0; k < CANDIDATES; k++)
      pool.push(opts.catalog.products[Math.floor(s.rand() * opts.catalog.products.length)]!);
    const personal = s.device.personal;
    const items = pool.map(enc);
    // Ranked as the browser ranks: the global model weighed by this device's safeguard.
    const split = splitScores(spec, r.score({ history: personal.history, personal }, items), items, personal);
    const scores = blendScores(split.model, split.bonus, s.device.globalWeight() ?? 1);
    const page = pool
      .map((p, i) => ({ p, v: scores[i]! }))
      .sort((x, y) => y.v - x.v)
      .slice(0, PAGE)
      .map((x) => x.p);
    const now = Date.now();
    const events: EventRecord[] = [];
    for (const p of page) {
      events.push({ type: 'impression', item: toItem(p), time: now });
      if (s.rand() < (s.likes.has(p.category) ? 0.3 : 0.015)) {
        events.push({ type: s.rand() < 0.25 ? 'add_to_cart' : 'click', item: toItem(p), time: now + 1 });
        stats.clicks++;
      }
    }
    await s.device.track(events);
  }

  let stopped = false;
  async function loop(s: Shopper): Promise<void> {
    await sleep(pause * s.rand() * 3);
    await s.device.open();
    await s.device.resume();
    let exhausted = false;
    while (!stopped) {
      try {
        await browse(s);
        await s.device.idle();
        const st = s.device.status();
        if (st.budgetExhausted && !exhausted) stats.budgetExhausted++;
        exhausted = st.budgetExhausted;
      } catch (err) {
        stats.errors++;
        if (stats.errors % 20 === 1) say(`shoppers: ${(err as Error).message}`);
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
      for (const s of shoppers) s.device.close();
      ranker?.dispose();
      ranker = null;
    },
  };
}

function toItem(p: Product): { id: string; category: string; brand: string; price: number } {
  return { id: p.id, category: p.category, brand: p.brand, price: p.price };
}

function sleep(ms: number): Promise<void> {
  return new Promise((ok) => setTimeout(ok, ms));
}
