/**
 * User-level privacy of a deployment, per party, with no sampling assumed: a device contributes at most k
 * times, at least b rounds apart, to rounds whose release carries noise multiplier sigma. The one accountant
 * the device ledger, the server, `fedrank privacy explain` and `fedrank eval` use for what they show.
 *
 * What each party sees of one contribution:
 * - local noise: the server sees the upload itself (multiplier sigma); model observers see a sum of at least
 *   t uploads, each with its own full noise (multiplier sigma*sqrt(t)).
 * - distributed noise with secure aggregation: server and observers alike see only the sum over the
 *   survivors, of which at least t are honest; their noise together has multiplier sigma.
 * - distributed noise WITHOUT secure aggregation: the server sees one upload with sigma/sqrt(t) (refused by
 *   the server's configuration; shown so that `explain` can say why).
 */
import type { EpsilonResult } from './convert.ts';
import {
  composedEpsilon,
  distributedDiscreteGaussianRdp,
  gaussianRdp,
  treeAggregationRdp,
  type RdpCurveFn,
} from './mechanisms.ts';

/** How one round releases its aggregate. */
export interface RoundMechanism {
  noiseMode: 'local' | 'distributed';
  secureAggregation: boolean;
  /** Noise std / clip norm of one upload (local) or of the sum over t honest survivors (distributed). */
  sigma: number;
  /** t: honest clients whose noise is in every released sum (secure-aggregation threshold / minClients). */
  threshold: number;
  /**
   * The smallest weight the server may give another client's update relative to this shopper's (staleness
   * discounts): their noise counts for that much less in the sum. Default 1 (equal weights).
   */
  minWeight?: number;
  /** 'per-round': fresh noise on each round's sum; 'tree': DP-FTRL tree aggregation restarted every b rounds. */
  aggregation?: 'per-round' | 'tree';
  /**
   * Distributed discrete Gaussian (secure aggregation only): one clip norm is `scale` integer units, the
   * encoded update has `dimension` coordinates and integer L2 sensitivity at most `l2` after rounding
   * (roundedL2Bound(C * scale, dimension, beta) for conditional randomized rounding).
   */
  discrete?: { scale: number; dimension: number; l2: number };
}

/** What the device enforces: at most `maxContributions` uploads, at least `minSeparation` rounds apart. */
export interface ParticipationCaps {
  maxContributions: number;
  minSeparation: number;
}

/** Who looks at what is released. */
export type Party = 'server' | 'observers';

/** The user-level guarantee one party faces. */
export interface PartyGuarantee {
  party: Party;
  /** Epsilon at `delta` for one browser profile's contributions over the model's lifetime. */
  epsilon: number;
  delta: number;
  order: number;
  /** Noise multiplier of what this party sees of one contribution (Gaussian equivalent). */
  sigmaSeen: number;
  /** Contributions composed. */
  contributions: number;
  /** What must hold for the figure to hold. */
  assumptions: string[];
}

/** The guarantee against each party. */
export interface UserLevelPrivacy {
  server: PartyGuarantee;
  observers: PartyGuarantee;
}

function checkCaps(c: ParticipationCaps): void {
  if (!(Number.isInteger(c.maxContributions) && c.maxContributions >= 0))
    throw new RangeError(`maxContributions must be an integer >= 0, got ${c.maxContributions}`);
  if (!(Number.isInteger(c.minSeparation) && c.minSeparation >= 1))
    throw new RangeError(`minSeparation must be an integer >= 1, got ${c.minSeparation}`);
}

function checkMechanism(m: RoundMechanism): void {
  const w = m.minWeight ?? 1;
  if (!(w > 0 && w <= 1)) throw new RangeError(`minWeight must be in (0, 1], got ${w}`);
  if (!(m.sigma >= 0 && Number.isFinite(m.sigma)))
    throw new RangeError(`noise multiplier must be a finite number >= 0, got ${m.sigma}`);
  if (!(Number.isInteger(m.threshold) && m.threshold >= 1))
    throw new RangeError(`threshold must be an integer >= 1, got ${m.threshold}`);
  if (m.discrete && !(m.noiseMode === 'distributed' && m.secureAggregation))
    throw new RangeError('the distributed discrete Gaussian needs distributed noise with secure aggregation');
  // Masked integer inputs are summed as they are: no staleness weight can scale them.
  if (m.discrete && w !== 1) throw new RangeError('the distributed discrete Gaussian sums unweighted inputs');
}

/** The aggregate's curve: per-round Gaussian, or the tree over one block of b rounds. */
function aggregateCurve(m: RoundMechanism, sigma: number, b: number): RdpCurveFn {
  if (m.aggregation === 'tree') return treeAggregationRdp(sigma, b);
  if (m.discrete && sigma > 0) {
    const { scale, dimension, l2 } = m.discrete;
    return distributedDiscreteGaussianRdp({
      sigma: (m.sigma * scale) / Math.sqrt(m.threshold),
      clients: m.threshold,
      l2,
      dimension,
    });
  }
  return gaussianRdp(sigma);
}

const HONEST_T = (t: number): string =>
  `at least ${t} honest clients' noise is in every released sum (they follow the protocol)`;

/** What each party can learn about one browser profile that follows `caps`, under mechanism `m`. */
export function userLevelPrivacy(
  m: RoundMechanism,
  caps: ParticipationCaps,
  delta: number,
): UserLevelPrivacy {
  checkMechanism(m);
  checkCaps(caps);
  const k = caps.maxContributions;
  const b = caps.minSeparation;
  const t = m.threshold;
  // The other t-1 honest clients' noise, each at the least weight the server may give it.
  const others = Math.sqrt(1 + (t - 1) * (m.minWeight ?? 1) ** 2);
  const capsText = `the device contributes at most ${k} times, at least ${b} rounds apart (enforced on the device)`;
  const treeText =
    m.aggregation === 'tree' ? [`the tree restarts every ${b} rounds, so a device is in each tree once`] : [];
  const guarantee = (
    party: Party,
    sigmaSeen: number,
    curve: RdpCurveFn,
    assumptions: string[],
  ): PartyGuarantee => {
    const r: EpsilonResult =
      k === 0 ? { epsilon: 0, order: 0 } : composedEpsilon([{ rdp: curve, times: k }], delta);
    return { party, epsilon: r.epsilon, delta, order: r.order, sigmaSeen, contributions: k, assumptions };
  };

  if (m.noiseMode === 'local') {
    const observed = m.sigma * others;
    return {
      server: guarantee('server', m.sigma, gaussianRdp(m.sigma), [
        capsText,
        'the server sees each upload; each carries the full noise sigma*C (local DP)',
      ]),
      observers: guarantee('observers', observed, aggregateCurve(m, observed, b), [
        capsText,
        HONEST_T(t),
        ...treeText,
      ]),
    };
  }
  // Distributed: each client adds sigma/sqrt(t); the released sum carries that times `others`.
  const released = (m.sigma / Math.sqrt(t)) * others;
  const observers = guarantee('observers', released, aggregateCurve(m, released, b), [
    capsText,
    HONEST_T(t),
    ...treeText,
  ]);
  if (m.secureAggregation) {
    return {
      server: guarantee('server', released, aggregateCurve(m, released, b), [
        capsText,
        HONEST_T(t),
        `secure aggregation: the server learns only sums over at least ${t} survivors`,
        'the server is honest but curious (a malicious server could, e.g., isolate one device in a cohort of Sybils)',
        ...treeText,
      ]),
      observers,
    };
  }
  const share = m.sigma / Math.sqrt(t);
  return {
    server: guarantee('server', share, gaussianRdp(share), [
      capsText,
      `NO secure aggregation: the server sees each upload with only 1/sqrt(${t}) of the noise`,
    ]),
    observers,
  };
}
