/**
 * The participation caps the device enforces from its own ledger: at most k contributions per model id, at
 * least b round ids apart. The server's ledger and `fedrank privacy explain` assume them, but the server
 * cannot check them (each upload carries a fresh per-round id), so the device is the only party that can.
 * Pure rules: canContribute (rules.ts) applies them.
 */
import type { ParticipationPolicy } from '../protocol.ts';
import type { LedgerRecord } from './records.ts';

/**
 * The SDK's own policy, used when a manifest carries none: no count cap beyond the device's epsilon budget,
 * one contribution per round (the budget alone then bounds the contributions against the server).
 */
export const DEFAULT_PARTICIPATION: ParticipationPolicy = { maxContributions: null, minSeparationRounds: 1 };

/** Why participation refuses a round: the count cap is reached, or the last contribution is too recent. */
export type ParticipationRefusal = 'max-contributions' | 'min-separation';

/**
 * The policy the device applies: the manifest's, never looser than the SDK's own (the smaller k, the larger
 * b); the SDK's alone when the manifest has none.
 */
export function effectiveParticipation(
  fromManifest: ParticipationPolicy | undefined,
  sdk: ParticipationPolicy = DEFAULT_PARTICIPATION,
): ParticipationPolicy {
  if (!fromManifest) return sdk;
  const ks = [fromManifest.maxContributions, sdk.maxContributions].filter((k): k is number => k !== null);
  return {
    maxContributions: ks.length === 0 ? null : Math.min(...ks),
    minSeparationRounds: Math.max(fromManifest.minSeparationRounds, sdk.minSeparationRounds),
  };
}

/**
 * The rounds of model `modelId` this device contributed to: recorded in its ledger or waiting in its outbox
 * (one contribution may be in both). A ledger entry without a model id (written before entries had one)
 * counts for every model, so an old ledger never frees a contribution.
 */
export function roundsOfModel(
  ledger: Pick<LedgerRecord, 'round' | 'modelId'>[],
  outbox: { round: number; modelId?: string }[],
  modelId: string,
): number[] {
  const mine = (m: string | undefined): boolean => m === undefined || m === modelId;
  const rounds = new Set([
    ...ledger.filter((e) => mine(e.modelId)).map((e) => e.round),
    ...outbox.filter((o) => mine(o.modelId)).map((o) => o.round),
  ]);
  return [...rounds];
}

/** Whether contributing to `round` keeps within `policy`, given the rounds already contributed to. */
export function participationViolation(
  policy: ParticipationPolicy,
  contributed: number[],
  round: number,
): ParticipationRefusal | null {
  const k = policy.maxContributions;
  if (k !== null && contributed.length >= k) return 'max-contributions';
  // Round ids only grow, so the nearest earlier contribution is the latest one.
  const gap = Math.min(...contributed.map((r) => Math.abs(round - r)));
  if (gap < policy.minSeparationRounds) return 'min-separation';
  return null;
}
