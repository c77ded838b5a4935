/**
 * The device's privacy ledger: every contribution with its clip bound and noise, and the epsilon this
 * device has spent (user-level: the whole contribution of this shopper is the protected unit), composed
 * with the shared RDP accountant. The device stops contributing before an upload would exceed its budget.
 */
import { RdpAccountant } from '../../shared/dp/accountant.ts';
import type { ModelManifest, TrainingConfig } from '../../shared/protocol.ts';
import type { LedgerRecord } from './records.ts';

/** Default delta when no manifest said otherwise. */
export const DEFAULT_PRIVACY_DELTA = 1e-5;

/**
 * Noise multiplier this device accounts with. Local mode: the device's own noise (sigma). Distributed mode:
 * the aggregate's sigma, which assumes the server sums about expectedClientsPerRound honest updates.
 */
export function accountedSigma(t: TrainingConfig, noiseStd: number): number {
  if (t.clipNorm <= 0) return 0;
  return t.noiseMode === 'local' ? noiseStd / t.clipNorm : t.noiseMultiplier;
}

/** Epsilon at `delta` after the ledger's contributions (and optionally one more), or Infinity without noise. */
export function ledgerEpsilon(
  entries: Pick<LedgerRecord, 'q' | 'sigma'>[],
  delta: number,
  extra?: Pick<LedgerRecord, 'q' | 'sigma'>,
): number {
  const all = extra ? [...entries, extra] : entries;
  if (all.length === 0) return 0;
  if (all.some((e) => !(e.sigma > 0))) return Number.POSITIVE_INFINITY;
  const acc = new RdpAccountant();
  for (const e of all) acc.compose(e.q, e.sigma, 1);
  return acc.epsilon(delta).epsilon;
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
 * this device already sent (or queued) an update for. Decided before any noise is drawn, so no privacy is
 * spent on an update the server would refuse.
 */
export function roundToJoin(
  manifest: Pick<ModelManifest, 'round'> | null,
  contributed: Set<number>,
): number | null {
  const r = manifest?.round ?? null;
  if (!r || r.state !== 'open' || contributed.has(r.id)) return null;
  return r.id;
}
