/**
 * The privacy accountant: epsilon of T steps of the Poisson-subsampled Gaussian mechanism, a composable ledger
 * for rounds with different (q, sigma), and the inverse (the sigma that meets a target epsilon).
 */
import { FedrankError } from '../errors.ts';
import { minEpsilonOverOrders, rdpToEpsilon, type Conversion, type EpsilonResult } from './convert.ts';
import {
  DEFAULT_ORDERS,
  ORDER_SETS,
  RdpCurve,
  checkSteps,
  orderSetName,
  rdpCurve,
  rdpOneStep,
  scaleRdp,
  type OrderSetName,
} from './rdp.ts';

/** Inputs of computeEpsilon. */
export interface EpsilonQuery {
  /** Poisson sampling rate of each step. */
  q: number;
  /** Noise multiplier: noise std / L2 sensitivity. */
  sigma: number;
  /** Number of steps (rounds) composed. */
  steps: number;
  delta: number;
  /** RDP orders; DEFAULT_ORDERS (dp_accounting's) when absent. */
  orders?: readonly number[];
  /** Default 'improved' (as dp_accounting). */
  conversion?: Conversion;
}

// Past this many orders, only the orders that can hold the minimum are computed (exact branch and bound).
const PRUNE_ABOVE = 1024;

function epsilonOf(query: EpsilonQuery, curve: RdpCurve): EpsilonResult {
  const { steps, delta, conversion = 'improved' } = query;
  const orders = curve.orders;
  if (orders.length > PRUNE_ABOVE) {
    const intRdp = new Map<number, number>();
    const at = (n: number): number => {
      let r = intRdp.get(n);
      if (r === undefined) intRdp.set(n, (r = scaleRdp(rdpOneStep(curve.q, curve.sigma, n), steps)));
      return r;
    };
    const rdpFloor = (a: number): number => lowerRdpBound(a, at);
    return minEpsilonOverOrders(orders, (k) => scaleRdp(curve.at(k), steps), rdpFloor, delta, conversion);
  }
  return rdpToEpsilon(
    orders,
    Array.from(curve.all(), (r) => scaleRdp(r, steps)),
    delta,
    conversion,
  );
}

/**
 * A lower bound on the true RDP at every order >= a, from exact integer-order values `at(n)`. The true RDP
 * never decreases with the order, and the cumulant K(a) = (a-1) RDP(a) is convex with K(1) = 0, so it lies
 * above the secant through the integers n-1, n extended past n (n = floor(a); for a < 2, the secant through
 * 2 and 3 extended below 2). dp_accounting's fractional-order values are upper bounds (and can overshoot the
 * next integer order), so only exact values can bound the minimum search.
 */
export function lowerRdpBound(a: number, at: (n: number) => number): number {
  const n = Math.floor(a);
  if (a <= 1) return 0;
  if (n < 2) {
    const k2 = at(2);
    const k3 = 2 * at(3);
    const bound = (k2 + (k3 - k2) * (a - 2)) / (a - 1);
    return bound > 0 ? bound : 0;
  }
  const rn = at(n);
  const kn = (n - 1) * rn;
  const kPrev = n === 2 ? 0 : (n - 2) * at(n - 1);
  const bound = (kn + (kn - kPrev) * (a - n)) / (a - 1);
  return bound > rn ? bound : rn;
}

/** (epsilon, delta)-DP of `steps` steps of the Poisson-subsampled Gaussian mechanism, and the best order. */
export function computeEpsilon(query: EpsilonQuery): EpsilonResult {
  checkSteps(query.steps);
  return epsilonOf(query, rdpCurve(query.q, query.sigma, query.orders ?? DEFAULT_ORDERS));
}

/** Serialized RdpAccountant: a named order set or the order list, and the RDP (null = Infinity) per order. */
export interface RdpAccountantJSON {
  orders: OrderSetName | number[];
  rdp: (number | null)[];
}

const MAX_JSON_ORDERS = 200_000;

/** Composes rounds that may differ in sampling rate and noise: RDP adds up order by order. */
export class RdpAccountant {
  readonly orders: readonly number[];
  private readonly total: Float64Array;

  constructor(orders: readonly number[] = DEFAULT_ORDERS) {
    if (orders.length === 0) throw new RangeError('at least one order is needed');
    for (const a of orders) if (!(a >= 1)) throw new RangeError(`RDP order must be >= 1, got ${a}`);
    this.orders = orders;
    this.total = new Float64Array(orders.length);
  }

  /** Adds `steps` steps of the Poisson-subsampled Gaussian mechanism with rate q and noise multiplier sigma. */
  compose(q: number, sigma: number, steps = 1): this {
    checkSteps(steps);
    if (steps === 0) return this;
    const one = rdpCurve(q, sigma, this.orders).all();
    for (let k = 0; k < one.length; k++) this.total[k] = this.total[k]! + one[k]! * steps;
    return this;
  }

  /** An independent copy, e.g. to ask what one more round would cost before running it. */
  clone(): RdpAccountant {
    const copy = new RdpAccountant(this.orders);
    copy.total.set(this.total);
    return copy;
  }

  /** The RDP composed so far, per order. */
  rdp(): number[] {
    return Array.from(this.total);
  }

  /** Epsilon at `delta` of everything composed so far, and the best order. */
  epsilon(delta: number, conversion: Conversion = 'improved'): EpsilonResult {
    return rdpToEpsilon(this.orders, this.total, delta, conversion);
  }

  toJSON(): RdpAccountantJSON {
    const name = orderSetName(this.orders);
    return {
      orders: name ?? [...this.orders],
      rdp: Array.from(this.total, (r) => (Number.isFinite(r) ? r : null)),
    };
  }

  /** Rebuilds an accountant from toJSON() output; throws FedrankError('BAD_REQUEST') on anything malformed. */
  static fromJSON(x: unknown): RdpAccountant {
    const bad = (what: string): never => {
      throw new FedrankError('BAD_REQUEST', `privacy ledger: ${what}`);
    };
    if (typeof x !== 'object' || x === null) return bad('not an object');
    const { orders, rdp } = x as { orders?: unknown; rdp?: unknown };
    let list: readonly number[];
    if (typeof orders === 'string') {
      if (!Object.hasOwn(ORDER_SETS, orders)) return bad(`unknown order set '${orders}'`);
      list = ORDER_SETS[orders as OrderSetName];
    } else if (Array.isArray(orders) && orders.length > 0 && orders.length <= MAX_JSON_ORDERS) {
      if (!orders.every((a) => typeof a === 'number' && Number.isFinite(a) && a >= 1))
        return bad('orders must be finite numbers >= 1');
      list = orders as number[];
    } else {
      return bad('orders must be an order-set name or a non-empty array');
    }
    if (!Array.isArray(rdp) || rdp.length !== list.length) return bad('rdp must have one entry per order');
    const acc = new RdpAccountant(list);
    rdp.forEach((r, k) => {
      if (r === null) acc.total[k] = Infinity;
      else if (typeof r === 'number' && Number.isFinite(r) && r >= 0) acc.total[k] = r;
      else bad(`rdp[${k}] must be a number >= 0 or null`);
    });
    return acc;
  }
}

/** Inputs of sigmaForEpsilon. */
export interface SigmaQuery {
  q: number;
  steps: number;
  delta: number;
  /** Target epsilon (> 0). */
  epsilon: number;
  orders?: readonly number[];
  conversion?: Conversion;
}

const SIGMA_MAX = 1e6;

/**
 * The smallest noise multiplier (to relative precision 1e-10) whose epsilon after `steps` steps is at most the
 * target, by a bracketing search on a monotone function (epsilon never increases with sigma): bisection,
 * sped up by regula falsi steps in log-log space (Illinois variant), where epsilon ~ sigma^-2 is nearly a
 * line, so FINE orders need a handful of evaluations rather than ~35. The bracket always holds the answer;
 * the result errs on the safe side (its epsilon is <= the target). 0 when nothing is released (q = 0 or
 * steps = 0); RangeError when even sigma = 1e6 falls short.
 */
export function sigmaForEpsilon(query: SigmaQuery): number {
  const { q, steps, delta, epsilon: target, orders = DEFAULT_ORDERS, conversion = 'improved' } = query;
  if (!(target > 0 && Number.isFinite(target)))
    throw new RangeError(`target epsilon must be > 0, got ${target}`);
  if (!(delta > 0 && delta < 1)) throw new RangeError(`delta must be in (0, 1), got ${delta}`);
  checkSteps(steps);
  if (!(q >= 0 && q <= 1)) throw new RangeError(`sampling rate q must be in [0, 1], got ${q}`);
  if (q === 0 || steps === 0) return 0;
  // Uncached curves: a search must not evict the mechanisms the server and devices keep asking about.
  // g(sigma) = log(eps / target): > 0 means too little noise. It may be +-Infinity (eps = Infinity or 0).
  const g = (sigma: number): number =>
    Math.log(
      epsilonOf({ q, sigma, steps, delta, conversion }, new RdpCurve(q, sigma, orders)).epsilon / target,
    );
  let hi = 1;
  let gHi = g(hi);
  while (gHi > 0) {
    hi *= 2;
    if (hi > SIGMA_MAX)
      throw new RangeError(`epsilon ${target} is out of reach even with sigma = ${SIGMA_MAX}`);
    gHi = g(hi);
  }
  let lo = hi / 2;
  let gLo = g(lo);
  while (gLo <= 0) {
    [hi, gHi] = [lo, gLo];
    lo /= 2;
    if (lo < 1e-6) return hi;
    gLo = g(lo);
  }
  let kept = 0; // +1: lo kept last step, -1: hi kept last step
  for (let iter = 0; hi - lo > 1e-10 * hi && iter < 200; iter++) {
    let x = (lo + hi) / 2;
    // Every third step is a plain bisection, so the bracket halves at least that often whatever the shape.
    if (iter % 3 !== 2 && Number.isFinite(gLo) && Number.isFinite(gHi) && gLo !== gHi) {
      const a = Math.log(lo);
      const b = Math.log(hi);
      const root = Math.exp(b - (gHi * (b - a)) / (gHi - gLo));
      if (root > lo && root < hi) x = root;
    }
    const gx = g(x);
    if (gx <= 0) {
      hi = x;
      gHi = gx;
      if (kept === 1) gLo /= 2; // Illinois: an end kept twice running has its value halved
      kept = 1;
    } else {
      lo = x;
      gLo = gx;
      if (kept === -1) gHi /= 2;
      kept = -1;
    }
    // Interpolation homes in on the root from one side; once there, one probe a tolerance away on the other
    // side closes the bracket instead of waiting for bisection to drag the far end in.
    if (Math.abs(gx) < 1e-7 && hi - lo > 1e-10 * hi) {
      const probe = gx <= 0 ? x * (1 - 0.5e-10) : x * (1 + 0.5e-10);
      const gp = g(probe);
      if (gp <= 0) [hi, gHi] = [probe, gp];
      else [lo, gLo] = [probe, gp];
    }
  }
  return hi;
}
