/**
 * Public types of the fedrank browser SDK. This file holds declarations only: the build ships it verbatim
 * as dist/client/fedrank.d.ts, so keep it free of runtime code.
 */

/** An item the shop shows: its own id (SKU) and optional attributes the model hashes. */
export interface RankItem {
  id: string;
  category?: string;
  brand?: string;
  /** Price in the shop's currency. */
  price?: number;
  /** Free-form tags (size, colour, ...). */
  attributes?: string[];
}

/** Options of rank(). */
export interface RankOptions {
  /** The shopper's search query, if any. */
  query?: string;
  /** Milliseconds after which the original order is returned (default: the SDK's rankTimeout). */
  timeoutMs?: number;
}

/** Interaction kinds the SDK learns from. */
export type TrackType = 'impression' | 'click' | 'add_to_cart' | 'purchase';

/** One shopper interaction. */
export interface TrackEvent {
  type: TrackType;
  item: RankItem;
  /** The query the item was shown for, if any. */
  query?: string;
}

/** Tensor backend names the SDK may run on. */
export type BackendName = 'webgpu' | 'webgl' | 'wasm' | 'cpu';

/** What the SDK is doing, for the shop's "why this order" panel and for support. */
export interface FedrankStatus {
  /** SDK build version. */
  version: string;
  /**
   * True once the device has started and its first model fetch is over: rank() then re-orders with the
   * global model, or (the server refused this origin or is down) with on-device personalization alone.
   */
  ready: boolean;
  /** Backend the worker really runs on (null before it started or when the worker is unavailable). */
  backend: BackendName | null;
  /** Why this backend: measured timings, forced by the shop, cached choice, or failures. */
  backendReason: string;
  /** Global model version in use, or null when none is loaded yet. */
  modelVersion: number | null;
  modelId: string | null;
  /** Interactions stored on this device. */
  eventsStored: number;
  /** Updates acknowledged by the server. */
  updatesSent: number;
  /** Updates waiting in the outbox. */
  updatesPending: number;
  /** Epsilon this device has spent (user-level, at `privacyDelta`), against `epsilonAgainst`. */
  epsilonSpent: number;
  /** The party epsilonSpent protects against: the aggregation server (per shopper, as `fedrank privacy explain`). */
  epsilonAgainst: 'server';
  /** The device's epsilon budget: min(server suggestion, SDK cap). */
  epsilonBudget: number;
  privacyDelta: number;
  /** True when the budget is spent: the device keeps personalizing but stops contributing. */
  budgetExhausted: boolean;
  /** 'off' only when the shop turned differential privacy off on the script tag (data-dp="off"). */
  dp: 'on' | 'off';
  /** True when the shopper opted out or GPC applies: nothing learned, sent or re-ranked. */
  optedOut: boolean;
  /** True when the browser sends the Global Privacy Control signal. */
  gpc: boolean;
  /** True once this shopper's own interactions shape the order; before any, nothing is personalized. */
  personalized: boolean;
  /**
   * Weight in [0, 1] of the global model in this device's ranking, chosen by the device from its own
   * held-out clicks (0: on-device personalization alone does better); null without a global model.
   */
  globalWeight: number | null;
  /** Where data lives: IndexedDB, or memory when storage is unavailable. */
  storage: 'indexeddb' | 'memory' | 'none';
  /** Code (from the shared error catalogue) of the latest problem, or null. */
  lastError: string | null;
}

/** Options when creating the SDK from code (the script tag's data-* attributes map onto these). */
export interface FedrankOptions {
  /** Base URL of the aggregation server; without it the SDK never learns or sends. */
  server?: string;
  /** Default rank() timeout in milliseconds (default 250). */
  rankTimeout?: number;
  /** 'respect' (default): GPC means opted out. 'ignore': the shop has another legal basis. */
  gpc?: 'respect' | 'ignore';
  /** Force a backend instead of measuring (e.g. 'webgpu'). */
  backend?: BackendName;
  /** Zero-code integration on [data-fedrank-list] (default true). */
  auto?: boolean;
  /** SDK cap on the device's epsilon budget (default 8). */
  epsilonCap?: number;
  /**
   * 'off' turns differential privacy off (the device then accepts a manifest without noise); anything
   * else keeps it on, with the device's noise and delta floors enforced (default 'on').
   */
  dp?: 'on' | 'off';
  /** Report a federated evaluation (POST /v1/eval) before training (default false). */
  evalReports?: boolean;
  /** URL of the worker script (default: next to the SDK). */
  workerUrl?: string;
  /**
   * The shop's token relay, same origin as the page (data-token-url="/fedrank/tokens"): its backend adds the
   * shopper's session and forwards to POST /v1/tokens/issue. Without it the device pays by proof of work.
   */
  tokenUrl?: string;
  /** 'off': the device fetches no contribution tokens (for servers that do not use them; default 'on'). */
  tokens?: 'on' | 'off';
}

/** The SDK API, as window.fedrank and as the ES export's createFedrank() result. No method throws. */
export interface Fedrank {
  /** Items re-ordered for this shopper; the original order on timeout, opt-out or any failure. */
  rank<T extends RankItem>(items: T[], options?: RankOptions): Promise<T[]>;
  /** Records an interaction (stays on this device). */
  track(event: TrackEvent): Promise<void>;
  /** Stops learning, sending and re-ranking, and remembers the choice. */
  optOut(): Promise<void>;
  /** Undoes optOut() (GPC still applies unless the shop set gpc: 'ignore'). */
  optIn(): Promise<void>;
  status(): Promise<FedrankStatus>;
  /** Erases everything fedrank stored on this device (IndexedDB and memory). */
  forget(): Promise<void>;
}
