/**
 * Adaptive clipping (Andrew, Thakkar, McMahan & Ramaswamy, NeurIPS 2021): the clip norm follows a privately
 * estimated quantile of the clients' update norms instead of a constant chosen by hand.
 *
 * Each round every client also reports one bit, b = 1 when its update norm is at most the round's clip C.
 * The bit travels as ONE extra coordinate of the same secure sum as the update, (b - 1/2) * r * C, so the
 * concatenated vector has L2 sensitivity C * sqrt(1 + r^2 / 4) and the round's noise (multiplier z on that
 * sensitivity) covers both: nothing new to account, only a slightly larger sensitivity. The server decodes
 * the noised count of clipped-under clients and moves C geometrically towards the target quantile:
 * C <- C * exp(-eta * (fraction - gamma)).
 *
 * Pure functions: the client computes its coordinate, the server its next clip, the accountant the noise
 * split; what they share is this file.
 */

/** Settings of the quantile-tracking clip. */
export interface AdaptiveClipConfig {
  /** gamma: the quantile of update norms the clip tracks (0.5: the median). */
  targetQuantile: number;
  /** eta: geometric step of the clip per round (Andrew et al. use 0.2). */
  learningRate: number;
  /** Std of the noise on the round's count of clipped-under clients (Andrew et al.: cohort / 20). */
  countNoiseStd: number;
  /** The clip never leaves [minClip, maxClip] (a hostile or unlucky noise draw cannot run it away). */
  minClip: number;
  maxClip: number;
}

function check(c: AdaptiveClipConfig): void {
  if (!(c.targetQuantile > 0 && c.targetQuantile < 1))
    throw new RangeError(`targetQuantile must be in (0, 1), got ${c.targetQuantile}`);
  if (!(c.learningRate > 0 && Number.isFinite(c.learningRate)))
    throw new RangeError(`learningRate must be a finite number > 0, got ${c.learningRate}`);
  if (!(c.countNoiseStd > 0 && Number.isFinite(c.countNoiseStd)))
    throw new RangeError(`countNoiseStd must be a finite number > 0, got ${c.countNoiseStd}`);
  if (!(c.minClip > 0 && c.minClip <= c.maxClip && Number.isFinite(c.maxClip)))
    throw new RangeError(`need 0 < minClip <= maxClip < Infinity, got [${c.minClip}, ${c.maxClip}]`);
}

/**
 * The ratio r of the bit coordinate to the clip so that noise multiplier z on the concatenated vector puts
 * noise of std `countNoiseStd` on the count: z * sqrt(1 + r^2/4) / r = countNoiseStd. Needs countNoiseStd > z/2
 * (below that no r exists: the bit's own sensitivity 1/2 already gets more noise than asked).
 */
export function bitRatio(sigma: number, countNoiseStd: number): number {
  if (!(sigma > 0 && Number.isFinite(sigma))) throw new RangeError(`sigma must be > 0, got ${sigma}`);
  if (!(countNoiseStd > sigma / 2))
    throw new RangeError(`countNoiseStd must exceed sigma / 2 = ${sigma / 2}, got ${countNoiseStd}`);
  return sigma / Math.sqrt(countNoiseStd * countNoiseStd - (sigma * sigma) / 4);
}

/**
 * The noise multiplier the UPDATE effectively gets once the bit shares its sum: z * sqrt(1 + r^2/4), i.e.
 * (z^-2 - (2 countNoiseStd)^-2)^-1/2, Andrew et al.'s Theorem 1 read backwards. The accountant keeps z
 * (the concatenated vector's multiplier); this is what the model's noise costs relative to a fixed clip.
 */
export function updateNoiseMultiplier(sigma: number, countNoiseStd: number): number {
  const r = bitRatio(sigma, countNoiseStd);
  return sigma * Math.sqrt(1 + (r * r) / 4);
}

/**
 * The noise multiplier of the joint release when the update gets multiplier `updateSigma` and the count
 * noise std `countNoiseStd` (Andrew et al., Theorem 1): (updateSigma^-2 + (2 countNoiseStd)^-2)^-1/2.
 * This is the sigma the accountant composes.
 */
export function jointNoiseMultiplier(updateSigma: number, countNoiseStd: number): number {
  if (!(updateSigma > 0) || !(countNoiseStd > 0))
    throw new RangeError('noise multipliers of the update and the count must be > 0');
  return 1 / Math.sqrt(updateSigma ** -2 + (2 * countNoiseStd) ** -2);
}

/** The client's extra coordinate: (b - 1/2) * r * clip, b = 1 when its update norm is within the clip. */
export function clipBitCoordinate(updateNorm: number, clip: number, ratio: number): number {
  if (!Number.isFinite(updateNorm)) throw new RangeError('update norm must be finite');
  return ((updateNorm <= clip ? 1 : 0) - 0.5) * ratio * clip;
}

/**
 * The server's next clip from the round's noised SUM of bit coordinates over `contributions` clients: the
 * sum decodes to (count under the clip) - contributions/2, plus noise of std countNoiseStd.
 */
export function nextClip(
  clip: number,
  noisedBitSum: number,
  contributions: number,
  ratio: number,
  config: AdaptiveClipConfig,
): number {
  check(config);
  if (!(contributions >= 1)) throw new RangeError(`contributions must be >= 1, got ${contributions}`);
  if (!Number.isFinite(noisedBitSum)) throw new RangeError('noised bit sum must be finite');
  const fraction = noisedBitSum / (ratio * clip) / contributions + 0.5;
  const next = clip * Math.exp(-config.learningRate * (fraction - config.targetQuantile));
  return Math.min(config.maxClip, Math.max(config.minClip, next));
}
