/**
 * The client's encoding of a model update into Z_{2^b} and the server's decoding of the unmasked sum
 * (distributed discrete Gaussian, Kairouz, Liu & Steinke, ICML 2021):
 *   clip to C -> rotate (round seed) -> scale by gamma -> conditional randomized rounding -> + N_Z(0, s2)
 *   -> mod 2^b;   server: centered lift -> / gamma -> inverse rotation -> / fixed denominator.
 */
import { clipFactor, l2Norm } from '../dp/clip.ts';
import type { EncodingParams } from './calibration.ts';
import { addDiscreteGaussian, noiseTable } from './discrete-gaussian.ts';
import { WasmEncoder } from './encoder-wasm.ts';
import { RandomWords } from './random.ts';
import { centered, toRingInPlace } from './ring.ts';
import { rotateBlock, type Rotation, unrotate } from './rotation.ts';

/** Redraws of the randomized rounding before giving up (each passes with probability >= 1 - beta). */
const MAX_ROUNDING_TRIES = 64;

const TWO_POW_32 = 2 ** 32;

/**
 * True with probability `frac` in [0, 1) (to within 2^-85), comparing a uniform U = (w + V) / 2^32 with frac:
 * frac 2^32 is exact in a double, so the word w decides unless it equals floor(frac 2^32), and then a 53-bit
 * V decides. One word per coordinate instead of the two of `uniform() < frac`, at no loss of precision.
 */
export function roundUp(frac: number, r: RandomWords): boolean {
  const t = frac * TWO_POW_32;
  const w = r.word();
  if (w !== Math.floor(t)) return w < t;
  return r.uniform() < t - w;
}

/**
 * The noised integer encoding of `delta` (before reduction mod 2^b). Throws RangeError on a length mismatch
 * or non-finite values (clipFactor), never silently.
 */
export function encodeIntegers(
  delta: Float32Array,
  p: EncodingParams,
  rot: Rotation,
  r: RandomWords = new RandomWords(),
): Int32Array {
  if (delta.length !== p.d || rot.d !== p.d)
    throw new RangeError(`update has ${delta.length} values, round expects ${p.d}`);
  // The clip factor rides on the rotation's gather (in doubles) instead of a scaled float32 copy; the
  // conditional rounding below bounds the integer vector's norm whatever rounding the doubles carry.
  // The loops run in WebAssembly where they can (encoder-wasm.ts: the same bits), else here.
  const wasm = WasmEncoder.get()?.begin(delta, rot, r);
  try {
    const factor = p.scale * clipFactor(wasm ? wasm.norm() : l2Norm(delta), p.clipNorm);
    // The rotation is made and rounded one Hadamard block at a time, in coordinate order (the same draws
    // as rounding the whole rotated vector): one block of doubles is live, still in cache when rounded.
    const out = wasm ? null : new Int32Array(p.d);
    const z = wasm ? null : new Float64Array(rot.blocks[0] ?? 0); // the largest block
    for (let tries = 0; ; tries++) {
      if (tries === MAX_ROUNDING_TRIES)
        throw new RangeError('randomized rounding kept exceeding its norm bound');
      let sq = 0;
      let off = 0;
      for (const b of rot.blocks) {
        if (wasm) sq = wasm.rotateRound(off, b, factor / Math.sqrt(b), sq);
        else sq = rotateRoundBlock(rot, delta, factor, off, b, z!, out!, sq, r);
        off += b;
      }
      // Conditional rounding: a draw above the bound is redrawn, so the sensitivity is sqrt(normBoundSq).
      if (sq <= p.normBoundSq) break;
    }
    if (!wasm) {
      addDiscreteGaussian(out!, p.noiseVariance, r);
      return out!;
    }
    const table = noiseTable(p.noiseVariance);
    if (table) wasm.addNoise(table);
    return wasm.result();
  } finally {
    wasm?.end();
  }
}

/** The JavaScript rotation and rounding of block [off, off + b) into out; returns sq plus their squares. */
function rotateRoundBlock(
  rot: Rotation,
  delta: Float32Array,
  factor: number,
  off: number,
  b: number,
  z: Float64Array,
  out: Int32Array,
  sq: number,
  r: RandomWords,
): number {
  rotateBlock(rot, delta, factor, off, b, z);
  for (let j = 0; j < b; j++) {
    const x = z[j]!;
    const f = Math.floor(x);
    const v = roundUp(x - f, r) ? f + 1 : f;
    out[off + j] = v;
    sq += v * v;
  }
  return sq;
}

/** The client's input to secure aggregation: the encoding reduced into Z_{2^b}. */
export function encodeUpdate(
  delta: Float32Array,
  p: EncodingParams,
  rot: Rotation,
  r?: RandomWords,
): Uint32Array {
  return toRingInPlace(encodeIntegers(delta, p, rot, r), p.bits);
}

/** The server's estimate of the sum of the clipped updates from the unmasked ring sum. */
export function decodeSum(sum: Uint32Array, p: EncodingParams, rot: Rotation): Float64Array {
  const z = centered(sum, p.bits);
  const inv = 1 / p.scale;
  for (let i = 0; i < z.length; i++) z[i] = z[i]! * inv;
  return unrotate(rot, z);
}

/** The round's mean delta: the decoded sum over a FIXED denominator (not the realized survivor count). */
export function meanOfSum(sum: Float64Array, denominator: number): Float32Array {
  if (!(denominator > 0 && Number.isFinite(denominator))) throw new RangeError('denominator must be > 0');
  const out = new Float32Array(sum.length);
  for (let i = 0; i < sum.length; i++) out[i] = sum[i]! / denominator;
  return out;
}
