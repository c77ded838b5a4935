/**
 * What the worker keeps on the device, one record type per IndexedDB store, and the validators every
 * record read back goes through (a record that fails is dropped and reported as SDK_BAD_MESSAGE).
 */
import type { ModelManifest } from '../../shared/protocol.ts';
import type { PersonalState } from '../../shared/model/personal.ts';
import type { BackendName, TrackType } from '../types.ts';
import type { RankItem } from '../types.ts';
import { BACKENDS, sanitizeItem } from '../wire.ts';
import { parseManifest } from '../../shared/protocol-parse.ts';

/** One interaction; `seq` is assigned by the store (oldest first). */
export interface EventRecord {
  seq?: number;
  type: TrackType;
  item: RankItem;
  query?: string;
  time: number;
}

/** The cached global model. */
export interface ModelRecord {
  key: 'global';
  manifest: ModelManifest;
  manifestEtag: string | null;
  weightsEtag: string | null;
  params: Float32Array;
}

/** On-device personal state for one model id (rebuilt from events when the model id changes). */
export interface PersonalRecord {
  key: 'state';
  modelId: string;
  /** Highest event seq folded in when rebuilt from events (0 when updated online, click by click). */
  seq: number;
  state: PersonalState;
}

/** A privatized update waiting for upload. */
export interface OutboxRecord {
  /** Idempotency key. */
  key: string;
  body: Uint8Array;
  modelId: string;
  baseVersion: number;
  round: number;
  createdAt: number;
  attempts: number;
  nextAttemptAt: number;
}

/** One contribution in the privacy ledger (recorded when the noise is drawn, before upload). */
export interface LedgerRecord {
  seq?: number;
  time: number;
  key: string;
  round: number;
  modelVersion: number;
  clipNorm: number;
  noiseMultiplier: number;
  noiseStd: number;
  noiseMode: 'local' | 'distributed';
  /** Noise multiplier the device accounts with (see ledger.ts). */
  sigma: number;
  /** Sampling rate the device accounts with (1: no amplification assumed). */
  q: number;
  preClipNorm: number;
  delta: number;
}

/** The backend choice and how it was made, valid for one environment fingerprint. */
export interface BackendChoice {
  fingerprint: string;
  backend: BackendName;
  reason: string;
}

/** Settings, by key. */
export interface Settings {
  clientId: string;
  optedOut: boolean;
  backend: BackendChoice;
  /** Highest event seq already used for training. */
  trainedSeq: number;
  updatesSent: number;
}

const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null;
const isNum = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x);
const isInt = (x: unknown): x is number => Number.isInteger(x) && (x as number) >= 0;
const TYPES: readonly TrackType[] = ['impression', 'click', 'add_to_cart', 'purchase'];
export const ID_RE = /^[A-Za-z0-9_-]{16,64}$/;

export function checkEvent(x: unknown): EventRecord | null {
  if (!isObj(x) || !isInt(x.seq) || !TYPES.includes(x.type as TrackType) || !isNum(x.time)) return null;
  const item = sanitizeItem(x.item);
  if (!item) return null;
  const ev: EventRecord = { seq: x.seq, type: x.type as TrackType, item, time: x.time };
  if (typeof x.query === 'string') ev.query = x.query.slice(0, 256);
  return ev;
}

export function checkModel(x: unknown): ModelRecord | null {
  if (!isObj(x) || x.key !== 'global' || !(x.params instanceof Float32Array)) return null;
  let manifest: ModelManifest;
  try {
    manifest = parseManifest(x.manifest);
  } catch {
    return null;
  }
  if (x.params.length !== manifest.paramCount) return null;
  for (let i = 0; i < x.params.length; i++) if (!Number.isFinite(x.params[i]!)) return null;
  const etag = (v: unknown): v is string | null => v === null || typeof v === 'string';
  if (!etag(x.manifestEtag) || !etag(x.weightsEtag)) return null;
  return {
    key: 'global',
    manifest,
    manifestEtag: x.manifestEtag,
    weightsEtag: x.weightsEtag,
    params: x.params,
  };
}

function isRows(x: unknown): x is number[] {
  return Array.isArray(x) && x.length <= 64 && x.every(isInt);
}

export function checkPersonal(x: unknown): PersonalRecord | null {
  if (!isObj(x) || x.key !== 'state' || typeof x.modelId !== 'string' || !isInt(x.seq)) return null;
  const s = x.state;
  if (
    !isObj(s) ||
    !Array.isArray(s.history) ||
    !isObj(s.affinity) ||
    !isInt(s.positives) ||
    !isNum(s.updatedAt)
  )
    return null;
  if (!s.history.every((h) => isObj(h) && isRows(h.ids) && isRows(h.attrs))) return null;
  if (!Object.values(s.affinity).every(isNum)) return null;
  return x as unknown as PersonalRecord;
}

export function checkOutbox(x: unknown): OutboxRecord | null {
  if (!isObj(x) || typeof x.key !== 'string' || !ID_RE.test(x.key) || !(x.body instanceof Uint8Array))
    return null;
  if (typeof x.modelId !== 'string' || !isInt(x.baseVersion) || !isInt(x.round)) return null;
  if (!isNum(x.createdAt) || !isInt(x.attempts) || !isNum(x.nextAttemptAt)) return null;
  return x as unknown as OutboxRecord;
}

export function checkLedger(x: unknown): LedgerRecord | null {
  if (!isObj(x) || !isInt(x.seq) || typeof x.key !== 'string' || !isNum(x.time)) return null;
  for (const k of ['round', 'modelVersion']) if (!isInt(x[k])) return null;
  for (const k of ['clipNorm', 'noiseMultiplier', 'noiseStd', 'sigma', 'q', 'preClipNorm', 'delta'])
    if (!isNum(x[k]) || (x[k] as number) < 0) return null;
  if (x.noiseMode !== 'local' && x.noiseMode !== 'distributed') return null;
  if ((x.q as number) > 1 || (x.delta as number) >= 1) return null;
  return x as unknown as LedgerRecord;
}

/** Validators of each setting value. */
export const checkSetting: { [K in keyof Settings]: (v: unknown) => v is Settings[K] } = {
  clientId: (v): v is string => typeof v === 'string' && ID_RE.test(v),
  optedOut: (v): v is boolean => typeof v === 'boolean',
  backend: (v): v is BackendChoice =>
    isObj(v) &&
    typeof v.fingerprint === 'string' &&
    BACKENDS.includes(v.backend as BackendName) &&
    typeof v.reason === 'string',
  trainedSeq: (v): v is number => isInt(v),
  updatesSent: (v): v is number => isInt(v),
};
