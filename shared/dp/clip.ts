/** L2 clipping of a whole model delta: the per-client sensitivity bound the Gaussian noise is calibrated to. */

/** The L2 norm of v, accumulated in double precision. */
export function l2Norm(v: Float32Array): number {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i]! * v[i]!;
  return Math.sqrt(s);
}

/**
 * The factor that brings a vector of L2 norm `norm` within `bound`: bound / norm above it, else 1. Throws
 * RangeError when the norm is not finite (NaN or Infinity in the vector) or the bound is not positive.
 * For callers that fold the factor into a later pass instead of scaling a copy (the secure encoding).
 */
export function clipFactor(norm: number, bound: number): number {
  if (!(bound > 0 && Number.isFinite(bound))) throw new RangeError(`clip bound must be > 0, got ${bound}`);
  if (!Number.isFinite(norm)) throw new RangeError('cannot clip a delta holding NaN or Infinity');
  return norm > bound ? bound / norm : 1;
}

/**
 * Scales v down (never up) so its L2 norm is at most `bound`. Returns a new array; `norm` is the norm before
 * clipping, `factor` the scale applied (1 when no clipping was needed). Throws RangeError when v holds NaN or
 * Infinity (its norm, hence its sensitivity, would be unbounded) or the bound is not a positive number.
 */
export function clipL2(
  v: Float32Array,
  bound: number,
): { clipped: Float32Array; norm: number; factor: number } {
  const clipped = Float32Array.from(v);
  return { clipped, ...clipPartsInPlace([clipped], bound) };
}

/**
 * clipL2 for a vector held as several parts (e.g. the touched rows of a sparse delta and its dense tail;
 * zeros elsewhere do not change the norm): scales every part in place by the same factor.
 */
export function clipPartsInPlace(parts: Float32Array[], bound: number): { norm: number; factor: number } {
  const normOf = (): number => Math.sqrt(parts.reduce((s, p) => s + l2Norm(p) ** 2, 0));
  const norm = normOf();
  let factor = clipFactor(norm, bound);
  if (factor < 1) {
    scaleParts(parts, factor);
    // Rounding to float32 can leave the result a hair above the bound; shave it so the bound is strict.
    const after = normOf();
    if (after > bound) {
      const shave = (bound / after) * (1 - 2 ** -23);
      scaleParts(parts, shave);
      factor *= shave;
    }
  }
  return { norm, factor };
}

function scaleParts(parts: Float32Array[], f: number): void {
  for (const p of parts) for (let i = 0; i < p.length; i++) p[i] = p[i]! * f;
}
