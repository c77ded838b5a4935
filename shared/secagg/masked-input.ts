/**
 * The client's masked input: the update's noised encoding in Z_{2^b} (encode.ts) plus the self mask and the
 * pairwise masks (masking.ts), packed for upload. One function so that the browser worker, the Node
 * simulated shoppers and the benchmarks run the same steps.
 */
import type { EncodingParams } from './calibration.ts';
import { encodeIntegers } from './encode.ts';
import { applyMasks, type MaskTerm } from './masking.ts';
import type { RandomWords } from './random.ts';
import { packRingTaking, toRingInPlace } from './ring.ts';
import type { Rotation } from './rotation.ts';

/** The upload bytes of the masked vector, and the unmasked ring input (a test seam; it never leaves). */
export interface MaskedVector {
  data: Uint8Array;
  input: Uint32Array;
}

/** Encodes `update` into Z_{2^b} and masks it with every term; the caller wipes the terms' seeds. */
export async function maskedVector(
  update: Float32Array,
  e: EncodingParams,
  rot: Rotation,
  terms: MaskTerm[],
  r?: RandomWords,
): Promise<MaskedVector> {
  // The integer encoding is reduced where it lies and kept as the unmasked input; the masked copy is the
  // only other d-sized vector, and at b = 16 its bytes are the upload (no packing copy).
  const input = toRingInPlace(encodeIntegers(update, e, rot, r), e.bits);
  // At b = 16 the masked vector is a Uint16Array: two elements per word in the mask loop. The values are
  // below 2^16, so set() copies them exactly.
  const y = e.bits === 16 ? new Uint16Array(input.length) : input.slice();
  if (y instanceof Uint16Array) y.set(input);
  await applyMasks(y, terms, e.bits);
  return { data: packRingTaking(y, e.bits), input };
}
