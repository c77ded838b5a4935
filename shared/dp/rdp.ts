/**
 * Renyi-DP of the Poisson-subsampled Gaussian mechanism and its conversion to (epsilon, delta), computed as
 * Google's dp_accounting does (rdp/rdp_privacy_accountant.py): integer orders by the binomial expansion in log
 * space, fractional orders by the two-series expansion of Mironov et al. 2019 (arXiv:1908.10530, Sec. 3.3).
 */
import { logAdd, logErfc } from './special.ts';

export { rdpToEpsilon } from './convert.ts';
export type { Conversion, EpsilonResult } from './convert.ts';

/** Names of the predefined order sets (see ORDER_SETS). */
export type OrderSetName = 'O1' | 'O2' | 'O3' | 'O4' | 'FINE';

function range(from: number, toExclusive: number): number[] {
  const out: number[] = [];
  for (let i = from; i < toExclusive; i++) out.push(i);
  return out;
}

// Built with the same float arithmetic as the Python sources, so fractional orders are bit-identical.
const tenths = range(1, 100).map((x) => 1 + x / 10.0);

let fine: readonly number[] | undefined;

/** The RDP order sets of the reference vectors; O3 is dp_accounting's DEFAULT_RDP_ORDERS. */
export const ORDER_SETS: Readonly<Record<OrderSetName, readonly number[]>> = Object.freeze({
  /** tensorflow/privacy compute_dp_sgd_privacy. */
  O1: Object.freeze([1.25, 1.5, 1.75, 2, 2.25, 2.5, 3, 3.5, 4, 4.5, ...range(5, 64), 128, 256, 512]),
  /** tensorflow/privacy tutorials and Opacus (11 is missing there too). */
  O2: Object.freeze([...tenths, ...range(12, 64)]),
  /** dp_accounting DEFAULT_RDP_ORDERS. */
  O3: Object.freeze([...tenths, ...range(11, 64), 128, 256, 512, 1024]),
  O4: Object.freeze(range(2, 33)),
  /** 1.000, 1.001, ..., 99.999, as `0.001 * i` (dp_accounting's test grid); built on first use (99,000 orders). */
  get FINE(): readonly number[] {
    return (fine ??= Object.freeze(range(1000, 100000).map((i) => 0.001 * i)));
  },
});

/** The name of a predefined order set when `orders` is that very array (FINE is not built to check). */
export function orderSetName(orders: readonly number[]): OrderSetName | undefined {
  if (orders === fine) return 'FINE';
  return (['O1', 'O2', 'O3', 'O4'] as const).find((n) => ORDER_SETS[n] === orders);
}

/** dp_accounting's default orders (O3). */
export const DEFAULT_ORDERS: readonly number[] = ORDER_SETS.O3;

// log(i) for the binomial-coefficient recurrence; orders beyond the table fall back to Math.log.
const LOG_INT = new Float64Array(2048).map((_, i) => Math.log(i));
const logInt = (i: number): number => (i < LOG_INT.length ? LOG_INT[i]! : Math.log(i));

/** log(A_alpha) for integer alpha >= 2 and 0 < q < 1: sum_i C(alpha,i) q^i (1-q)^(alpha-i) e^((i^2-i)/2s^2). */
function logAInt(q: number, sigma: number, alpha: number): number {
  const logq = Math.log(q);
  const log1mq = Math.log1p(-q);
  const twoVar = 2 * sigma ** 2;
  // The sum is kept as exp(max) * acc: one exp per term instead of a log-space add's log1p(exp(.)).
  let max = -Infinity;
  let acc = 0;
  let logCoef = 0; // log C(alpha, i), by C(a,i) = C(a,i-1) (a-i+1)/i
  for (let i = 0; i <= alpha; i++) {
    if (i > 0) logCoef += logInt(alpha - i + 1) - logInt(i);
    const s = logCoef + i * logq + (alpha - i) * log1mq + (i * i - i) / twoVar;
    if (s <= max) acc += Math.exp(s - max);
    else {
      acc = acc * Math.exp(max - s) + 1;
      max = s;
    }
  }
  return max + Math.log(acc);
}

const MAX_STEPS_LOG_A_FRAC = 1000;
const LOG_HALF = Math.log(0.5);

/** What the fractional-order series shares across orders for one (q, sigma): constants and a term table. */
class FracSeries {
  readonly z0: number;
  readonly logq: number;
  readonly log1mq: number;
  readonly twoVar: number;
  readonly sqrt2Sigma: number;
  /** g0[i] = i log q - i log(1-q) + (i^2-i)/2s^2 + log(erfc((i-z0)/(sqrt2 sigma))/2), filled on demand. */
  private readonly g0 = new Float64Array(MAX_STEPS_LOG_A_FRAC).fill(NaN);

  constructor(q: number, sigma: number) {
    this.z0 = sigma ** 2 * Math.log(1 / q - 1) + 0.5;
    this.logq = Math.log(q);
    this.log1mq = Math.log1p(-q);
    this.twoVar = 2 * sigma ** 2;
    this.sqrt2Sigma = Math.SQRT2 * sigma;
  }

  private term0(i: number): number {
    let g = this.g0[i]!;
    if (Number.isNaN(g)) {
      g = i * (this.logq - this.log1mq) + (i * i - i) / this.twoVar;
      g += LOG_HALF + logErfc((i - this.z0) / this.sqrt2Sigma);
      this.g0[i] = g;
    }
    return g;
  }

  private total(max0: number, acc0: number, max1: number, acc1: number): number {
    return logAdd(max0 + Math.log(acc0), max1 + Math.log(acc1));
  }

  /**
   * log(A_alpha) for fractional alpha: the integrals over (-inf, z0] and [z0, inf) as two series, summed (with
   * |binomial coefficients|, as dp_accounting does) until both terms decrease and are 30 nats below the total;
   * Infinity (order excluded, as there) when that takes more than 1000 terms.
   */
  logA(alpha: number): number {
    const { z0, logq, log1mq, twoVar, sqrt2Sigma } = this;
    // Each series is kept as exp(max) * acc in locals (object fields would box every double).
    let max0 = -Infinity;
    let acc0 = 0;
    let max1 = -Infinity;
    let acc1 = 0;
    const alphaLog1mq = alpha * log1mq;
    let lastS0 = -Infinity;
    let lastS1 = -Infinity;
    let logCoef = 0; // log |C(alpha, i)|
    for (let i = 0; i < MAX_STEPS_LOG_A_FRAC; i++) {
      if (i > 0) logCoef += Math.log(Math.abs(alpha - i + 1)) - logInt(i);
      const j = alpha - i;
      const s0 = logCoef + alphaLog1mq + this.term0(i);
      const s1 =
        logCoef + j * logq + i * log1mq + (j * j - j) / twoVar + LOG_HALF + logErfc((z0 - j) / sqrt2Sigma);
      if (s0 <= max0) acc0 += Math.exp(s0 - max0);
      else {
        acc0 = acc0 * Math.exp(max0 - s0) + 1;
        max0 = s0;
      }
      if (s1 <= max1) acc1 += Math.exp(s1 - max1);
      else {
        acc1 = acc1 * Math.exp(max1 - s1) + 1;
        max1 = s1;
      }
      if (s0 < lastS0 && s1 < lastS1) {
        const top = s0 > s1 ? s0 : s1;
        const m = max0 > max1 ? max0 : max1;
        // total lies in [m, m + log(acc0 + acc1)]: the exact total is needed only between those bounds.
        if (
          top < m - 30 ||
          (Math.exp(top + 30 - m) < acc0 + acc1 && top < this.total(max0, acc0, max1, acc1) - 30)
        )
          return this.total(max0, acc0, max1, acc1);
      }
      lastS0 = s0;
      lastS1 = s1;
    }
    return Infinity;
  }
}

/** log(A_alpha) for 0 < q < 1: the integer formula when alpha is an integer, else the fractional one. */
export function logA(q: number, sigma: number, alpha: number): number {
  return Number.isInteger(alpha) ? logAInt(q, sigma, alpha) : new FracSeries(q, sigma).logA(alpha);
}

/** The two formulas separately, for cross-checks: the series one also holds at integer orders. */
export const logAFormulas = {
  integer: logAInt,
  series: (q: number, sigma: number, alpha: number): number => new FracSeries(q, sigma).logA(alpha),
};

function checkMechanism(q: number, sigma: number): void {
  if (!(q >= 0 && q <= 1)) throw new RangeError(`sampling rate q must be in [0, 1], got ${q}`);
  if (!(sigma >= 0)) throw new RangeError(`noise multiplier sigma must be >= 0, got ${sigma}`);
}

function checkOrder(alpha: number): void {
  if (!(alpha >= 1)) throw new RangeError(`RDP order must be >= 1, got ${alpha}`);
}

function oneStep(q: number, sigma: number, alpha: number, series: () => FracSeries): number {
  if (q === 0) return 0;
  if (alpha === Infinity || sigma === 0) return Infinity;
  if (q === 1) return alpha / (2 * sigma ** 2);
  if (alpha === 1) return Infinity;
  const la = Number.isInteger(alpha) ? logAInt(q, sigma, alpha) : series().logA(alpha);
  return la / (alpha - 1);
}

/**
 * RDP at order alpha of ONE step of the Poisson-subsampled Gaussian mechanism (sampling rate q, noise
 * multiplier sigma). Order 1 with 0 < q < 1 is Infinity (dp_accounting yields NaN there; neither conversion
 * can use it).
 */
export function rdpOneStep(q: number, sigma: number, alpha: number): number {
  checkMechanism(q, sigma);
  checkOrder(alpha);
  return oneStep(q, sigma, alpha, () => new FracSeries(q, sigma));
}

/** The one-step RDP curve of one mechanism over one order list, computed order by order on demand. */
export class RdpCurve {
  readonly values: Float64Array;
  private series: FracSeries | null = null;
  private missing: number;

  constructor(
    readonly q: number,
    readonly sigma: number,
    readonly orders: readonly number[],
  ) {
    checkMechanism(q, sigma);
    orders.forEach(checkOrder);
    this.values = new Float64Array(orders.length).fill(NaN);
    this.missing = orders.length;
  }

  /** One-step RDP at orders[k]. */
  at(k: number): number {
    let v = this.values[k]!;
    if (Number.isNaN(v)) {
      v = oneStep(
        this.q,
        this.sigma,
        this.orders[k]!,
        () => (this.series ??= new FracSeries(this.q, this.sigma)),
      );
      this.values[k] = v;
      this.missing--;
    }
    return v;
  }

  /** Every order's one-step RDP; treat it as read-only. */
  all(): Float64Array {
    if (this.missing > 0) for (let k = 0; k < this.orders.length; k++) this.at(k);
    return this.values;
  }
}

// Curves per (orders, q, sigma): the server and devices ask for the same mechanism again and again.
const CACHE_MAX_ENTRIES = 64;
const CACHE_MAX_VALUES = 1 << 21; // 16 MiB of Float64
const cache = new Map<string, RdpCurve>();
let cachedValues = 0;
const orderIds = new WeakMap<readonly number[], number>();
let nextOrderId = 0;

function ordersKey(orders: readonly number[]): string {
  // Frozen arrays (the named sets) cannot change, so their identity is a sound key; others key on content.
  if (!Object.isFrozen(orders)) return orders.join(',');
  let id = orderIds.get(orders);
  if (id === undefined) orderIds.set(orders, (id = nextOrderId++));
  return `#${id}`;
}

/** The cached one-step RDP curve of (q, sigma) over `orders` (LRU, bounded in entries and memory). */
export function rdpCurve(q: number, sigma: number, orders: readonly number[]): RdpCurve {
  const key = `${q}|${sigma}|${ordersKey(orders)}`;
  const hit = cache.get(key);
  if (hit) {
    cache.delete(key); // re-insert: Map order is the LRU order
    cache.set(key, hit);
    return hit;
  }
  const curve = new RdpCurve(q, sigma, orders);
  cache.set(key, curve);
  cachedValues += orders.length;
  while (cache.size > 1 && (cache.size > CACHE_MAX_ENTRIES || cachedValues > CACHE_MAX_VALUES)) {
    const [oldKey, old] = cache.entries().next().value!;
    cache.delete(oldKey);
    cachedValues -= old.orders.length;
  }
  return curve;
}

/** RDP at each order after `steps` compositions of the Poisson-subsampled Gaussian mechanism. */
export function computeRdp(q: number, sigma: number, steps: number, orders: readonly number[]): number[] {
  checkSteps(steps);
  const one = rdpCurve(q, sigma, orders).all();
  return Array.from(one, (r) => scaleRdp(r, steps));
}

/** Throws unless steps is a finite number >= 0. */
export function checkSteps(steps: number): void {
  if (!(steps >= 0 && Number.isFinite(steps))) throw new RangeError(`steps must be >= 0, got ${steps}`);
}

/** steps * r, where 0 steps of even an infinite-RDP mechanism is no mechanism (0, not NaN). */
export function scaleRdp(r: number, steps: number): number {
  return steps === 0 ? 0 : r * steps;
}
