/**
 * Exact sampler of the discrete Gaussian N_Z(0, sigma^2) (Canonne, Kamath & Steinke, "The Discrete Gaussian
 * for Differential Privacy", NeurIPS 2020, Algorithms 1-3): Bernoulli(exp(-gamma)) for rational gamma, the
 * discrete Laplace by rejection, then the discrete Gaussian by rejection from the discrete Laplace. Only
 * integer arithmetic on exact uniform draws (no floating-point exp), with sigma^2 an integer.
 */
import { RandomWords } from './random.ts';

/** Largest supported variance: keeps every intermediate below 2^53 (or in the BigInt fallback). */
export const MAX_DG_VARIANCE = 2 ** 24;

/** Bernoulli(exp(-num/den)) for 0 <= num/den <= 1 (CKS Algorithm 1, first case). */
function bernExpNegAtMostOne(r: RandomWords, num: number, den: number): boolean {
  let k = 1;
  // Bernoulli(gamma / k) as Bernoulli(gamma) and Bernoulli(1/k): exact without a growing denominator.
  while (r.bernoulli(num, den) && r.bernoulli(1, k)) k++;
  return k % 2 === 1;
}

/** Bernoulli(exp(-q - num/den)) for an integer q >= 0 and 0 <= num < den (CKS Algorithm 1). */
function bernExpNeg(r: RandomWords, q: number, num: number, den: number): boolean {
  for (let i = 0; i < q; i++) if (!bernExpNegAtMostOne(r, 1, 1)) return false;
  return bernExpNegAtMostOne(r, num, den);
}

/** Discrete Laplace with scale t (integer >= 1): P(x) proportional to exp(-|x|/t) (CKS Algorithm 2). */
export function sampleDiscreteLaplace(r: RandomWords, t: number): number {
  for (;;) {
    const u = r.below(t);
    if (!bernExpNeg(r, 0, u, t)) continue;
    let v = 0;
    while (bernExpNegAtMostOne(r, 1, 1)) v++;
    const x = u + t * v;
    const negative = r.bernoulli(1, 2);
    if (negative && x === 0) continue;
    return negative ? -x : x;
  }
}

/** gamma = (|y| t - s2)^2 / (2 s2 t^2) split as q + num/den, exactly (BigInt once the square leaves 2^53). */
function acceptExponent(absY: number, t: number, s2: number): [number, number, number] {
  const den = 2 * s2 * t * t;
  const a = absY * t - s2;
  if (Math.abs(a) < 94906265) {
    const sq = a * a; // < 2^53
    return [Math.floor(sq / den), sq % den, den];
  }
  const sq = BigInt(a) * BigInt(a);
  const d = BigInt(den);
  return [Number(sq / d), Number(sq % d), den];
}

/** One draw of N_Z(0, s2) for an integer variance 1 <= s2 <= MAX_DG_VARIANCE (CKS Algorithm 3). */
export function sampleDiscreteGaussian(r: RandomWords, s2: number): number {
  const t = Math.floor(Math.sqrt(s2)) + 1;
  for (;;) {
    const y = sampleDiscreteLaplace(r, t);
    const [q, num, den] = acceptExponent(Math.abs(y), t, s2);
    if (bernExpNeg(r, q, num, den)) return y;
  }
}

/** Adds N_Z(0, s2) to every entry of `out` in place; s2 = 0 adds nothing. */
export function addDiscreteGaussian(out: Int32Array, s2: number, r: RandomWords = new RandomWords()): void {
  if (s2 === 0) return;
  if (!(Number.isInteger(s2) && s2 >= 1 && s2 <= MAX_DG_VARIANCE))
    throw new RangeError(`discrete Gaussian variance must be an integer in 1..${MAX_DG_VARIANCE}, got ${s2}`);
  for (let i = 0; i < out.length; i++) out[i] = out[i]! + sampleDiscreteGaussian(r, s2);
}
