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
  const r = ringMask(bits);
  // & takes its operand mod 2^32 (ToInt32) and 2^bits divides 2^32, so it reduces mod 2^bits exactly;
  // at 32 bits the Uint32Array store does the same.
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
