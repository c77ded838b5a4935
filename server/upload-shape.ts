/**
 * What one plain upload may look like, beyond its norm. Codec parameters are the server's (the manifest's
 * encoding and the protocol's int8 block size), never the uploader's; and the update's SHAPE is checked:
 * an honest update is a clipped delta (L2 <= C) plus Gaussian noise of per-client std s, so every
 * coordinate's noise is below a tail t = s * zc except with tiny probability, and whatever sticks out
 * above t must come from the clipped delta. Hence the "excess energy" test
 *
 *     sum_i max(0, |x_i| - t - e)^2  <=  C^2
 *
 * (e: the int8 rounding error, at most one block scale). An honest update fails it only when some noise
 * coordinate exceeds t: with zc = sqrt(z^2 + 2 ln d) that is below d * exp(-zc^2/2) = exp(-z^2/2), the
 * same tail the norm bound uses (privacy.normTailZ). Without device noise (s = 0) the test is the clip.
 * Putting a large norm into a few coordinates (the poisoning attack of issue 14) fails it.
 */
import { DEFAULT_BLOCK_SIZE } from '../shared/codec/tensor-codec.ts';
import type { TensorView } from '../shared/codec/tensor-codec.ts';
import { noiseStdPerClient } from '../shared/dp/noise.ts';
import { FedrankError } from '../shared/errors.ts';
import type { TrainingConfig } from '../shared/protocol.ts';
import { maxHonestNorm } from './ingest.ts';

/** The bounds every plain upload is held to, fixed by the configuration (never by the upload). */
export interface UploadBounds {
  /** The only int8 block size accepted: the protocol's, which every client encodes with. */
  blockSize: number;
  /** Encodings accepted: f32 always (exact), i8 only where the manifest asks for it. */
  encodings: ReadonlySet<'f32' | 'i8'>;
  /** L2 bound for an i8 upload and for an f32 upload. */
  normI8: number;
  normF32: number;
  /** Clip norm C: the largest excess energy's square root. */
  clip: number;
  /** Per-coordinate noise tail t = s * zc (0 without device noise). */
  tail: number;
  /** Largest int8 rounding error of an honest coordinate: one block scale, (C + t) / 127 rounded up. */
  quantError: number;
}

/** zc of the module comment: the per-coordinate tail whose union over d coordinates is exp(-z^2/2). */
export function coordinateTailZ(z: number, d: number): number {
  return Math.sqrt(z * z + 2 * Math.log(Math.max(1, d)));
}

/** The bounds for a model of `d` parameters under training config `t` and norm tail `z`. */
export function uploadBounds(t: TrainingConfig, d: number, z: number): UploadBounds {
  const s = noiseStdPerClient(t);
  const tail = s * coordinateTailZ(z, d);
  // 1e-6 relative slack covers float32 rounding, as in maxHonestNorm; 2^-16 the short-mantissa scale.
  const quantError = ((t.clipNorm + tail) / 127) * (1 + 2 ** -16) * (1 + 1e-6);
  const encodings = new Set<'f32' | 'i8'>(t.updateEncoding === 'i8' ? ['f32', 'i8'] : ['f32']);
  return {
    blockSize: DEFAULT_BLOCK_SIZE,
    encodings,
    normI8: maxHonestNorm(t, d, z, DEFAULT_BLOCK_SIZE),
    normF32: maxHonestNorm(t, d, z, 0),
    clip: t.clipNorm * (1 + 1e-6),
    tail: tail * (1 + 1e-6),
    quantError,
  };
}

/** Refuses codec parameters the configuration did not choose (UPDATE_BAD_ENCODING). */
export function checkCodec(view: TensorView, b: UploadBounds): void {
  const enc = view.header.encoding;
  if (!b.encodings.has(enc))
    throw new FedrankError('UPDATE_BAD_ENCODING', `${enc} is not an accepted update encoding`);
  if (enc === 'i8' && view.blockSize !== b.blockSize)
    throw new FedrankError('UPDATE_BAD_ENCODING', `block size ${view.blockSize}, expected ${b.blockSize}`);
}

/** sum_i max(0, |x_i| - threshold)^2 over the decoded update (float64). */
export function excessEnergy(v: TensorView, threshold: number): number {
  let e = 0;
  if ('values' in v) {
    for (const x of v.values) {
      const a = Math.abs(x) - threshold;
      if (a > 0) e += a * a;
    }
    return e;
  }
  const { q, scales, blockSize } = v;
  for (let start = 0, b = 0; start < q.length; start += blockSize, b++) {
    const s = scales[b]!;
    // The block's largest value is 127 * s: most blocks are skipped without a scan.
    if (127 * s <= threshold) continue;
    const end = Math.min(q.length, start + blockSize);
    for (let i = start; i < end; i++) {
      const a = Math.abs(q[i]! * s) - threshold;
      if (a > 0) e += a * a;
    }
  }
  return e;
}

/** Refuses an update whose coordinates stick out of the noise by more than the clip (UPDATE_OUT_OF_SHAPE). */
export function checkShape(view: TensorView, b: UploadBounds): void {
  const threshold = b.tail + (view.blockSize > 0 ? b.quantError : 0);
  const e = excessEnergy(view, threshold);
  if (!(Math.sqrt(e) <= b.clip))
    throw new FedrankError(
      'UPDATE_OUT_OF_SHAPE',
      `energy above the noise tail ${threshold.toPrecision(4)} is ${Math.sqrt(e).toPrecision(4)}, clip ${b.clip}`,
    );
}
