/**
 * The device's pure rules: what its privacy ledger has spent, its budget, the floors below which it
 * refuses a manifest, the one `canContribute` decision, when to train, and the retry schedule. No I/O:
 * device.ts applies them over the injected ports.
 */
import { composedEpsilon, gaussianRdp } from '../dp/mechanisms.ts';
import type { ModelManifest, ParticipationPolicy, TrainingConfig } from '../protocol.ts';
import {
  effectiveParticipation,
  participationViolation,
  roundsOfModel,
  type ParticipationRefusal,
} from './participation.ts';
import type { LedgerRecord } from './records.ts';

/** Default delta when no manifest said otherwise. */
export const DEFAULT_PRIVACY_DELTA = 1e-5;
/** Positive interactions needed before training when no manifest says otherwise. */
export const DEFAULT_MIN_NEW_EVENTS = 5;

/**
 * The least privacy a device accepts, whatever the manifest says: checked before any noise is drawn.
 * The delta floor is the server's default delta (1e-5, about 1/N for a shop of 100k shoppers); a
 * stricter shop lowers it. `secAggThreshold` is the least number of other contributions the device's
 * update must be hidden among (0 until secure aggregation exists; its change fills it).
 */
export interface DeviceFloors {
  minNoiseMultiplier: number;
  maxDelta: number;
  minSecAggThreshold: number;
}

export const DEFAULT_FLOORS: DeviceFloors = {
  minNoiseMultiplier: 0.5,
  maxDelta: 1e-5,
  minSecAggThreshold: 0,
};

/** Why a device does not contribute now. */
export type Refusal =
  | 'opted-out'
  | 'no-server'
  | 'memory-only'
  | 'no-model'
  | 'no-round'
  | 'already-contributed'
  | 'below-floors'
  | ParticipationRefusal
  | 'budget-exhausted';

/**
 * Noise multiplier of what the server sees of this device's contribution, as `fedrank privacy explain`
 * (shared/dp/participation.ts) accounts it. Local mode: the device's own noise. Distributed mode: the sum
 * over the round's `threshold` honest survivors (secure aggregation), each adding sigma/sqrt(m) of the
 * clip for m = expectedClientsPerRound; never more than the m the noise was sized for.
 */
export function accountedSigma(
  t: TrainingConfig,
  noiseStd: number,
  threshold = t.expectedClientsPerRound,
): number {
  if (t.clipNorm <= 0) return 0;
  if (t.noiseMode === 'local') return noiseStd / t.clipNorm;
  const m = t.expectedClientsPerRound;
  return t.noiseMultiplier * Math.sqrt(Math.min(threshold, m) / m);
}

/**
 * Epsilon at `delta` after the ledger's contributions (and optionally one more), or Infinity without noise:
 * per shopper against the aggregation server, composed with the shared accountant exactly as
 * userLevelPrivacy composes the server's view (one Gaussian release per contribution, no sampling).
 */
export function ledgerEpsilon(
  entries: Pick<LedgerRecord, 'q' | 'sigma'>[],
  delta: number,
  extra?: Pick<LedgerRecord, 'q' | 'sigma'>,
): number {
  const all = extra ? [...entries, extra] : entries;
  if (all.length === 0) return 0;
  if (all.some((e) => !(e.sigma > 0))) return Number.POSITIVE_INFINITY;
  // No amplification is claimed: every contribution is composed in full, whatever its q (always 1 today).
  return composedEpsilon(
    all.map((e) => ({ rdp: gaussianRdp(e.sigma), times: 1 })),
    delta,
  ).epsilon;
}

/** The device budget: the server's suggestion, never above the SDK cap. */
export function deviceBudget(manifest: ModelManifest | null, cap: number): number {
  const suggested = manifest?.privacy.deviceEpsilonBudget ?? cap;
  return Math.max(0, Math.min(suggested, cap));
}

/** Rounds this device has contributed to: recorded in the ledger, or waiting in the outbox. */
export function contributedRounds(
  ledger: Pick<LedgerRecord, 'round'>[],
  outbox: { round: number }[],
): Set<number> {
  return new Set([...ledger.map((e) => e.round), ...outbox.map((o) => o.round)]);
}

/**
 * The round this device may contribute to now, or null: the manifest's round must be open and not one
 * this device already sent (or queued) an update for.
 */
export function roundToJoin(
  manifest: Pick<ModelManifest, 'round'> | null,
  contributed: Set<number>,
): number | null {
  const r = manifest?.round ?? null;
  if (!r || r.state !== 'open' || contributed.has(r.id)) return null;
  return r.id;
}

/**
 * The floor a manifest breaks, in words, or null when it meets them all. With DP explicitly off (the
 * shop's script tag) only the clip must be present.
 */
export function floorViolation(
  m: Pick<ModelManifest, 'training' | 'privacy'>,
  floors: DeviceFloors,
  dpOff = false,
): string | null {
  const t = m.training;
  if (!(t.clipNorm > 0)) return 'no clip bound';
  if (dpOff) return null;
  if (t.noiseMultiplier < floors.minNoiseMultiplier)
    return `noise multiplier ${t.noiseMultiplier} below the floor ${floors.minNoiseMultiplier}`;
  if (m.privacy.delta > floors.maxDelta) return `delta ${m.privacy.delta} above the floor ${floors.maxDelta}`;
  const threshold = t.noiseMode === 'distributed' ? t.expectedClientsPerRound : 1;
  if (threshold < floors.minSecAggThreshold)
    return `aggregation threshold ${threshold} below the floor ${floors.minSecAggThreshold}`;
  return null;
}

/** The budget state of a ledger under a manifest. */
export interface BudgetState {
  spent: number;
  budget: number;
  delta: number;
  /** Epsilon after one more contribution under this manifest. */
  next: number;
  exhausted: boolean;
}

/** Epsilon spent, the budget, and whether one more contribution would exceed it. */
export function budgetState(
  manifest: ModelManifest | null,
  ledger: Pick<LedgerRecord, 'q' | 'sigma'>[],
  cap: number,
): BudgetState {
  const delta = manifest?.privacy.delta ?? DEFAULT_PRIVACY_DELTA;
  const budget = deviceBudget(manifest, cap);
  const spent = ledgerEpsilon(ledger, delta);
  const t = manifest?.training;
  const next = t ? ledgerEpsilon(ledger, delta, { q: 1, sigma: nextSigma(manifest) }) : spent;
  return { spent, budget, delta, next, exhausted: spent >= budget || next > budget };
}

/** The sigma a contribution under `m` would be accounted with (the device's noise is sigma*C per upload). */
function nextSigma(m: ModelManifest): number {
  const t = m.training;
  return accountedSigma(t, t.noiseMultiplier * t.clipNorm, m.round?.minClients);
}

/** Everything canContribute looks at. */
export interface ContributeInput {
  manifest: ModelManifest | null;
  ledger: LedgerRecord[];
  outbox: { round: number }[];
  /** The SDK's epsilon cap. */
  cap: number;
  floors: DeviceFloors;
  dpOff: boolean;
  storage: 'indexeddb' | 'memory';
  optedOut: boolean;
  hasServer: boolean;
  /** The SDK's own participation policy (default DEFAULT_PARTICIPATION): the manifest's may only tighten it. */
  participation?: ParticipationPolicy;
}

/** The one decision whether this device contributes now: the round to join, or why not. */
export type ContributeDecision = { ok: true; round: number } | { ok: false; why: Refusal; detail?: string };

/** Decided before training and before any noise is drawn, so no privacy is spent on a refused update. */
export function canContribute(x: ContributeInput): ContributeDecision {
  if (x.optedOut) return { ok: false, why: 'opted-out' };
  if (!x.hasServer) return { ok: false, why: 'no-server' };
  // A device that forgets its ledger on every visit could not keep its budget: it learns only locally.
  if (x.storage === 'memory') return { ok: false, why: 'memory-only' };
  if (!x.manifest) return { ok: false, why: 'no-model' };
  if (!x.manifest.round || x.manifest.round.state !== 'open') return { ok: false, why: 'no-round' };
  const round = roundToJoin(x.manifest, contributedRounds(x.ledger, x.outbox));
  if (round === null) return { ok: false, why: 'already-contributed' };
  // The caps the server's figures assume: enforced here, from this device's own ledger and outbox.
  const policy = effectiveParticipation(x.manifest.privacy.participation, x.participation);
  const capped = participationViolation(policy, roundsOfModel(x.ledger, x.outbox, x.manifest.modelId), round);
  if (capped) return { ok: false, why: capped };
  const floor = floorViolation(x.manifest, x.floors, x.dpOff);
  if (floor) return { ok: false, why: 'below-floors', detail: floor };
  // With DP off (explicitly, on the script tag) there is no guarantee for a budget to keep.
  if (!x.dpOff && budgetState(x.manifest, x.ledger, x.cap).exhausted)
    return { ok: false, why: 'budget-exhausted' };
  return { ok: true, round };
}

/** Refusals that pass with time (a round opens): the new interactions stay counted for the next try. */
export function isWaiting(why: Refusal): boolean {
  return (
    why === 'no-round' || why === 'already-contributed' || why === 'no-model' || why === 'min-separation'
  );
}

/** True when enough new positive interactions arrived for another training pass. */
export function shouldTrain(newPositives: number, manifest: ModelManifest | null): boolean {
  return newPositives >= (manifest?.training.minNewEvents ?? DEFAULT_MIN_NEW_EVENTS);
}

export const BACKOFF_BASE_MS = 2000;
export const BACKOFF_MAX_MS = 10 * 60_000;

/**
 * Delay before retry number `attempt` (1-based): exponential with "equal jitter", so a fleet of devices
 * that failed together does not retry together. `random` is in [0, 1).
 */
export function backoffDelay(
  attempt: number,
  random: number,
  base = BACKOFF_BASE_MS,
  max = BACKOFF_MAX_MS,
): number {
  const exp = Math.min(max, base * 2 ** Math.max(0, attempt - 1));
  return exp / 2 + (exp / 2) * random;
}

/** True for HTTP statuses worth retrying: server errors, rate limits, timeouts. */
export function isRetryable(status: number): boolean {
  return status >= 500 || status === 429 || status === 408;
}
