/**
 * The randomized Hadamard rotation that flattens a clipped update before integer rounding (Kairouz, Liu &
 * Steinke, ICML 2021): a permutation and random signs drawn from the round's public seed, then normalized
 * Walsh-Hadamard transforms over power-of-two blocks. Blocks follow the binary decomposition of d (largest
 * first, capped at MAX_BLOCK), so nothing is padded and the upload stays at exactly b bits per parameter;
 * the permutation spreads any group of parameters (an item's row) over many blocks. Orthogonal: the L2
 * norm is unchanged, and the inverse is the same steps backwards.
 */
import { expandWords, WordStream } from './prg.ts';

/** Largest Hadamard block. */
export const MAX_BLOCK = 1 << 15;

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
  const words = await expandWords(seed, 2 * d + 64);
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
  return { d, perm, signs, blocks: blockSizes(d) };
}

/** In-place normalized Walsh-Hadamard transform of x[off, off + n), n a power of two (its own inverse). */
function fwht(x: Float64Array, off: number, n: number): void {
  for (let h = 1; h < n; h <<= 1) {
    for (let i = off; i < off + n; i += h << 1) {
      for (let j = i; j < i + h; j++) {
        const a = x[j]!;
        const b = x[j + h]!;
        x[j] = a + b;
        x[j + h] = a - b;
      }
    }
  }
  const s = 1 / Math.sqrt(n);
  for (let i = off; i < off + n; i++) x[i] = x[i]! * s;
}

function forEachBlock(r: Rotation, z: Float64Array): void {
  let off = 0;
  for (const b of r.blocks) {
    fwht(z, off, b);
    off += b;
  }
}

/** Rotates x: z[i] = sign[i] * x[perm[i]], then the block Hadamard transforms. */
export function rotate(r: Rotation, x: Float32Array | Float64Array): Float64Array {
  if (x.length !== r.d) throw new RangeError(`rotation is for ${r.d} values, got ${x.length}`);
  const z = new Float64Array(r.d);
  for (let i = 0; i < r.d; i++) z[i] = r.signs[i]! * x[r.perm[i]!]!;
  forEachBlock(r, z);
  return z;
}

/** Inverse of rotate (z is consumed). */
export function unrotate(r: Rotation, z: Float64Array): Float64Array {
  if (z.length !== r.d) throw new RangeError(`rotation is for ${r.d} values, got ${z.length}`);
  forEachBlock(r, z);
  const x = new Float64Array(r.d);
  for (let i = 0; i < r.d; i++) x[r.perm[i]!] = r.signs[i]! * z[i]!;
  return x;
}
