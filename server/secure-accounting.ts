/**
 * What one secure round costs in the ledger: the distributed discrete Gaussian (KLS 2021) as the clients ran
 * it, with the round's own encoding (scale, per-client variance, rounded L2 bound) and its survivor threshold.
 * The ledger composes Gaussian multipliers; the DDG curve is the least of three bounds, the third of which is
 * exactly a Gaussian one, alpha/2 (D2/(sqrt(m) s) + tau sqrt(d))^2, so its multiplier bounds the round from
 * above and persists as a plain sigma.
 */
import { ddgTau } from '../shared/dp/mechanisms.ts';
import type { EncodingParams } from '../shared/secagg/calibration.ts';
import type { RoundNoise } from './privacy.ts';

/** The Gaussian multiplier whose RDP curve bounds the DDG of a round summing >= minSurvivors noises. */
export function ddgLedgerSigma(e: EncodingParams, minSurvivors: number): number {
  if (e.noiseVariance <= 0) return 0;
  const s = Math.sqrt(e.noiseVariance);
  const l2 = Math.sqrt(e.normBoundSq);
  const sd = Math.sqrt(minSurvivors) * s;
  return 1 / (l2 / sd + ddgTau(s, minSurvivors) * Math.sqrt(e.d));
}

/** The noise of a secure round's released mean over `denominator`, with its ledger multiplier. */
export function secureRoundNoise(e: EncodingParams, minSurvivors: number, denominator: number): RoundNoise {
  // The noise of the decoded sum is at least minSurvivors discrete Gaussians, in model units / scale.
  const sumStd = Math.sqrt(minSurvivors * e.noiseVariance) / e.scale;
  return { sigma: ddgLedgerSigma(e, minSurvivors), noiseStd: sumStd / denominator };
}
