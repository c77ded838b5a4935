/**
 * Mask arithmetic shared by client and server: the self mask PRG(b_u), and the pairwise mask PRG(s_uv)
 * that u adds when u < v and subtracts when u > v, so that the pair's masks cancel in the sum.
 */
import { pairKey } from './keys.ts';
import { expandMask } from './prg.ts';
import { ringMask } from './ring.ts';
import type { CryptoKeyLike } from './webcrypto.ts';

/** Adds (sign +1) or subtracts (-1) PRG(seed) from `acc` in Z_{2^bits}, in one pass over the keystream. */
export async function applyMask(
  acc: Uint32Array,
  seed: Uint8Array,
  bits: number,
  sign: 1 | -1,
): Promise<void> {
  const m = await expandMask(seed, acc.length, bits);
  // One loop per keystream width: a loop that sees a single typed-array kind stays monomorphic in V8
  // (a shared loop over the union ran ~3x slower than the keystream it consumes).
  if (m instanceof Uint16Array) accumulate16(acc, m, ringMask(bits), sign);
  else if (m instanceof Uint8Array) accumulate8(acc, m, ringMask(bits), sign);
  else accumulate32(acc, m, bits, sign);
}

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
