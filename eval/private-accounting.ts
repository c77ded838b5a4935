/**
 * The privacy of a private eval run, exactly as the product accounts it: the round's secure-aggregation
 * encoding (the server's ring width, the product's calibration of the distributed discrete Gaussian over t
 * survivors) and the shared accountant's user-level figures per party (shared/dp/participation.ts), for a
 * device that contributes at most k times, at least b rounds apart. No sampling, no amplification.
 */
import { accountedSigma, ledgerEpsilon } from '../shared/device/rules.ts';
import { userLevelPrivacy, type PartyGuarantee, type RoundMechanism } from '../shared/dp/participation.ts';
import { planEncoding, type EncodingPlan } from '../shared/secagg/calibration.ts';
import { defaultSecAggConfig } from '../server/secagg/config.ts';

/** What a private run's encoding and accounting are planned from. */
export interface SecureRunShape {
  /** Parameters of the model update. */
  d: number;
  clip: number;
  /** Cohort size M: the most inputs summed in a round, and the fixed denominator of the mean. */
  cohort: number;
  /** Survivor threshold t: the noise is calibrated so that any t survivors carry the full multiplier. */
  survivors: number;
  /** Participation caps each device enforces: at most k contributions, at least b rounds apart. */
  maxContributions: number;
  minSeparation: number;
  delta: number;
}

/** The ring width a product server uses by default (server/secagg/config.ts). */
export const PRODUCT_RING_BITS = (() => {
  const bits = defaultSecAggConfig().bits;
  return bits === 'auto' ? 16 : bits;
})();

/** The round's encoding at noise multiplier z (the product's planEncoding at the server's ring width). */
export function encodingFor(shape: SecureRunShape, z: number): EncodingPlan {
  const plan = planEncoding(
    {
      d: shape.d,
      clipNorm: shape.clip,
      noiseMultiplier: z,
      noiseClients: shape.survivors,
      maxClients: shape.cohort,
    },
    PRODUCT_RING_BITS,
  );
  if (!plan) throw new RangeError(`a ${PRODUCT_RING_BITS}-bit ring cannot hold this round's encoding`);
  return plan;
}

/** The round mechanism the accountant composes: the DDG sum over t survivors of this encoding. */
export function secureMechanism(plan: EncodingPlan, survivors: number): RoundMechanism {
  return {
    noiseMode: 'distributed',
    secureAggregation: true,
    // The realized multiplier: t per-client variances over the clip in integer units (>= z by ceiling).
    sigma: plan.noiseStdOverClip,
    threshold: survivors,
    discrete: { scale: plan.scale * plan.clipNorm, dimension: plan.d, l2: Math.sqrt(plan.normBoundSq) },
  };
}

/** User-level privacy of a private run, per party. */
export interface HonestPrivacy {
  /** Noise multiplier of the encoding (TrainingConfig.noiseMultiplier). */
  z: number;
  encoding: Pick<EncodingPlan, 'bits' | 'scale' | 'noiseVariance' | 'normBoundSq' | 'inflation'>;
  maxContributions: number;
  minSeparation: number;
  survivors: number;
  delta: number;
  server: PartyGuarantee;
  observers: PartyGuarantee;
  /**
   * What the device's own ledger (shared/device/rules.ts) records after k contributions: it composes each
   * as a Gaussian at the manifest's accounted sigma, and refuses a contribution that would pass its budget.
   */
  deviceLedger: number;
}

/** The device ledger's epsilon after k contributions at noise multiplier z (distributed, t survivors). */
export function deviceLedgerEpsilon(shape: SecureRunShape, z: number): number {
  const t = {
    clipNorm: shape.clip,
    noiseMultiplier: z,
    noiseMode: 'distributed' as const,
    expectedClientsPerRound: shape.survivors,
  };
  const sigma = accountedSigma(t as Parameters<typeof accountedSigma>[0], z * shape.clip, shape.survivors);
  return ledgerEpsilon(
    Array.from({ length: shape.maxContributions }, () => ({ q: 1, sigma })),
    shape.delta,
  );
}

/** The accountant's figures for a run at noise multiplier z (z = 0: no noise, no finite epsilon). */
export function honestPrivacy(shape: SecureRunShape, z: number): HonestPrivacy {
  const plan = encodingFor(shape, z);
  const caps = { maxContributions: shape.maxContributions, minSeparation: shape.minSeparation };
  const infinite = (party: 'server' | 'observers'): PartyGuarantee => ({
    party,
    epsilon: Infinity,
    delta: shape.delta,
    order: 0,
    sigmaSeen: 0,
    contributions: shape.maxContributions,
    assumptions: ['no noise'],
  });
  const u =
    plan.noiseVariance > 0
      ? userLevelPrivacy(secureMechanism(plan, shape.survivors), caps, shape.delta)
      : { server: infinite('server'), observers: infinite('observers') };
  const { bits, scale, noiseVariance, normBoundSq, inflation } = plan;
  return {
    z,
    encoding: { bits, scale, noiseVariance, normBoundSq, inflation },
    maxContributions: shape.maxContributions,
    minSeparation: shape.minSeparation,
    survivors: shape.survivors,
    delta: shape.delta,
    server: u.server,
    observers: u.observers,
    deviceLedger: z > 0 ? deviceLedgerEpsilon(shape, z) : Infinity,
  };
}

/**
 * The least noise multiplier z whose accounted epsilon against the server (the party that sees the most
 * under secure aggregation: the sum over the survivors, as observers do) is at most `epsilon`, and at
 * which the device's own ledger lets it make its k contributions within a budget of `epsilon`.
 */
export function noiseForEpsilon(shape: SecureRunShape, epsilon: number): number {
  if (!(epsilon > 0)) throw new RangeError(`target epsilon must be > 0, got ${epsilon}`);
  const eps = (z: number): number => {
    const h = honestPrivacy(shape, z);
    return Math.max(h.server.epsilon, h.deviceLedger);
  };
  let lo = 0.05;
  let hi = 1;
  while (eps(hi) > epsilon) {
    lo = hi;
    hi *= 2;
    if (hi > 1e4) throw new RangeError(`no noise multiplier up to 1e4 reaches epsilon ${epsilon}`);
  }
  for (let i = 0; i < 40; i++) {
    const mid = (lo + hi) / 2;
    if (eps(mid) > epsilon) lo = mid;
    else hi = mid;
  }
  return hi;
}
