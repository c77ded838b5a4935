/**
 * The validators every record read back from IndexedDB goes through (a record that fails is dropped and
 * reported as SDK_BAD_MESSAGE). The record types are the device core's (shared/device/records.ts).
 */
import type {
  BackendChoice,
  EventRecord,
  LedgerRecord,
  ModelRecord,
  OutboxRecord,
  PersonalRecord,
  RoundSecretsRecord,
  Settings,
  TokenWalletRecord,
} from '../../shared/device/records.ts';
import { EVENT_TYPES } from '../../shared/device/records.ts';
import type { ModelManifest } from '../../shared/protocol.ts';
import { parseManifest } from '../../shared/protocol-parse.ts';
import { ID_PATTERN } from '../../shared/routes.ts';
import { BACKENDS, sanitizeItem } from '../wire.ts';

const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null;
const isNum = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x);
const isInt = (x: unknown): x is number => Number.isInteger(x) && (x as number) >= 0;
// An encoded token is base64url of a few hundred bytes (4096-bit keys at most); checked in full when spent.
const isToken = (x: unknown): x is string => typeof x === 'string' && /^[A-Za-z0-9_-]{16,1024}$/.test(x);
const isTokenList = (x: unknown): x is string[] => Array.isArray(x) && x.length <= 64 && x.every(isToken);

export function checkEvent(x: unknown): EventRecord | null {
  if (!isObj(x) || !isInt(x.seq) || !EVENT_TYPES.includes(x.type as EventRecord['type']) || !isNum(x.time))
    return null;
  const item = sanitizeItem(x.item);
  if (!item) return null;
  const ev: EventRecord = { seq: x.seq, type: x.type as EventRecord['type'], item, time: x.time };
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
  if (!isObj(x) || typeof x.key !== 'string' || !ID_PATTERN.test(x.key) || !(x.body instanceof Uint8Array))
    return null;
  if (typeof x.modelId !== 'string' || !isInt(x.baseVersion) || !isInt(x.round)) return null;
  if (x.clientId !== undefined && (typeof x.clientId !== 'string' || !ID_PATTERN.test(x.clientId)))
    return null;
  if (!isNum(x.createdAt) || !isInt(x.attempts) || !isNum(x.nextAttemptAt)) return null;
  if (x.secure !== undefined && typeof x.secure !== 'boolean') return null;
  return x as unknown as OutboxRecord;
}

/** A round's secrets: the shape the client round resumes from (it re-checks every message against it). */
export function checkRoundSecrets(x: unknown): RoundSecretsRecord | null {
  if (!isObj(x) || typeof x.key !== 'string' || !ID_PATTERN.test(x.key)) return null;
  if (!isInt(x.secureRound) || !isInt(x.forRound) || !isObj(x.state)) return null;
  const s = x.state;
  if (!['advertised', 'shared', 'masked', 'done', 'aborted'].includes(s.phase as string)) return null;
  if (!isInt(s.round) || !isInt(s.slot) || !Array.isArray(s.held) || !Array.isArray(s.revealed)) return null;
  for (const k of ['cSk', 'cPk', 'sSk', 'sPk', 'selfSeed']) if (!(s[k] instanceof Uint8Array)) return null;
  return x as unknown as RoundSecretsRecord;
}

export function checkLedger(x: unknown): LedgerRecord | null {
  if (!isObj(x) || !isInt(x.seq) || typeof x.key !== 'string' || !isNum(x.time)) return null;
  for (const k of ['round', 'modelVersion']) if (!isInt(x[k])) return null;
  for (const k of ['clipNorm', 'noiseMultiplier', 'noiseStd', 'sigma', 'q', 'preClipNorm', 'delta'])
    if (!isNum(x[k]) || (x[k] as number) < 0) return null;
  if (x.noiseMode !== 'local' && x.noiseMode !== 'distributed') return null;
  if (x.modelId !== undefined && typeof x.modelId !== 'string') return null;
  if ((x.q as number) > 1 || (x.delta as number) >= 1) return null;
  return x as unknown as LedgerRecord;
}

/** Validators of each setting value. */
export const checkSetting: { [K in keyof Settings]: (v: unknown) => v is Settings[K] } = {
  optedOut: (v): v is boolean => typeof v === 'boolean',
  backend: (v): v is BackendChoice =>
    isObj(v) &&
    typeof v.fingerprint === 'string' &&
    BACKENDS.includes(v.backend as BackendChoice['backend']) &&
    typeof v.reason === 'string',
  trainedSeq: (v): v is number => isInt(v),
  updatesSent: (v): v is number => isInt(v),
  tokens: (v): v is TokenWalletRecord =>
    isObj(v) &&
    isTokenList(v.update) &&
    isTokenList(v.eval) &&
    isObj(v.held) &&
    Object.entries(v.held).every(([k, t]) => ID_PATTERN.test(k) && isToken(t)),
};
