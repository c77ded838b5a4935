/**
 * Client-side token functions (RFC 9474 Blind, Finalize) and the one verifier, shared by the browser
 * worker, Node (simulated shoppers, tests) and the server: WebCrypto and @cloudflare/blindrsa-ts only.
 *
 * The signed message is TOKEN_DOMAIN || purpose byte || key id || nonce: the nonce is 32 random bytes
 * drawn on the device, so the issuer (which sees only the blinded message) cannot recognize the token
 * when it is redeemed, and the server can refuse a nonce it has seen before.
 */
import { RSABSSA } from '@cloudflare/blindrsa-ts';
import { FedrankError } from '../errors.ts';
import { fromBase64Url, toBase64Url } from './codec.ts';
import {
  KEY_ID_BYTES,
  MAX_KEY_BITS,
  MAX_TOKENS_PER_REQUEST,
  MIN_KEY_BITS,
  NONCE_BYTES,
  PREFIX_BYTES,
  TOKEN_DOMAIN,
  TOKEN_PURPOSES,
  type IssueRequest,
  type IssueResponse,
  type Token,
  type TokenKeyInfo,
  type TokenPurpose,
} from './types.ts';
import { bytesEqual, concat, sha256, subtle, type WebCryptoKey } from './webcrypto.ts';

/** RSABSSA-SHA384-PSS-Randomized, the suite of every key. */
const suite = RSABSSA.SHA384.PSS.Randomized();
const SALT_BYTES = 48;

/** A published key, checked and imported for blinding and verification. */
export interface TokenKey {
  info: TokenKeyInfo;
  keyId: Uint8Array;
  /** Modulus length in bytes (the length of blinded messages and signatures). */
  modulusBytes: number;
  key: WebCryptoKey;
}

/** A token waiting for its blind signature: what the device keeps between request and response. */
export interface PendingToken {
  purpose: TokenPurpose;
  nonce: Uint8Array;
  /** The prepared message (prefix || message) that will be signed. */
  input: Uint8Array;
  /** RFC 9474 blinding inverse; secret to the device. */
  inv: Uint8Array;
}

/** The message a token's signature covers (before the RFC 9474 random prefix). */
export function tokenMessage(purpose: TokenPurpose, keyId: Uint8Array, nonce: Uint8Array): Uint8Array {
  return concat(
    new TextEncoder().encode(TOKEN_DOMAIN),
    Uint8Array.of(TOKEN_PURPOSES.indexOf(purpose) + 1),
    keyId,
    nonce,
  );
}

/** Length in bits of a JWK modulus (read from the imported key, not trusted from the JSON). */
function modulusBits(jwkN: string): number {
  const n = fromBase64Url(jwkN);
  if (!n || n.length === 0) return 0;
  let lead = 0;
  while (lead < n.length && n[lead] === 0) lead++;
  if (lead === n.length) return 0;
  return (n.length - lead - 1) * 8 + (32 - Math.clz32(n[lead]!));
}

/**
 * Imports a published key after checking that its id is the SHA-256 of its bytes and that it is an
 * RSA-PSS SHA-384 key of 2048-4096 bits. Throws TOKEN_INVALID otherwise.
 */
export async function importTokenKey(info: TokenKeyInfo): Promise<TokenKey> {
  const spki = fromBase64Url(info.publicKey);
  const keyId = fromBase64Url(info.keyId);
  if (!spki || !keyId || keyId.length !== KEY_ID_BYTES) throw new FedrankError('TOKEN_INVALID', 'bad key');
  if (!bytesEqual(await sha256(spki), keyId))
    throw new FedrankError('TOKEN_INVALID', 'the key id is not the hash of the key');
  let key: WebCryptoKey;
  try {
    key = await subtle().importKey('spki', spki, { name: 'RSA-PSS', hash: 'SHA-384' }, true, ['verify']);
  } catch {
    throw new FedrankError('TOKEN_INVALID', 'the key is not an RSA-PSS public key');
  }
  const bits = modulusBits((await subtle().exportKey('jwk', key)).n ?? '');
  if (bits < MIN_KEY_BITS || bits > MAX_KEY_BITS)
    throw new FedrankError('TOKEN_INVALID', `the key has ${bits} bits`);
  return { info, keyId, modulusBytes: Math.ceil(bits / 8), key };
}

/** Draws `count` token nonces and blinds them for `key`; send `request`, keep `pending` on the device. */
export async function prepareTokens(
  key: TokenKey,
  purpose: TokenPurpose,
  count: number,
): Promise<{ request: IssueRequest; pending: PendingToken[] }> {
  if (!Number.isInteger(count) || count < 1 || count > MAX_TOKENS_PER_REQUEST)
    throw new FedrankError('BAD_REQUEST', `count must be 1-${MAX_TOKENS_PER_REQUEST}`);
  const pending: PendingToken[] = [];
  const blinded: string[] = [];
  for (let i = 0; i < count; i++) {
    const nonce = crypto.getRandomValues(new Uint8Array(NONCE_BYTES));
    const input = suite.prepare(tokenMessage(purpose, key.keyId, nonce));
    const { blindedMsg, inv } = await suite.blind(key.key as never, input);
    pending.push({ purpose, nonce, input, inv });
    blinded.push(toBase64Url(blindedMsg));
  }
  return { request: { keyId: key.info.keyId, blindedMessages: blinded }, pending };
}

/**
 * Unblinds the issuer's reply into tokens, checking each signature (RFC 9474 Finalize). Throws
 * TOKEN_INVALID when the reply is for another key, has the wrong count, or a signature does not verify.
 */
export async function finalizeTokens(
  key: TokenKey,
  pending: PendingToken[],
  response: IssueResponse,
): Promise<Token[]> {
  if (response.keyId !== key.info.keyId)
    throw new FedrankError('TOKEN_INVALID', 'the issuer signed with another key than the published one');
  if (response.blindSignatures.length !== pending.length)
    throw new FedrankError('TOKEN_INVALID', 'the issuer returned the wrong number of signatures');
  const out: Token[] = [];
  for (let i = 0; i < pending.length; i++) {
    const p = pending[i]!;
    const blindSig = fromBase64Url(response.blindSignatures[i]!);
    if (!blindSig || blindSig.length !== key.modulusBytes)
      throw new FedrankError('TOKEN_INVALID', 'a blind signature has the wrong length');
    let signature: Uint8Array;
    try {
      signature = await suite.finalize(key.key as never, p.input, blindSig, p.inv);
    } catch {
      throw new FedrankError('TOKEN_INVALID', 'a blind signature does not verify');
    }
    out.push({
      purpose: p.purpose,
      keyId: key.keyId,
      nonce: p.nonce,
      prefix: p.input.slice(0, PREFIX_BYTES),
      signature,
    });
  }
  return out;
}

/** True when `token`'s signature verifies under `key` (RSASSA-PSS-VERIFY over prefix || message). */
export async function verifyToken(key: TokenKey, token: Token): Promise<boolean> {
  if (!bytesEqual(token.keyId, key.keyId) || token.signature.length !== key.modulusBytes) return false;
  const input = concat(token.prefix, tokenMessage(token.purpose, token.keyId, token.nonce));
  try {
    return await subtle().verify(
      { name: 'RSA-PSS', saltLength: SALT_BYTES },
      key.key,
      token.signature,
      input,
    );
  } catch {
    return false;
  }
}
