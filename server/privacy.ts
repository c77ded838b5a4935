/**
 * Privacy accounting of the released model with the shared RDP accountant.
 *
 * A round releases mean = (sum_i w_i x_i) / W where each client's x_i is clipped to C and carries its own
 * Gaussian noise of std s (s = sigma*C locally, sigma*C/sqrt(m) distributed). The weighted sum has L2
 * sensitivity C*max(w) (one client's whole contribution) and noise std s*sqrt(sum w_i^2), so the round is
 * a Gaussian mechanism with effective multiplier sigma_r = s*sqrt(sum w^2) / (C*max w). Rounds compose
 * heterogeneously. The sampling rate q is 1 (no amplification) unless the configuration states a Poisson
 * sampling rate and a population size.
 */
import { RdpAccountant } from '../shared/dp/accountant.ts';
import { noiseStdPerClient } from '../shared/dp/noise.ts';
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

/** Noise of a closed round from its accumulator (all updates noised with the per-client std). */
export function roundNoise(t: TrainingConfig, acc: RoundAccumulator): RoundNoise {
  const s = noiseStdPerClient(t);
  if (acc.count === 0 || acc.maxWeight <= 0) return { sigma: 0, noiseStd: 0 };
  const sumStd = s * Math.sqrt(acc.sqWeightSum);
  return { sigma: sumStd / (t.clipNorm * acc.maxWeight), noiseStd: sumStd / acc.weight };
}

/** Sigma a round will at least have when it closes with `n` equally weighted fresh updates. */
export function plannedSigma(t: TrainingConfig, n: number): number {
  return (noiseStdPerClient(t) * Math.sqrt(n)) / t.clipNorm;
}

/** Epsilon of the released model over its rounds; Infinity once any round had no noise. */
export class PrivacyLedger {
  readonly delta: number;
  readonly q: number;
  readonly budget: number | null;
  private accountant = new RdpAccountant();
  private infinite = false;
  private spent = 0;
  private rounds = 0;

  constructor(config: ServerConfig, closed: { q: number; sigma: number }[]) {
    this.delta = config.privacy.delta;
    this.budget = config.privacy.epsilonBudget;
    this.q = config.privacy.samplingRate ?? 1;
    for (const r of closed) this.add(r.q, r.sigma);
    this.spent = this.compute();
  }

  /** Epsilon spent so far (0 before the first round). */
  get epsilon(): number {
    return this.spent;
  }

  get roundCount(): number {
    return this.rounds;
  }

  /** Composes one closed round; returns epsilon after it. */
  record(q: number, sigma: number): number {
    this.add(q, sigma);
    this.spent = this.compute();
    return this.spent;
  }

  /** Epsilon if rounds with these multipliers were released next (the ledger is unchanged). */
  projected(...sigmas: number[]): number {
    if (this.infinite || sigmas.some((s) => !(s > 0))) return Infinity;
    const copy = RdpAccountant.fromJSON(this.accountant.toJSON());
    for (const s of sigmas) copy.compose(this.q, s, 1);
    return copy.epsilon(this.delta).epsilon;
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
    const rounds = this.rounds + before.length;
    return (
      `epsilon budget ${this.budget} at delta ${this.delta} would be exceeded: spent ${fmt(spent)} ` +
      `after ${rounds} rounds, one more round (sigma ${fmt(sigmaNext)}) would reach ${fmt(next)}`
    );
  }

  private add(q: number, sigma: number): void {
    this.rounds += 1;
    if (!(sigma > 0)) {
      this.infinite = true;
      return;
    }
    this.accountant.compose(q, sigma, 1);
  }

  private compute(): number {
    if (this.infinite) return Infinity;
    if (this.rounds === 0) return 0;
    return this.accountant.epsilon(this.delta).epsilon;
  }
}

function fmt(x: number): string {
  return Number.isFinite(x) ? x.toPrecision(4) : String(x);
}
