/**
 * Privacy accounting of the released model, per shopper against the MODEL'S OBSERVERS (anyone who downloads
 * a model), with the shared accountant and no amplification: nothing samples the clients of a round.
 *
 * A round releases mean = (sum_i w_i x_i) / D, D a configured constant (not the realized count, which would
 * itself be a release). Each client's x_i is clipped to C and carries its own Gaussian noise of std s
 * (s = sigma*C locally, sigma*C/sqrt(m) distributed). The weighted sum has L2 sensitivity C*max(w) and noise
 * std s*sqrt(sum w_i^2), so the round is a Gaussian mechanism with multiplier sigma_r = s*sqrt(sum w^2) /
 * (C*max w), assuming the round's other uploads are honest (their noise counts). A shopper is in at most
 * every round, or in at most `privacy.maxContributions` rounds when devices enforce that cap: then the k
 * rounds with the least noise bound what one shopper can lose.
 */
import { composedEpsilon, gaussianRdp } from '../shared/dp/mechanisms.ts';
import { noiseStdPerClient } from '../shared/dp/noise.ts';
import { stalenessWeight } from '../shared/fl/aggregate.ts';
import type { TrainingConfig } from '../shared/protocol.ts';
import type { ServerConfig } from './config.ts';
import type { RoundAccumulator } from './store/types.ts';

/** Noise figures of one round's aggregate. */
export interface RoundNoise {
  /** Effective noise multiplier of the released sum. */
  sigma: number;
  /** Std of the noise in the released mean delta, per coordinate. */
  noiseStd: number;
}

/** The constant the round's weighted sum is divided by: the target cohort size, never the realized count. */
export function meanDenominator(t: Pick<TrainingConfig, 'expectedClientsPerRound'>): number {
  return t.expectedClientsPerRound;
}

/** Noise of a closed round from its accumulator (all updates noised with the per-client std). */
export function roundNoise(t: TrainingConfig, acc: RoundAccumulator): RoundNoise {
  const s = noiseStdPerClient(t);
  if (acc.count === 0 || acc.maxWeight <= 0) return { sigma: 0, noiseStd: 0 };
  const sumStd = s * Math.sqrt(acc.sqWeightSum);
  return { sigma: sumStd / (t.clipNorm * acc.maxWeight), noiseStd: sumStd / meanDenominator(t) };
}

/** The smallest staleness weight an admitted update can have (relative to a fresh one's 1). */
export function minStalenessWeight(rounds: ServerConfig['rounds']): number {
  return stalenessWeight(rounds.maxStaleness, rounds.stalenessAlpha);
}

/**
 * The least sigma a round closing with `n` updates can have: one update at weight 1 (it sets the sensitivity)
 * and the other n-1 at the smallest staleness weight, whose noise counts for less: s*sqrt(1 + (n-1) w^2)/C.
 */
export function plannedSigma(config: ServerConfig, n: number): number {
  const t = config.training;
  const w = minStalenessWeight(config.rounds);
  return (noiseStdPerClient(t) * Math.sqrt(1 + (n - 1) * w * w)) / t.clipNorm;
}

/** What the ledger's figure is, in words, for every place that shows it. */
export function ledgerAssumptions(config: ServerConfig): string[] {
  const k = config.privacy.maxContributions;
  return [
    'per shopper (one browser profile per shop origin), against anyone who downloads a model',
    'no amplification by sampling (nothing samples the clients of a round)',
    k === null
      ? 'a shopper may contribute to every round (no participation cap is configured)'
      : `a shopper contributes to at most ${k} rounds (enforced by the device)`,
    `at least rounds.minClients (${config.rounds.minClients}) uploads per round, whose noise is honest`,
  ];
}

/** Epsilon of the released model over its rounds, per shopper; Infinity once a counted round had no noise. */
export class PrivacyLedger {
  readonly delta: number;
  readonly budget: number | null;
  /** Rounds one shopper can be in (null: all). */
  readonly maxContributions: number | null;
  private readonly sigmas: number[] = [];
  private spent = 0;

  constructor(config: ServerConfig, closed: { sigma: number }[]) {
    this.delta = config.privacy.delta;
    this.budget = config.privacy.epsilonBudget;
    this.maxContributions = config.privacy.maxContributions;
    // Stored sampling rates of older versions are ignored: they claimed an amplification that never was.
    for (const r of closed) this.sigmas.push(r.sigma);
    this.spent = this.epsilonOf(this.sigmas);
  }

  /** Epsilon spent so far (0 before the first round). */
  get epsilon(): number {
    return this.spent;
  }

  get roundCount(): number {
    return this.sigmas.length;
  }

  /** Composes one closed round; returns epsilon after it. */
  record(sigma: number): number {
    this.sigmas.push(sigma);
    this.spent = this.epsilonOf(this.sigmas);
    return this.spent;
  }

  /** Epsilon if rounds with these multipliers were released next (the ledger is unchanged). */
  projected(...sigmas: number[]): number {
    return this.epsilonOf([...this.sigmas, ...sigmas]);
  }

  /** Why another round (multiplier `sigmaNext`) must not open, or null when the budget allows it. */
  refusal(sigmaNext: number): string | null {
    return this.refusalAfter(null, sigmaNext);
  }

  /** As refusal(), after a round with multiplier `sigmaNow` (not yet recorded) is also released. */
  refusalAfter(sigmaNow: number | null, sigmaNext: number): string | null {
    if (this.budget === null) return null;
    const before = sigmaNow === null ? [] : [sigmaNow];
    const next = this.projected(...before, sigmaNext);
    if (next <= this.budget) return null;
    const spent = sigmaNow === null ? this.spent : this.projected(sigmaNow);
    const rounds = this.sigmas.length + before.length;
    return (
      `epsilon budget ${this.budget} at delta ${this.delta} (per shopper, against model observers) would be ` +
      `exceeded: spent ${fmt(spent)} after ${rounds} rounds, one more round (sigma ${fmt(sigmaNext)}) ` +
      `would reach ${fmt(next)}`
    );
  }

  /** The rounds one shopper can be in: all, or the k with the least noise (they cost the most). */
  private epsilonOf(sigmas: number[]): number {
    const k = this.maxContributions;
    const counted = k === null || k >= sigmas.length ? sigmas : [...sigmas].sort((a, b) => a - b).slice(0, k);
    if (counted.length === 0) return 0;
    if (counted.some((s) => !(s > 0))) return Infinity;
    const parts = counted.map((s) => ({ rdp: gaussianRdp(s), times: 1 }));
    return composedEpsilon(parts, this.delta).epsilon;
  }
}

function fmt(x: number): string {
  return Number.isFinite(x) ? x.toPrecision(4) : String(x);
}
