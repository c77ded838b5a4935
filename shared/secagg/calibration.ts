/**
 * Parameters of the distributed discrete Gaussian encoding (Kairouz, Liu & Steinke, ICML 2021), chosen from
 * the training settings: the scale gamma (real -> integer), the per-client discrete Gaussian variance, the
 * L2 bound of conditional randomized rounding, and the ring width b.
 *
 * Noise: each client adds N_Z(0, s2) with s2 = ceil(z^2 * Delta^2 / m), so the sum over any m honest
 * survivors carries variance >= (z * Delta)^2, where Delta is the L2 sensitivity after rounding (in integer
 * units) and m the fewest survivors the server may unmask (the noise threshold).
 * Range: a coordinate of the sum over up to nMax clients has std at most
 *   sqrt(nMax * s2 + (nMax * gamma * C)^2 / d + nMax / 4)
 * (noise; the rotated sum of nMax aligned clipped updates, which the rotation spreads evenly; rounding).
 * gamma is the largest value with tail * std <= 2^(b-1) - 1, so a coordinate wraps with probability about
 * erfc(tail / sqrt 2) (tail = 6: 2e-9). b is the smallest width at which rounding inflates the
 * sensitivity by at most `maxInflation` (the rest of the privacy cost of integer encoding).
 */
import { MAX_DG_VARIANCE } from './discrete-gaussian.ts';
import { MAX_RING_BITS } from './ring.ts';

/** What the encoding is planned from. */
export interface EncodingInput {
  /** Parameters of the model update. */
  d: number;
  /** L2 clip bound C of one update. */
  clipNorm: number;
  /** Noise multiplier z: the sum over m survivors has noise std z * Delta. */
  noiseMultiplier: number;
  /** Noise threshold m: the fewest survivors the server may unmask. */
  noiseClients: number;
  /** Most clients whose inputs can be summed in one round (sizes the range). */
  maxClients: number;
  /** Coordinate std multiples the ring must hold (default 6). */
  tailSigmas?: number;
  /** Probability bound beta of the rounding norm check (default exp(-1/2), as in KLS). */
  roundingBeta?: number;
}

/** The public encoding of a round: every client and the server use these exact values. */
export interface EncodingParams {
  d: number;
  bits: number;
  /** Real -> integer scale gamma. */
  scale: number;
  clipNorm: number;
  /** Per-client discrete Gaussian variance (integer; 0: no noise). */
  noiseVariance: number;
  /** Squared L2 bound of the rounded, scaled update; rounding is redrawn above it. */
  normBoundSq: number;
}

/** A plan with the figures it was chosen by. */
export interface EncodingPlan extends EncodingParams {
  /** L2 sensitivity after rounding, in units of the clip (Delta / (gamma C) >= 1). */
  inflation: number;
  /** Std of one coordinate of the sum over maxClients (integer units). */
  sumStd: number;
  /** Noise std of the sum over m survivors, in units of the clip (model units / C). */
  noiseStdOverClip: number;
}

const DEFAULT_TAIL = 6;
const DEFAULT_BETA = Math.exp(-0.5);

/** Squared L2 bound after conditional randomized rounding (KLS, Theorem 2 / eq. (9)). */
export function roundedNormBoundSq(scale: number, clipNorm: number, d: number, beta: number): number {
  const gc = scale * clipNorm;
  const a = gc * gc + d / 4 + Math.sqrt(2 * Math.log(1 / beta)) * (gc + Math.sqrt(d) / 2);
  const b = (gc + Math.sqrt(d)) ** 2;
  return Math.min(a, b);
}

function check(input: EncodingInput): void {
  const { d, clipNorm, noiseMultiplier, noiseClients, maxClients } = input;
  if (!(Number.isInteger(d) && d >= 1)) throw new RangeError(`d must be a positive integer, got ${d}`);
  if (!(clipNorm > 0 && Number.isFinite(clipNorm))) throw new RangeError(`clipNorm must be > 0`);
  if (!(noiseMultiplier >= 0 && Number.isFinite(noiseMultiplier)))
    throw new RangeError(`noiseMultiplier must be >= 0`);
  if (!(Number.isInteger(noiseClients) && noiseClients >= 1))
    throw new RangeError(`noiseClients must be >= 1`);
  if (!(Number.isInteger(maxClients) && maxClients >= noiseClients))
    throw new RangeError(`maxClients must be >= noiseClients`);
}

/** The plan at ring width `bits`, or null when no scale fits (the ring is too narrow). */
export function planEncoding(input: EncodingInput, bits: number): EncodingPlan | null {
  check(input);
  const { d, clipNorm: c, noiseMultiplier: z, noiseClients: m, maxClients: n } = input;
  const tail = input.tailSigmas ?? DEFAULT_TAIL;
  const beta = input.roundingBeta ?? DEFAULT_BETA;
  const limit = 2 ** (bits - 1) - 1;
  const variance = (g: number): number => Math.ceil((z * z * roundedNormBoundSq(g, c, d, beta)) / m);
  const std = (g: number): number => Math.sqrt(n * variance(g) + (n * g * c) ** 2 / d + n / 4);
  const fits = (g: number): boolean => tail * std(g) <= limit && variance(g) <= MAX_DG_VARIANCE;
  let lo = 0;
  let hi = 2 ** bits / c;
  if (!fits(1e-9)) return null;
  for (let i = 0; i < 200; i++) {
    const mid = (lo + hi) / 2;
    if (fits(mid)) lo = mid;
    else hi = mid;
  }
  const scale = lo;
  if (!(scale > 0)) return null;
  const normBoundSq = roundedNormBoundSq(scale, c, d, beta);
  const delta = Math.sqrt(normBoundSq);
  const noiseVariance = variance(scale);
  return {
    d,
    bits,
    scale,
    clipNorm: c,
    noiseVariance,
    normBoundSq,
    inflation: delta / (scale * c),
    sumStd: std(scale),
    noiseStdOverClip: Math.sqrt(m * noiseVariance) / (scale * c),
  };
}

/**
 * The narrowest ring (8..32 bits) whose plan inflates the sensitivity by at most `maxInflation`
 * (default 1.02), with that plan. Throws when even 32 bits cannot.
 */
export function chooseBits(input: EncodingInput, maxInflation = 1.02): EncodingPlan {
  for (let b = 8; b <= MAX_RING_BITS; b++) {
    const p = planEncoding(input, b);
    if (p && p.inflation <= maxInflation) return p;
  }
  throw new RangeError('no ring width up to 32 bits holds this encoding');
}
