/**
 * Mask arithmetic shared by client and server: the self mask PRG(b_u), and the pairwise mask PRG(s_uv)
 * that u adds when u < v and subtracts when u > v, so that the pair's masks cancel in the sum.
 */
import { pairKey } from './keys.ts';
import { addInto16, subInto16 } from './lanes16.ts';
import { lanes16Simd } from './lanes16-simd.ts';
import { expandMask, releaseKeystream } from './prg.ts';
import { ringMask } from './ring.ts';
import type { CryptoKeyLike } from './webcrypto.ts';

/**
 * A ring vector masks are applied to: a Uint32Array at any width, or a Uint16Array at b = 16 (its store
 * reduces mod 2^16, and two elements share a 32-bit word in the add loop: lanes16.ts).
 */
export type MaskTarget = Uint32Array | Uint16Array;

/** One mask to apply: PRG(seed), added (sign +1) or subtracted (-1). */
export interface MaskTerm {
  seed: Uint8Array;
  sign: 1 | -1;
}

/**
 * Adds (sign +1) or subtracts (-1) PRG(seed) of every term to `acc` in Z_{2^bits}, one pass over each
 * keystream. The next keystream is being expanded (WebCrypto, off the JS thread) while the current one
 * is accumulated, and at most two are alive at once (each is released once accumulated: prg.ts).
 */
export async function applyMasks(acc: MaskTarget, terms: MaskTerm[], bits: number): Promise<void> {
  if (acc instanceof Uint16Array && bits !== 16)
    throw new RangeError(`a Uint16Array accumulator holds Z_2^16, not Z_2^${bits}`);
  const expand = (i: number) => (i < terms.length ? expandMask(terms[i]!.seed, acc.length, bits) : null);
  // At b = 16 the sum runs in WebAssembly SIMD lanes where the engine has them (lanes16-simd.ts).
  const simd = acc instanceof Uint16Array && terms.length > 0 ? lanes16Simd(acc.length) : null;
  simd?.load(acc as Uint16Array);
  let next = expand(0);
  try {
    for (let i = 0; i < terms.length; i++) {
      const m = await next!;
      next = expand(i + 1);
      // A failed expansion is rethrown by the await above; this keeps the one in flight from going
      // unhandled if accumulating throws first.
      next?.catch(() => undefined);
      const sign = terms[i]!.sign;
      if (simd) simd.apply(m as Uint16Array, sign);
      else if (acc instanceof Uint16Array) {
        if (sign === 1) addInto16(acc, m as Uint16Array);
        else subInto16(acc, m as Uint16Array);
      } else if (m instanceof Uint16Array) accumulate16(acc, m, ringMask(bits), sign);
      else if (m instanceof Uint8Array) accumulate8(acc, m, ringMask(bits), sign);
      else accumulate32(acc, m, bits, sign);
      releaseKeystream(m);
    }
  } finally {
    // Also on failure: the shared WebAssembly memory is wiped and free for the next caller.
    simd?.storeAndWipe(acc as Uint16Array);
  }
}

// One loop per keystream width: a loop that sees a single typed-array kind stays monomorphic in V8
// (a shared loop over the union ran ~3x slower than the keystream it consumes).
// & takes its operand mod 2^32 (ToInt32) and 2^bits divides 2^32, so it reduces mod 2^bits exactly, a
// negative difference included.
function accumulate16(acc: Uint32Array, m: Uint16Array, r: number, sign: 1 | -1): void {
  if (sign === 1) for (let i = 0; i < acc.length; i++) acc[i] = (acc[i]! + m[i]!) & r;
  else for (let i = 0; i < acc.length; i++) acc[i] = (acc[i]! - m[i]!) & r;
}

function accumulate8(acc: Uint32Array, m: Uint8Array, r: number, sign: 1 | -1): void {
  if (sign === 1) for (let i = 0; i < acc.length; i++) acc[i] = (acc[i]! + m[i]!) & r;
  else for (let i = 0; i < acc.length; i++) acc[i] = (acc[i]! - m[i]!) & r;
}

function accumulate32(acc: Uint32Array, m: Uint32Array, bits: number, sign: 1 | -1): void {
  const r = ringMask(bits);
  // At 32 bits the Uint32Array store reduces mod 2^32 itself.
  if (bits === 32) {
    if (sign === 1) for (let i = 0; i < acc.length; i++) acc[i] = acc[i]! + m[i]!;
    else for (let i = 0; i < acc.length; i++) acc[i] = acc[i]! - m[i]!;
  } else if (sign === 1) for (let i = 0; i < acc.length; i++) acc[i] = (acc[i]! + m[i]!) & r;
  else for (let i = 0; i < acc.length; i++) acc[i] = (acc[i]! - m[i]!) & r;
}

/** The sign with which slot `u` applies its pairwise mask with `v`. */
export function pairSign(u: number, v: number): 1 | -1 {
  return u < v ? 1 : -1;
}

/** The pairwise mask seed of (own, peer): HKDF over X25519 of the masking keys. */
export function pairMaskSeed(
  ownMaskKey: Uint8Array | CryptoKeyLike,
  peerMaskPk: Uint8Array,
  salt: Uint8Array,
): Promise<Uint8Array> {
  return pairKey(ownMaskKey, peerMaskPk, salt, 'pairwise-mask');
}
