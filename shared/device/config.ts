/** How a device is configured (the shop's script tag, the shopper's browser), its hooks and what it reports. */
import type { ErrorCode } from '../errors.ts';
import type { ParticipationPolicy } from '../protocol.ts';
import type { ContributeDecision, DeviceFloors, Refusal } from './rules.ts';
import type { ModelRecord } from './records.ts';

/** How this device was configured by the shop (script tag) and the shopper's browser. */
export interface DeviceConfig {
  /** An aggregation server is configured (without one the device never learns or sends). */
  hasServer: boolean;
  epsilonCap: number;
  evalReports: boolean;
  /** GPC applies (and the shop respects it): behave as opted out whatever is stored. */
  gpcOptOut: boolean;
  /** The shop turned differential privacy off explicitly: the noise floors are not enforced. */
  dpOff: boolean;
  floors?: DeviceFloors;
  /** The SDK's own participation caps (default DEFAULT_PARTICIPATION): a manifest may tighten, never loosen them. */
  participation?: ParticipationPolicy;
}

/** Callbacks to the adapter that owns the tensors (ranker, scorer). */
export interface DeviceHooks {
  /** A model is in use; `sameModelId` false when its spec or id changed (rebuild the ranker). */
  onModel?(model: ModelRecord, sameModelId: boolean): void;
  /** The personal state changed (invalidate cached user vectors). */
  onPersonal?(): void;
}

/** The device's counters and privacy state, for status(). */
export interface DeviceStatus {
  modelVersion: number | null;
  modelId: string | null;
  eventsStored: number;
  updatesSent: number;
  updatesPending: number;
  /** Epsilon at privacyDelta per shopper (this browser profile) against `epsilonAgainst`, from the ledger. */
  epsilonSpent: number;
  /** The party epsilonSpent protects against: the aggregation server, as `fedrank privacy explain` counts it. */
  epsilonAgainst: 'server';
  epsilonBudget: number;
  privacyDelta: number;
  budgetExhausted: boolean;
  optedOut: boolean;
  storage: 'indexeddb' | 'memory';
  dp: 'on' | 'off';
  /** True once this shopper's own interactions shape the order (before any, it is the shop's or the model's). */
  personalized: boolean;
  /** Weight of the global model in the ranking (the safeguard, safeguard.ts); null without a model. */
  globalWeight: number | null;
  /** Why the latest contribution pass did not contribute, or null. */
  lastRefusal: Refusal | null;
  lastError: ErrorCode | null;
}

/** What one idle pass did. */
export interface IdleResult {
  trained: boolean;
  queued: boolean;
  decision: ContributeDecision | null;
}
