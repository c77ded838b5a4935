/**
 * What a device keeps, one record type per store. The browser keeps these in IndexedDB (and validates them
 * when read back, client/worker/records.ts); the simulated shoppers keep them in memory.
 */
import type { ItemFeatures } from '../model/features.ts';
import type { PersonalState } from '../model/personal.ts';
import type { ModelManifest } from '../protocol.ts';
import type { ClientRoundState } from '../secagg/client.ts';

/** Interaction kinds a device learns from. */
export type EventType = 'impression' | 'click' | 'add_to_cart' | 'purchase';
export const EVENT_TYPES: readonly EventType[] = ['impression', 'click', 'add_to_cart', 'purchase'];

/** One interaction; `seq` is assigned by the store (oldest first). */
export interface EventRecord {
  seq?: number;
  type: EventType;
  item: ItemFeatures;
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

/** A privatized contribution waiting for submission. */
export interface OutboxRecord {
  /** Idempotency key. */
  key: string;
  /** A random id for this contribution only (unlinkable to the device's other rounds). */
  clientId?: string;
  body: Uint8Array;
  /** A secure-aggregation contribution: `body` is the clipped, un-noised f32 delta and never leaves as is. */
  secure?: boolean;
  modelId: string;
  baseVersion: number;
  round: number;
  createdAt: number;
  attempts: number;
  nextAttemptAt: number;
}

/**
 * A contribution's secure-aggregation round in progress (keys, shares held, what was revealed), saved after
 * every step so a page that navigates resumes it; deleted when the round ends.
 */
export interface RoundSecretsRecord {
  /** The outbox key of the contribution. */
  key: string;
  /** The secure round (GET /v1/secagg/current) and the aggregation round it serves. */
  secureRound: number;
  forRound: number;
  state: ClientRoundState;
}

/** One contribution in the privacy ledger (recorded when the noise is drawn, before upload). */
export interface LedgerRecord {
  seq?: number;
  time: number;
  key: string;
  round: number;
  /** The model id contributed to (participation caps are per model id); absent in entries from older SDKs. */
  modelId?: string;
  modelVersion: number;
  clipNorm: number;
  noiseMultiplier: number;
  noiseStd: number;
  noiseMode: 'local' | 'distributed';
  /** Noise multiplier of what the server sees of this contribution (rules.ts accountedSigma). */
  sigma: number;
  /** Sampling rate the device accounts with (1: no amplification assumed). */
  q: number;
  preClipNorm: number;
  delta: number;
}

/** The tensor backend choice and how it was made, valid for one environment fingerprint. */
export interface BackendChoice {
  fingerprint: string;
  backend: 'webgpu' | 'webgl' | 'wasm' | 'cpu';
  reason: string;
}

/** Settings, by key. */
export interface Settings {
  optedOut: boolean;
  backend: BackendChoice;
  /** Highest event seq already used for training or evaluation. */
  trainedSeq: number;
  updatesSent: number;
  /** Contribution tokens on hand (shared/device/tokens.ts). */
  tokens: TokenWalletRecord;
}

/** The device's unused tokens per purpose, and the one each pending contribution (by idempotency key) took. */
export interface TokenWalletRecord {
  update: string[];
  eval: string[];
  held: Record<string, string>;
}
