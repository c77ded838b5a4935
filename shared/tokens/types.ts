/**
 * Contribution tokens: Privacy Pass-style, publicly verifiable tokens from RFC 9474 blind RSA
 * (RSABSSA-SHA384-PSS-Randomized). A device blinds random token inputs, a party the shop vouches for
 * (its backend, or a proof of work) gets them blind-signed, and the device redeems one token per
 * contribution. The server checks the signature and that the nonce was never spent, so it can count
 * contributors without learning which issuance a contribution came from. Codec: codec.ts.
 */

/** Request header carrying a redemption (base64url of the binary token, see codec.ts). */
export const HEADER_TOKEN = 'x-fedrank-token';
/** The RFC 9474 variant every key uses. */
export const TOKEN_SUITE = 'RSABSSA-SHA384-PSS-Randomized';
/** Version byte of the binary token. */
export const TOKEN_VERSION = 1;
/** Domain separation of the signed token message (no other protocol signs messages starting with it). */
export const TOKEN_DOMAIN = 'fedrank-token-v1';
/** Bytes of a key id (SHA-256 of the key's SPKI), a nonce and the RFC 9474 message prefix. */
export const KEY_ID_BYTES = 32;
export const NONCE_BYTES = 32;
export const PREFIX_BYTES = 32;
/** Accepted RSA modulus sizes, bits (RFC 9474 needs at least 2048). */
export const MIN_KEY_BITS = 2048;
export const MAX_KEY_BITS = 4096;
/** Most blinded messages one issuance request may carry. */
export const MAX_TOKENS_PER_REQUEST = 32;

/** What a token may be spent on; fixed in the signed message, so a token for one purpose fits no other. */
export type TokenPurpose = 'update' | 'eval';
export const TOKEN_PURPOSES: readonly TokenPurpose[] = ['update', 'eval'];

/** A published issuer key (GET /v1/tokens/keys). All base64url fields are unpadded. */
export interface TokenKeyInfo {
  /** base64url SHA-256 of `publicKey`'s bytes; devices recompute it. */
  keyId: string;
  /** base64url DER SubjectPublicKeyInfo of the RSA-PSS (SHA-384) key. */
  publicKey: string;
  /** ISO times: issuance with this key from notBefore until issueUntil; redemption until redeemUntil. */
  notBefore: string;
  issueUntil: string;
  redeemUntil: string;
}

/** GET /v1/tokens/keys: the same list for everyone (one key per epoch; a key per device would link). */
export interface TokenKeys {
  suite: typeof TOKEN_SUITE;
  keys: TokenKeyInfo[];
}

/** What a device asks to have signed: blinded messages (base64url, modulus length each) for one key. */
export interface IssueRequest {
  keyId: string;
  blindedMessages: string[];
}

/** POST /v1/tokens/issue, sent by the shop's backend with its secret: the device's request plus its session. */
export interface ShopIssueRequest extends IssueRequest {
  /** The shop's opaque session id (hashed with a server secret before it is counted; never stored raw). */
  sessionId: string;
}

/** GET /v1/tokens/challenge: a proof-of-work challenge for shops without sessions. */
export interface PowChallenge {
  /** base64url, opaque to the device; single use. */
  challenge: string;
  /** Leading zero bits the SHA-256 of the solution must have. */
  difficulty: number;
  expiresAt: string;
}

/** POST /v1/tokens/pow: the device's request with a solved challenge (the work covers the blinded messages). */
export interface PowIssueRequest extends IssueRequest {
  challenge: string;
  /** base64url of the 8-byte counter that solves the challenge. */
  solution: string;
}

/** Reply to both issuance routes: one blind signature per blinded message, in order. */
export interface IssueResponse {
  keyId: string;
  blindSignatures: string[];
}

/** A finalized token, as redeemed in the HEADER_TOKEN header. */
export interface Token {
  purpose: TokenPurpose;
  keyId: Uint8Array;
  nonce: Uint8Array;
  /** RFC 9474 Randomized variant: the random prefix prepended to the message before signing. */
  prefix: Uint8Array;
  signature: Uint8Array;
}
