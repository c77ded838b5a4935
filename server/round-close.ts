/**
 * What closing a round produces: the server optimizer step over the round's mean delta, the round's noise
 * and privacy cost, and the next round if the budget still allows one. Computed without touching the
 * Aggregator's state, so that a failed store commit leaves the round open and the model unchanged.
 */
import { applyServerStep, type AdamState } from '../shared/fl/aggregate.ts';
import type { ModelSpec } from '../shared/model/spec.ts';
import type { ServerConfig } from './config.ts';
import { meanDenominator, plannedSigma, type PrivacyLedger, roundNoise, type RoundNoise } from './privacy.ts';
import { clipRoundUpdate, honestRoundNorm, robustStep, type RobustReport } from './robust-step.ts';
import type { RoundAccumulator, RoundRecord, StoredModel } from './store/types.ts';

/** The state a close starts from; nothing in it is modified. */
export interface CloseInput {
  config: ServerConfig;
  modelId: string;
  /** The model's spec: robustStep needs the parameter layout. */
  spec: ModelSpec;
  version: number;
  params: Float32Array;
  adam: AdamState | null;
  ledger: PrivacyLedger;
  open: { round: RoundRecord; acc: RoundAccumulator };
  /** Read once, after the optimizer step, for the close and open timestamps. */
  now: () => number;
  /** A secure round's noise (secure-accounting.ts); absent: the plain uploads' noise from the accumulator. */
  noise?: RoundNoise;
}

/** Everything a close persists in one transaction, plus what the ledger records once it has committed. */
export interface ClosePlan {
  closed: RoundRecord;
  model: StoredModel;
  /** The round that opens next, or null when the budget refuses it (`refusal` says why). */
  next: RoundRecord | null;
  refusal: string | null;
  sigma: number;
  /** Update records with an older base version can no longer be replayed into a round: the store drops them. */
  keepFromVersion: number;
  /** What the robust step bounded (robust-step.ts). */
  robust: RobustReport & { roundClipped: boolean };
}

/**
 * The round's mean delta over a fixed denominator: the realized count (or weight) is data-dependent and public
 * knowledge of it would be a release of its own; a constant keeps the sensitivity C*max(w)/D.
 */
export function fixedMean(acc: RoundAccumulator, denominator: number): Float32Array {
  const out = new Float32Array(acc.sum.length);
  const inv = 1 / denominator;
  for (let i = 0; i < out.length; i++) out[i] = acc.sum[i]! * inv;
  return out;
}

/** Computes the closed round, the next model and the next round from the open round's accumulator. */
export function planClose(input: CloseInput): ClosePlan {
  const { config, open, ledger, version } = input;
  const acc = open.acc;
  const t = config.training;
  const mean = fixedMean(acc, meanDenominator(t));
  const noise = input.noise ?? roundNoise(t, acc);
  // Server-side clipping of the round update (an honest round's mean of clipped deltas over the fixed
  // denominator is at most C * max(1, weight/D), plus its noise), then the per-row and bias bounds.
  const honestSignal = t.clipNorm * Math.max(1, acc.weight / meanDenominator(t));
  const roundBound = honestRoundNorm(honestSignal, noise.noiseStd, mean.length, config.privacy.normTailZ);
  const roundClipped = clipRoundUpdate(mean, roundBound);
  // Copies: the step must not touch the live model until the store has committed the close.
  const params = input.params.slice();
  const adam = input.adam ? { m: input.adam.m.slice(), v: input.adam.v.slice() } : null;
  applyServerStep(params, mean, config.optimizer, adam ?? undefined, version + 1);
  const robust = robustStep(input.spec, input.params, params, config.robust);
  const nowIso = new Date(input.now()).toISOString();
  const epsilonAfter = ledger.projected(noise.sigma);
  const closed: RoundRecord = {
    ...open.round,
    state: 'closed',
    closedAt: nowIso,
    participants: acc.count,
    weightSum: acc.weight,
    noiseStd: noise.noiseStd,
    sigma: noise.sigma,
    q: 1,
    epsilonAfter: Number.isFinite(epsilonAfter) ? epsilonAfter : null,
    resultVersion: version + 1,
  };
  const nextSigma = plannedSigma(config, config.rounds.minClients);
  const refusal = ledger.refusalAfter(noise.sigma, nextSigma);
  const next = refusal ? null : newRound(open.round.id + 1, version + 1, nowIso);
  return {
    closed,
    model: { modelId: input.modelId, version: version + 1, params, adam },
    next,
    refusal,
    sigma: noise.sigma,
    keepFromVersion: version + 1 - config.rounds.maxStaleness,
    robust: { ...robust, roundClipped },
  };
}

/** A freshly opened round record with no updates yet. */
export function newRound(id: number, baseVersion: number, openedAt: string): RoundRecord {
  return {
    id,
    baseVersion,
    openedAt,
    closedAt: null,
    state: 'open',
    participants: 0,
    weightSum: 0,
    noiseStd: null,
    sigma: null,
    q: null,
    epsilonAfter: null,
    resultVersion: null,
  };
}

/** When `round` reaches its deadline (ms since the epoch), or null when rounds have none. */
export function roundDeadline(round: RoundRecord, deadlineSeconds: number | null): number | null {
  return deadlineSeconds === null ? null : Date.parse(round.openedAt) + deadlineSeconds * 1000;
}

/**
 * Whether a plain round with `accepted` updates closes at time `now`: when full, or past its deadline with
 * at least minClients. `waiting` says why a round past its deadline stays open (else null).
 */
export function closeDue(
  round: RoundRecord,
  accepted: number,
  rounds: ServerConfig['rounds'],
  now: number,
): { close: boolean; waiting: string | null } {
  const { minClients, maxClients } = rounds;
  if (accepted >= maxClients) return { close: true, waiting: null };
  const at = roundDeadline(round, rounds.deadlineSeconds);
  if (at === null || now < at) return { close: false, waiting: null };
  if (accepted >= minClients) return { close: true, waiting: null };
  const waiting = `round ${round.id} is past its deadline with ${accepted} of ${minClients} required updates; it stays open until minClients is reached`;
  return { close: false, waiting };
}
