/**
 * From Renyi-DP to (epsilon, delta)-DP: the classic conversion (Mironov 2017) and the improved one of Balle et
 * al. 2020 (as dp_accounting's compute_epsilon), either over a whole RDP vector or by branch and bound over a
 * long, sorted order list whose RDP is computed only where it can matter.
 */

/** The (epsilon, delta) conversion: classic (Mironov 2017) or improved (Balle et al. 2020, dp_accounting). */
export type Conversion = 'improved' | 'classic';

/** Epsilon and the order attaining it. */
export interface EpsilonResult {
  epsilon: number;
  order: number;
}

function checkDelta(delta: number): void {
  if (!(delta >= 0 && delta <= 1)) throw new RangeError(`delta must be in [0, 1], got ${delta}`);
}

function checkConversion(conversion: string): void {
  if (conversion !== 'improved' && conversion !== 'classic')
    throw new RangeError(`conversion must be 'improved' or 'classic', got '${conversion}'`);
}

/**
 * Epsilon at one order a with RDP r, before the final clamp at 0 (delta > 0). Improved: r + ln(1 - 1/a) -
 * (ln(delta) + ln(a))/(a-1) for a > 1.01, 0 where delta^2 + expm1(-r) > 0 (KL bound) or r < 0; classic:
 * r + ln(1/delta)/(a-1). Infinity where the order is unusable.
 */
export function epsilonAtOrder(a: number, r: number, delta: number, conversion: Conversion): number {
  let eps: number;
  if (conversion === 'classic') {
    eps = a === 1 ? Infinity : r - Math.log(delta) / (a - 1);
  } else if (r < 0) {
    eps = 0; // numerical noise of an extreme mechanism, as dp_accounting treats it
  } else if (delta ** 2 + Math.expm1(-r) > 0) {
    eps = 0; // delta <= sqrt(1 - exp(-KL))
  } else if (a > 1.01) {
    eps = r + Math.log1p(-1 / a) - Math.log(delta * a) / (a - 1); // unstable as a -> 1, hence the 1.01
  } else {
    eps = Infinity;
  }
  return Number.isNaN(eps) ? Infinity : eps;
}

/** Epsilon and order when delta = 0: only a mechanism with zero RDP everywhere is (0, 0)-DP. */
function zeroDelta(n: number, rdpAt: (k: number) => number): EpsilonResult {
  for (let k = 0; k < n; k++) if (rdpAt(k) !== 0) return { epsilon: Infinity, order: 0 };
  return { epsilon: 0, order: 0 };
}

/**
 * Converts RDP values to (epsilon, delta)-DP: the minimum over orders of the chosen conversion (the first
 * order attaining it, like numpy's argmin), clamped at 0.
 */
export function rdpToEpsilon(
  orders: readonly number[],
  rdp: ArrayLike<number>,
  delta: number,
  conversion: Conversion = 'improved',
): EpsilonResult {
  if (orders.length !== rdp.length) throw new RangeError('orders and rdp must have the same length');
  if (orders.length === 0) throw new RangeError('at least one order is needed');
  checkDelta(delta);
  checkConversion(conversion);
  for (const a of orders) if (!(a >= 1)) throw new RangeError(`RDP order must be >= 1, got ${a}`);
  if (delta === 0) return zeroDelta(rdp.length, (k) => rdp[k]!);
  let best = Infinity;
  let bestIndex = 0;
  for (let k = 0; k < orders.length; k++) {
    const eps = epsilonAtOrder(orders[k]!, rdp[k]!, delta, conversion);
    if (eps < best) {
      best = eps;
      bestIndex = k;
    }
  }
  return { epsilon: Math.max(0, best), order: orders[bestIndex]! };
}

/**
 * A lower bound on epsilon over all orders in [a, b] whose RDP is at least rLow. The order term of the improved conversion, c(a) = ln(1 - 1/a) - ln(delta a)/(a-1), has derivative
 * ln(delta a)/(a-1)^2: it falls until a = 1/delta and rises after, so its minimum on [a, b] is at
 * clamp(1/delta, a, b). The classic term ln(1/delta)/(a-1) falls throughout.
 */
function intervalLowerBound(
  a: number,
  b: number,
  rLow: number,
  delta: number,
  conversion: Conversion,
): number {
  let lb: number;
  if (conversion === 'classic') {
    lb = b === 1 ? Infinity : rLow - Math.log(delta) / (b - 1);
  } else {
    const lo = Math.max(a, 1.01); // orders up to 1.01 give Infinity, bar the branches giving 0 below
    const at = Math.min(b, Math.max(lo, 1 / delta));
    lb = b <= 1.01 ? Infinity : rLow + Math.log1p(-1 / at) - Math.log(delta * at) / (at - 1);
    lb -= 1e-9 * (1 + Math.abs(lb)); // rounding slack, so pruning never drops a true minimum
    // The KL and r < 0 branches give exactly 0 wherever r may still be below the KL threshold.
    if (!(rLow > -Math.log1p(-(delta ** 2)) * (1 + 1e-6))) lb = Math.min(0, lb);
    return lb;
  }
  return lb - 1e-9 * (1 + Math.abs(lb));
}

const LEAF = 16;
const FAN_OUT = 8;

/**
 * rdpToEpsilon over a long list of strictly increasing orders, evaluating RDP (via `rdpAt(k)`) only where the
 * minimum can be: a coarse grid first, then every interval whose lower bound does not exceed the best epsilon
 * so far is refined. `rdpFloor(a)` must bound rdpAt from below at every order >= a. (rdpAt itself need not be
 * monotone: dp_accounting's fractional orders overestimate, sometimes above the next integer order's exact
 * value, so the bound comes from the exact RDP at an integer order <= a.) Same result as the full conversion;
 * orders that are not strictly increasing fall back to it.
 */
export function minEpsilonOverOrders(
  orders: readonly number[],
  rdpAt: (k: number) => number,
  rdpFloor: (alpha: number) => number,
  delta: number,
  conversion: Conversion = 'improved',
): EpsilonResult {
  const n = orders.length;
  if (n === 0) throw new RangeError('at least one order is needed');
  checkDelta(delta);
  checkConversion(conversion);
  let sorted = orders[0]! >= 1;
  for (let k = 1; k < n && sorted; k++) sorted = orders[k]! > orders[k - 1]!;
  if (!sorted || n <= 4 * LEAF)
    return rdpToEpsilon(
      orders,
      Array.from({ length: n }, (_, k) => rdpAt(k)),
      delta,
      conversion,
    );
  if (delta === 0) return zeroDelta(n, rdpAt);

  const done = new Uint8Array(n);
  let best = Infinity;
  let bestIndex = 0;
  const evaluate = (k: number): void => {
    if (done[k]) return;
    done[k] = 1;
    const eps = epsilonAtOrder(orders[k]!, rdpAt(k), delta, conversion);
    if (eps < best || (eps === best && k < bestIndex)) {
      best = eps;
      bestIndex = k;
    }
  };

  type Interval = { lo: number; hi: number; lb: number };
  const make = (lo: number, hi: number): Interval => {
    evaluate(lo);
    evaluate(hi);
    const rLow = rdpFloor(orders[lo]!);
    return { lo, hi, lb: intervalLowerBound(orders[lo]!, orders[hi]!, rLow, delta, conversion) };
  };
  const split = (iv: { lo: number; hi: number }, parts: number): Interval[] => {
    const out: Interval[] = [];
    const width = iv.hi - iv.lo;
    let prev = iv.lo;
    for (let p = 1; p <= parts; p++) {
      const next = p === parts ? iv.hi : iv.lo + Math.round((width * p) / parts);
      if (next > prev) out.push(make(prev, next));
      prev = next;
    }
    return out;
  };

  let level = split({ lo: 0, hi: n - 1 }, Math.min(128, n - 1));
  while (level.length > 0) {
    level.sort((x, y) => x.lb - y.lb); // most promising first, so `best` tightens early
    const next: Interval[] = [];
    for (const iv of level) {
      // Skip what cannot beat the best, or can only tie it at a later order (the first minimum wins).
      if (iv.hi - iv.lo <= 1 || iv.lb > best || (iv.lb >= best && iv.lo >= bestIndex)) continue;
      if (iv.hi - iv.lo <= LEAF) for (let k = iv.lo + 1; k < iv.hi; k++) evaluate(k);
      else next.push(...split(iv, FAN_OUT));
    }
    level = next;
  }
  return { epsilon: Math.max(0, best), order: orders[bestIndex]! };
}
