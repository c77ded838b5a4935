/**
 * The message boundary between the page and the worker: the worker's API type and validators that both
 * sides run on everything they receive (host-page input, worker replies, worker requests).
 */
import type { BackendName, FedrankStatus, RankItem, TrackEvent, TrackType } from './types.ts';

/** Most candidates one rank() call scores; longer lists are ranked on their first part only. */
export const MAX_RANK_ITEMS = 5000;
const MAX_ID = 256;
const MAX_STR = 128;
const MAX_ATTRS = 16;

/** Worker start options, derived from the SDK options and the browser's privacy signals. */
export interface WorkerInit {
  server: string | null;
  backend: BackendName | null;
  epsilonCap: number;
  evalReports: boolean;
  /** The shop turned differential privacy off explicitly (script tag). */
  dpOff: boolean;
  /** GPC applies (and the shop respects it): behave as opted out whatever is stored. */
  gpcOptOut: boolean;
  /** How the device gets contribution tokens (absent: proof of work). */
  tokens?: { mode: 'relay'; url: string } | { mode: 'pow' } | { mode: 'off' };
}

/** Worker status: the public status minus the page-side fields. */
export type WorkerStatus = Omit<FedrankStatus, 'version' | 'gpc' | 'epsilonAgainst'>;

/** Debug view of the worker (tests and benchmarks). */
export interface WorkerDebug {
  tfBackend: string | null;
  numTensors: number;
  trainMs: number | null;
  lastUploadBytes: number | null;
}

/** What the worker exposes through comlink. */
export interface WorkerApi {
  init(cfg: WorkerInit): Promise<WorkerStatus>;
  /** A permutation of the candidate indices (best first), or null: keep the original order. */
  rank(items: RankItem[], query: string): Promise<number[] | null>;
  track(events: TrackEvent[]): Promise<void>;
  /** The page is idle: train and upload if due. */
  idle(): Promise<void>;
  setOptOut(optedOut: boolean): Promise<void>;
  forget(): Promise<void>;
  status(): Promise<WorkerStatus>;
  debug(): Promise<WorkerDebug>;
}

export const BACKENDS: readonly BackendName[] = ['webgpu', 'webgl', 'wasm', 'cpu'];
const TRACK_TYPES: readonly TrackType[] = ['impression', 'click', 'add_to_cart', 'purchase'];

function str(x: unknown, max: number): string | undefined {
  if (typeof x === 'number' && Number.isFinite(x)) x = String(x);
  return typeof x === 'string' && x.length > 0 ? x.slice(0, max) : undefined;
}

/** A clean copy of an untrusted item (plain data only), or null when it has no usable id. */
export function sanitizeItem(x: unknown): RankItem | null {
  if (typeof x !== 'object' || x === null) return null;
  const o = x as Record<string, unknown>;
  const id = str(o.id, MAX_ID);
  if (id === undefined) return null;
  const item: RankItem = { id };
  const category = str(o.category, MAX_STR);
  if (category !== undefined) item.category = category;
  const brand = str(o.brand, MAX_STR);
  if (brand !== undefined) item.brand = brand;
  const price = typeof o.price === 'string' ? Number.parseFloat(o.price) : o.price;
  if (typeof price === 'number' && Number.isFinite(price) && price >= 0) item.price = price;
  if (Array.isArray(o.attributes)) {
    const attrs = o.attributes
      .slice(0, MAX_ATTRS)
      .map((a) => str(a, MAX_STR))
      .filter((a): a is string => a !== undefined);
    if (attrs.length > 0) item.attributes = attrs;
  }
  return item;
}

/** Clean copies of a list of untrusted items; null when it is not an array or any entry is unusable. */
export function sanitizeItems(x: unknown): RankItem[] | null {
  if (!Array.isArray(x) || x.length > MAX_RANK_ITEMS) return null;
  const out: RankItem[] = [];
  for (const it of x) {
    const s = sanitizeItem(it);
    if (!s) return null;
    out.push(s);
  }
  return out;
}

/** A clean copy of an untrusted interaction, or null. */
export function sanitizeEvent(x: unknown): TrackEvent | null {
  if (typeof x !== 'object' || x === null) return null;
  const o = x as Record<string, unknown>;
  const type = o.type;
  if (typeof type !== 'string' || !TRACK_TYPES.includes(type as TrackType)) return null;
  const item = sanitizeItem(o.item);
  if (!item) return null;
  const ev: TrackEvent = { type: type as TrackType, item };
  const query = str(o.query, 256);
  if (query !== undefined) ev.query = query;
  return ev;
}

/** True when `x` is a permutation of 0..n-1. */
export function isPermutation(x: unknown, n: number): x is number[] {
  if (!Array.isArray(x) || x.length !== n) return false;
  const seen = new Uint8Array(n);
  for (const v of x) {
    if (!Number.isInteger(v) || v < 0 || v >= n || seen[v]) return false;
    seen[v] = 1;
  }
  return true;
}

const isNum = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x);
const isCount = (x: unknown): x is number => Number.isInteger(x) && (x as number) >= 0;

/** A validated copy of a worker status reply, or null when malformed. */
export function parseWorkerStatus(x: unknown): WorkerStatus | null {
  if (typeof x !== 'object' || x === null) return null;
  const o = x as Record<string, unknown>;
  const backend = o.backend;
  if (backend !== null && !BACKENDS.includes(backend as BackendName)) return null;
  if (typeof o.ready !== 'boolean' || typeof o.optedOut !== 'boolean') return null;
  if (typeof o.budgetExhausted !== 'boolean' || typeof o.backendReason !== 'string') return null;
  if (o.modelVersion !== null && !isCount(o.modelVersion)) return null;
  if (o.modelId !== null && typeof o.modelId !== 'string') return null;
  if (!isCount(o.eventsStored) || !isCount(o.updatesSent) || !isCount(o.updatesPending)) return null;
  if (!isNum(o.epsilonSpent) || !isNum(o.epsilonBudget) || !isNum(o.privacyDelta)) return null;
  if (o.storage !== 'indexeddb' && o.storage !== 'memory' && o.storage !== 'none') return null;
  if (o.lastError !== null && typeof o.lastError !== 'string') return null;
  if (o.dp !== 'on' && o.dp !== 'off') return null;
  if (typeof o.personalized !== 'boolean') return null;
  const gw = o.globalWeight;
  if (gw !== null && !(typeof gw === 'number' && gw >= 0 && gw <= 1)) return null;
  return {
    ready: o.ready,
    backend: backend as BackendName | null,
    backendReason: o.backendReason.slice(0, 500),
    modelVersion: o.modelVersion as number | null,
    modelId: o.modelId as string | null,
    eventsStored: o.eventsStored,
    updatesSent: o.updatesSent,
    updatesPending: o.updatesPending,
    epsilonSpent: o.epsilonSpent,
    epsilonBudget: o.epsilonBudget,
    privacyDelta: o.privacyDelta,
    budgetExhausted: o.budgetExhausted,
    dp: o.dp,
    optedOut: o.optedOut,
    storage: o.storage,
    personalized: o.personalized,
    globalWeight: gw as number | null,
    lastError: o.lastError as string | null,
  };
}

function parseTokenMode(x: unknown): WorkerInit['tokens'] | null {
  if (x === undefined) return { mode: 'pow' };
  if (typeof x !== 'object' || x === null) return null;
  const t = x as Record<string, unknown>;
  if (t.mode === 'pow' || t.mode === 'off') return { mode: t.mode };
  if (t.mode !== 'relay' || typeof t.url !== 'string' || !/^https?:\/\//.test(t.url)) return null;
  return { mode: 'relay', url: t.url };
}

/** A validated worker init request, or null. */
export function parseWorkerInit(x: unknown): WorkerInit | null {
  if (typeof x !== 'object' || x === null) return null;
  const o = x as Record<string, unknown>;
  if (o.server !== null && typeof o.server !== 'string') return null;
  if (o.backend !== null && !BACKENDS.includes(o.backend as BackendName)) return null;
  if (!isNum(o.epsilonCap) || o.epsilonCap < 0) return null;
  if (typeof o.evalReports !== 'boolean' || typeof o.gpcOptOut !== 'boolean') return null;
  if (typeof o.dpOff !== 'boolean') return null;
  const tokens = parseTokenMode(o.tokens);
  if (!tokens) return null;
  return {
    tokens,
    server: o.server as string | null,
    backend: o.backend as BackendName | null,
    epsilonCap: o.epsilonCap,
    evalReports: o.evalReports,
    dpOff: o.dpOff,
    gpcOptOut: o.gpcOptOut,
  };
}
