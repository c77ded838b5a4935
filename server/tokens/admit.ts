/**
 * The token admission rule for a contribution (POST /v1/updates, POST /v1/eval), in order:
 *  1. no token: refused with TOKEN_REQUIRED when tokens.required, else admitted unverified;
 *  2. the header must decode (TOKEN_INVALID), be for this route's purpose, name a key whose tokens are
 *     redeemable now, and carry a valid RFC 9474 signature over the token message (TOKEN_INVALID);
 *  3. its nonce must be unspent (TOKEN_SPENT); a retry of the same upload (same idempotency key) is
 *     a replay, not a second spend, so a lost acknowledgement costs the device nothing.
 * A token is spent when it is admitted, before the upload's own checks: an upload refused later still
 * used its token, so refused uploads are no free probes. A presented token is checked even when tokens
 * are not required, so a broken client shows up at once.
 */
import { FedrankError } from '../../shared/errors.ts';
import { verifyToken } from '../../shared/tokens/blind.ts';
import { parseToken, toBase64Url } from '../../shared/tokens/codec.ts';
import type { TokenPurpose } from '../../shared/tokens/types.ts';
import type { LoadedKey } from './keys.ts';
import type { SpendResult } from './store.ts';

/** What the rule needs from the server: the key ring and the spent-nonce store. */
export interface AdmitDeps {
  /** The key `keyId` if its tokens are redeemable now, else null (may look in the store). */
  redeemable(keyId: string): LoadedKey | null | Promise<LoadedKey | null>;
  spend(keyId: string, nonce: string, binding: string | null, keepUntil: number): Promise<SpendResult>;
}

/** A contribution's token as it arrived. */
export interface TokenPresented {
  /** The HEADER_TOKEN value, if any. */
  header: string | undefined;
  purpose: TokenPurpose;
  required: boolean;
  /** What a retry of the same request repeats (a hash of its idempotency key), or null. */
  binding: string | null;
}

/** 'verified' when a valid unspent token paid for it, 'unverified' when none was needed; throws otherwise. */
export async function admitToken(p: TokenPresented, deps: AdmitDeps): Promise<'verified' | 'unverified'> {
  if (p.header === undefined || p.header === '') {
    if (p.required) throw new FedrankError('TOKEN_REQUIRED');
    return 'unverified';
  }
  const token = parseToken(p.header);
  if (token.purpose !== p.purpose)
    throw new FedrankError('TOKEN_INVALID', `a token for ${token.purpose} cannot pay for ${p.purpose}`);
  const keyId = toBase64Url(token.keyId);
  const key = await deps.redeemable(keyId);
  if (!key) throw new FedrankError('TOKEN_INVALID', 'unknown or expired key');
  if (!(await verifyToken(key.verifier, token)))
    throw new FedrankError('TOKEN_INVALID', 'the signature does not verify');
  const spent = await deps.spend(keyId, toBase64Url(token.nonce), p.binding, key.stored.redeemUntil);
  if (spent === 'already-spent') throw new FedrankError('TOKEN_SPENT');
  return 'verified';
}
