/**
 * Federated averaging math shared by the server and the offline evaluation: a running weighted sum of
 * deltas, staleness down-weighting, and the server optimizers (FedAvg step and FedAdam, Reddi et al. 2021).
 * Pure functions over typed arrays; callers own persistence.
 */

/**
 * Linear learning-rate decay: the full rate up to step `start`, then linearly down to `final` x the rate
 * at step `end`, and that from then on (a constant rate leaves the model as noisy as its last steps).
 */
export interface RateDecay {
  start: number;
  end: number;
  final: number;
}

/** Server optimizer settings. */
export type ServerOptimizer =
  | { kind: 'fedavg'; learningRate: number; decay?: RateDecay }
  | {
      kind: 'fedadam';
      learningRate: number;
      decay?: RateDecay;
      beta1: number;
      beta2: number;
      tau: number;
      /** Divide the moments by 1 - beta^step as Adam does (Reddi et al.'s FedAdam does not). */
      biasCorrection?: boolean;
    };

/** FedAdam moment estimates, one entry per global parameter. */
export interface AdamState {
  m: Float32Array;
  v: Float32Array;
}

/** Running aggregate of one round: sum of weighted deltas, total weight, contribution count. */
export interface Accumulator {
  sum: Float64Array;
  weight: number;
  count: number;
}

/** A fresh accumulator for `n` parameters. */
export function newAccumulator(n: number): Accumulator {
  return { sum: new Float64Array(n), weight: 0, count: 0 };
}

/**
 * Weight of an update based on a model `staleness` versions old: 1/(1+staleness)^alpha (polynomial
 * staleness discount of FedAsync, Xie et al. 2019); alpha = 0 treats stale updates as fresh.
 */
export function stalenessWeight(staleness: number, alpha: number): number {
  return Math.pow(1 + Math.max(0, staleness), -alpha);
}

/** Adds `weight * delta` into the accumulator in place (the hot loop of ingestion). */
export function accumulate(acc: Accumulator, delta: Float32Array, weight = 1): void {
  const s = acc.sum;
  const n = s.length;
  if (weight === 1) {
    for (let i = 0; i < n; i++) s[i]! += delta[i]!;
  } else {
    for (let i = 0; i < n; i++) s[i]! += weight * delta[i]!;
  }
  acc.weight += weight;
  acc.count += 1;
}

/** The weighted mean delta of the accumulator (zeros when empty). */
export function meanDelta(acc: Accumulator): Float32Array {
  const out = new Float32Array(acc.sum.length);
  if (acc.weight <= 0) return out;
  const inv = 1 / acc.weight;
  for (let i = 0; i < out.length; i++) out[i] = acc.sum[i]! * inv;
  return out;
}

/** A zeroed FedAdam state for `n` parameters. */
export function newAdamState(n: number): AdamState {
  return { m: new Float32Array(n), v: new Float32Array(n) };
}

/** The learning rate of step `step` (1-based) under an optional decay. */
export function decayedRate(rate: number, decay: RateDecay | undefined, step: number): number {
  if (!decay || step <= decay.start) return rate;
  const t = Math.min(1, (step - decay.start) / (decay.end - decay.start));
  return rate * (1 - t * (1 - decay.final));
}

/** Linear decay to 0 over the last `fraction` of `total` steps. */
export function decayOver(total: number, fraction: number): RateDecay {
  const start = Math.min(total - 1, Math.round(total * (1 - fraction)));
  return { start, end: total, final: 0 };
}

/**
 * Applies the mean delta to the global parameters in place with the server optimizer. For FedAdam the
 * mean delta is the pseudo-gradient (pointing towards the clients' models), so the step is added.
 * `step` counts server steps including this one (the new model version); bias correction and decay use it.
 */
export function applyServerStep(
  global: Float32Array,
  mean: Float32Array,
  opt: ServerOptimizer,
  adam?: AdamState,
  step = 1,
): void {
  const n = global.length;
  const rate = decayedRate(opt.learningRate, opt.decay, step);
  if (opt.kind === 'fedavg') {
    for (let i = 0; i < n; i++) global[i]! += rate * mean[i]!;
    return;
  }
  if (!adam) throw new Error('FedAdam needs its moment state');
  const { beta1, beta2, tau } = opt;
  const { m, v } = adam;
  // With bias correction, lr * (m / c1) / (sqrt(v / c2) + tau) = (lr * sqrt(c2) / c1) * m / (sqrt(v) + tau * sqrt(c2)).
  const c1 = opt.biasCorrection ? 1 - Math.pow(beta1, step) : 1;
  const c2 = opt.biasCorrection ? Math.sqrt(1 - Math.pow(beta2, step)) : 1;
  const learningRate = (rate * c2) / c1;
  const floor = tau * c2;
  for (let i = 0; i < n; i++) {
    const d = mean[i]!;
    const mi = beta1 * m[i]! + (1 - beta1) * d;
    const vi = beta2 * v[i]! + (1 - beta2) * d * d;
    m[i] = mi;
    v[i] = vi;
    global[i]! += (learningRate * mi) / (Math.sqrt(vi) + floor);
  }
}
