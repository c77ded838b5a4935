/**
 * Renyi-DP of the mechanisms fedrank runs WITHOUT sampling (no amplification is ever assumed here):
 * the Gaussian mechanism, the discrete Gaussian with integer L2 sensitivity (Canonne, Kamath & Steinke 2020),
 * single-epoch tree aggregation for DP-FTRL (Kairouz et al., ICML 2021; dp_accounting's
 * compute_rdp_tree_restart), and the sum of n independent discrete Gaussians (Kairouz, Liu & Steinke,
 * ICML 2021, Proposition 14), which is what secure aggregation with n honest survivors releases.
 * Each mechanism is an RDP curve (order -> RDP of ONE release); composition adds curves, and rdpToEpsilon
 * converts as dp_accounting does (improved conversion over its default orders).
 */
import { rdpToEpsilon, type EpsilonResult } from './convert.ts';
import { DEFAULT_ORDERS } from './rdp.ts';

/** RDP of one release at order alpha (>= 1); Infinity where it has none. */
export type RdpCurveFn = (alpha: number) => number;

function positive(name: string, x: number): void {
  if (!(x > 0 && Number.isFinite(x))) throw new RangeError(`${name} must be a finite number > 0, got ${x}`);
}

function positiveInteger(name: string, x: number): void {
  if (!(Number.isInteger(x) && x >= 1)) throw new RangeError(`${name} must be an integer >= 1, got ${x}`);
}

/** Gaussian mechanism with noise multiplier sigma (noise std / L2 sensitivity): RDP alpha / (2 sigma^2). */
export function gaussianRdp(sigma: number): RdpCurveFn {
  if (sigma === 0) return () => Infinity;
  positive('noise multiplier sigma', sigma);
  return (alpha) => alpha / (2 * sigma * sigma);
}

/**
 * Discrete Gaussian N_Z(0, sigma^2) per coordinate on an integer-valued query of integer L2 sensitivity
 * `sensitivity`: (alpha, alpha Delta^2 / (2 sigma^2))-RDP, as for the continuous one (CKS 2020, Thm 14/15).
 */
export function discreteGaussianRdp(sigma: number, sensitivity: number): RdpCurveFn {
  positive('discrete Gaussian sigma', sigma);
  positiveInteger('integer L2 sensitivity', sensitivity);
  return (alpha) => (alpha * sensitivity * sensitivity) / (2 * sigma * sigma);
}

/** Depth of the binary tree over `steps` leaves as dp_accounting counts it: ceil(log2(steps + 1)). */
export function treeDepth(steps: number): number {
  positiveInteger('tree step count', steps);
  return Math.ceil(Math.log2(steps + 1));
}

/**
 * Tree aggregation (DP-FTRL) restarted after each of `stepCounts` epochs, every record at most once over all
 * trees (REPLACE_SPECIAL neighbours): a record touches at most depth nodes of one tree, each with noise
 * multiplier sigma, so RDP is alpha * depth / (2 sigma^2) with depth of the longest tree.
 */
export function treeAggregationRdp(sigma: number, stepCounts: number | readonly number[]): RdpCurveFn {
  const counts = typeof stepCounts === 'number' ? [stepCounts] : stepCounts;
  if (counts.length === 0) throw new RangeError('tree aggregation needs at least one step count');
  const depth = Math.max(...counts.map(treeDepth));
  if (sigma === 0) return () => Infinity;
  positive('noise multiplier sigma', sigma);
  return (alpha) => (alpha * depth) / (2 * sigma * sigma);
}

/** Inputs of distributedDiscreteGaussianRdp, all in the integer units the clients add noise in. */
export interface DistributedDiscreteGaussian {
  /** Scale of each client's discrete Gaussian, N_Z(0, sigma^2) per coordinate (>= 1/2). */
  sigma: number;
  /** Honest clients whose noise is in the sum (the secure-aggregation threshold t). */
  clients: number;
  /** L2 sensitivity of one client's integer vector (after scaling and rounding). */
  l2: number;
  /** L1 sensitivity; sqrt(dimension) * l2 when absent (Cauchy-Schwarz). */
  l1?: number;
  /** Number of coordinates. */
  dimension: number;
}

/** tau = 10 sum_{k=1}^{n-1} exp(-2 pi^2 sigma^2 k/(k+1)): how far a sum of n discrete Gaussians is from one. */
export function ddgTau(sigma: number, n: number): number {
  let tau = 0;
  for (let k = 1; k < n; k++) tau += Math.exp((-2 * Math.PI ** 2 * sigma * sigma * k) / (k + 1));
  return 10 * tau;
}

/**
 * RDP of the sum of n independent discrete Gaussians (KLS 2021, Prop. 14): the least of
 * alpha D2^2/(2 n s^2) + tau d, alpha/2 (D2^2/(n s^2) + 2 D1 tau/(sqrt(n) s) + tau^2 d) and
 * alpha/2 (D2/(sqrt(n) s) + tau sqrt(d))^2, for sigma >= 1/2.
 */
export function distributedDiscreteGaussianRdp(m: DistributedDiscreteGaussian): RdpCurveFn {
  const { sigma, clients: n, l2, dimension: d } = m;
  if (!(sigma >= 0.5 && Number.isFinite(sigma)))
    throw new RangeError(`each client's discrete Gaussian sigma must be >= 1/2, got ${sigma}`);
  positiveInteger('number of honest clients', n);
  positiveInteger('dimension', d);
  positive('L2 sensitivity', l2);
  const l1 = m.l1 ?? Math.sqrt(d) * l2;
  positive('L1 sensitivity', l1);
  const tau = ddgTau(sigma, n);
  const sd = Math.sqrt(n) * sigma;
  const r2 = (l2 * l2) / (sd * sd);
  return (alpha) =>
    Math.min(
      (alpha / 2) * r2 + tau * d,
      (alpha / 2) * (r2 + (2 * l1 * tau) / sd + tau * tau * d),
      (alpha / 2) * (l2 / sd + tau * Math.sqrt(d)) ** 2,
    );
}

/**
 * L2 sensitivity after conditional randomized rounding to integers (KLS 2021, Sec. 4): a vector of norm at
 * most c (in integer units, after scaling) rounds to one of norm at most c + sqrt(d), and rounding is
 * retried until the norm is at most sqrt(c^2 + d/4 + sqrt(2 ln(1/beta)) (c + sqrt(d)/2)), which a first draw
 * passes with probability >= 1 - beta. The least of the two is the `l2` to account with.
 */
export function roundedL2Bound(c: number, dimension: number, beta: number): number {
  positive('scaled clip norm', c);
  positiveInteger('dimension', dimension);
  if (!(beta >= 0 && beta < 1)) throw new RangeError(`beta must be in [0, 1), got ${beta}`);
  const rootD = Math.sqrt(dimension);
  const always = c + rootD;
  if (beta === 0) return always;
  const conditioned = Math.sqrt(c * c + dimension / 4 + Math.sqrt(2 * Math.log(1 / beta)) * (c + rootD / 2));
  return Math.min(always, conditioned);
}

/** One mechanism composed `times` times (0 = not run). */
export interface Composed {
  rdp: RdpCurveFn;
  times: number;
}

/** RDP of the composition, per order: the curves add up. */
export function composeRdp(parts: readonly Composed[], orders: readonly number[] = DEFAULT_ORDERS): number[] {
  for (const p of parts)
    if (!(Number.isInteger(p.times) && p.times >= 0))
      throw new RangeError(`composition count must be an integer >= 0, got ${p.times}`);
  return orders.map((a) => parts.reduce((s, p) => (p.times === 0 ? s : s + p.times * p.rdp(a)), 0));
}

/** (epsilon, delta) of the composition, converted as dp_accounting does (improved, default orders). */
export function composedEpsilon(
  parts: readonly Composed[],
  delta: number,
  orders: readonly number[] = DEFAULT_ORDERS,
): EpsilonResult {
  return rdpToEpsilon(orders, composeRdp(parts, orders), delta);
}
