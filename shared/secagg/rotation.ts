/**
 * The randomized Hadamard rotation that flattens a clipped update before integer rounding (Kairouz, Liu &
 * Steinke, ICML 2021): a permutation and random signs drawn from the round's public seed, then normalized
 * Walsh-Hadamard transforms over power-of-two blocks. Blocks follow the binary decomposition of d (largest
 * first, capped at MAX_BLOCK), so nothing is padded and the upload stays at exactly b bits per parameter;
 * the permutation spreads any group of parameters (an item's row) over many blocks. Orthogonal: the L2
 * norm is unchanged, and the inverse is the same steps backwards.
 */
import { WasmEncoder } from './encoder-wasm.ts';
import { expandWords, releaseKeystream, WordStream } from './prg.ts';

/** Largest Hadamard block. */
export const MAX_BLOCK = 1 << 15;

/** PRG words beyond the d + d/32 a rotation reads, for the shuffle's rejected draws. */
const SPARE_WORDS = 1024;

/** A rotation of R^d, identical for every client of a round. */
export interface Rotation {
  d: number;
  perm: Uint32Array;
  signs: Int8Array;
  blocks: number[];
}

/** Power-of-two block sizes summing to d, largest first. */
export function blockSizes(d: number): number[] {
  const out: number[] = [];
  let rest = d;
  while (rest >= MAX_BLOCK) {
    out.push(MAX_BLOCK);
    rest -= MAX_BLOCK;
  }
  for (let b = MAX_BLOCK >> 1; b >= 1; b >>= 1) if (rest & b) out.push(b);
  return out;
}

/** The round's rotation of R^d from a 32-byte public seed. */
export async function makeRotation(seed: Uint8Array, d: number): Promise<Rotation> {
  // d words for the shuffle, one per 32 signs, and room for rejections: a draw below n <= d is rejected with
  // probability < d / 2^32, so the expected count is below d^2 / 2^33 (12 at d = 323,255) and 1,024 spare
  // words run out with probability far below 2^-100. (The stream used to be 2d words, half of it unread.)
  const words = await expandWords(seed, d + Math.ceil(d / 32) + SPARE_WORDS);
  // Drawn in WebAssembly where it can (encoder-wasm.ts: the same permutation and signs), else here.
  const parts = WasmEncoder.get()?.rotationParts(words, d) ?? jsRotationParts(words, d);
  releaseKeystream(words);
  return { d, perm: parts.perm, signs: parts.signs, blocks: blockSizes(d) };
}

/** Fisher-Yates from the end over 0..d-1, then one sign per bit of the following words. */
function jsRotationParts(words: Uint32Array, d: number): { perm: Uint32Array; signs: Int8Array } {
  const stream = new WordStream(words);
  const perm = new Uint32Array(d);
  for (let i = 0; i < d; i++) perm[i] = i;
  for (let i = d - 1; i > 0; i--) {
    const j = stream.below(i + 1);
    const tmp = perm[i]!;
    perm[i] = perm[j]!;
    perm[j] = tmp;
  }
  const signs = new Int8Array(d);
  let bits = 0;
  let left = 0;
  for (let i = 0; i < d; i++) {
    if (left === 0) {
      bits = stream.word();
      left = 32;
    }
    signs[i] = bits & 1 ? 1 : -1;
    bits >>>= 1;
    left--;
  }
  return { perm, signs };
}

/**
 * In-place unnormalized Walsh-Hadamard transform of x[off, off + n), n a power of two (H H = n I). Two
 * butterfly stages per pass over the block (radix 4), then one radix-2 stage when log2 n is odd: half the
 * passes of the textbook loop, whose innermost loop is one element long at the first stage.
 */
function fwht(x: Float64Array, off: number, n: number): void {
  const end = off + n;
  let h = 1;
  for (; 4 * h <= n; h <<= 2) {
    const h2 = 2 * h;
    const h3 = 3 * h;
    for (let i = off; i < end; i += 4 * h) {
      for (let j = i; j < i + h; j++) {
        const a = x[j]!;
        const b = x[j + h]!;
        const c = x[j + h2]!;
        const e = x[j + h3]!;
        const s0 = a + b;
        const d0 = a - b;
        const s1 = c + e;
        const d1 = c - e;
        x[j] = s0 + s1;
        x[j + h] = d0 + d1;
        x[j + h2] = s0 - s1;
        x[j + h3] = d0 - d1;
      }
    }
  }
  if (h < n) {
    for (let j = off; j < off + h; j++) {
      const a = x[j]!;
      const b = x[j + h]!;
      x[j] = a + b;
      x[j + h] = a - b;
    }
  }
}

/**
 * Rotates x and multiplies by `factor`: z[i] = factor sign[i] x[perm[i]] / sqrt(block), then the block
 * Hadamard transforms (the normalization and the caller's scale ride on the gather, not extra passes).
 */
export function rotate(r: Rotation, x: Float32Array | Float64Array, factor = 1): Float64Array {
  if (x.length !== r.d) throw new RangeError(`rotation is for ${r.d} values, got ${x.length}`);
  const z = new Float64Array(r.d);
  let off = 0;
  for (const b of r.blocks) {
    rotateBlock(r, x, factor, off, b, z, off);
    off += b;
  }
  return z;
}

/**
 * The block of rotate(r, x, factor) at [off, off + b) (b = the block's size), written to z[zOff, zOff + b):
 * a caller that consumes the rotation block by block needs one block of scratch, not d doubles.
 */
export function rotateBlock(
  r: Rotation,
  x: Float32Array | Float64Array,
  factor: number,
  off: number,
  b: number,
  z: Float64Array,
  zOff = 0,
): void {
  const { perm, signs } = r;
  const s = factor / Math.sqrt(b);
  for (let i = off, j = zOff; i < off + b; i++, j++) z[j] = signs[i]! * s * x[perm[i]!]!;
  fwht(z, zOff, b);
}

/** Inverse of rotate with factor 1 (z is consumed). */
export function unrotate(r: Rotation, z: Float64Array): Float64Array {
  if (z.length !== r.d) throw new RangeError(`rotation is for ${r.d} values, got ${z.length}`);
  const x = new Float64Array(r.d);
  const { perm, signs } = r;
  let off = 0;
  for (const b of r.blocks) {
    fwht(z, off, b);
    const s = 1 / Math.sqrt(b);
    for (let i = off; i < off + b; i++) x[perm[i]!] = signs[i]! * s * z[i]!;
    off += b;
  }
  return x;
}
