/**
 * The shape of a private training run under the product's mechanism (no sampling: each device contributes
 * at most k times, at least b rounds apart, each round's sum carrying noise multiplier sigma): from the
 * shop's size, the cohort and k, the rounds one budget buys and the sigma that spends it. Everything scales
 * with the number of shoppers, so no setting is tied to one dataset's count.
 */
import { sigmaForEpsilon } from './accountant.ts';

/** What a deployment chooses. */
export interface PrivatePlanInput {
  /** Shoppers expected to contribute over the model's lifetime (N). */
  shoppers: number;
  /** Contributions summed per round (M; the fixed denominator of the mean). */
  cohort: number;
  /** k: contributions per device over the lifetime. */
  contributions: number;
  /** User-level target against the server (and observers), at `delta`. */
  epsilon: number;
  delta: number;
}

/** The run it implies. */
export interface PrivatePlan {
  /** ceil(N k / M): every device's k contributions fit. */
  rounds: number;
  /** b = floor(rounds / k), so that k contributions b apart fit into the run. */
  minSeparation: number;
  /** Noise multiplier of each round's sum: k-fold composition of the Gaussian reaches `epsilon`. */
  sigma: number;
  /** Per-coordinate noise std of the round's MEAN, in clip units: sigma / M. */
  meanNoisePerCoordinate: number;
}

/** The rounds, separation and noise multiplier of a private run (see PrivatePlanInput). */
export function privatePlan(input: PrivatePlanInput): PrivatePlan {
  const { shoppers, cohort, contributions: k, epsilon, delta } = input;
  for (const [name, v] of [
    ['shoppers', shoppers],
    ['cohort', cohort],
    ['contributions', k],
  ] as const) {
    if (!(Number.isInteger(v) && v >= 1)) throw new RangeError(`${name} must be an integer >= 1, got ${v}`);
  }
  if (cohort > shoppers) throw new RangeError(`cohort ${cohort} exceeds the ${shoppers} shoppers`);
  // q = 1 is no sampling: k releases composed, which is what userLevelPrivacy charges per device.
  const sigma = sigmaForEpsilon({ q: 1, steps: k, delta, epsilon });
  const rounds = Math.ceil((shoppers * k) / cohort);
  return {
    rounds,
    minSeparation: Math.max(1, Math.floor(rounds / k)),
    sigma,
    meanNoisePerCoordinate: sigma / cohort,
  };
}
