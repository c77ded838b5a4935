/**
 * The one codec and validator for every token message (types.ts), used by the server at its boundary and
 * by devices on what the server and the shop's backend send back. JSON bodies throw
 * FedrankError('BAD_REQUEST', '<path> ...'); a redemption header that does not decode throws TOKEN_INVALID.
 * Validators return fresh objects holding only the known fields.
 */
import { FedrankError } from '../errors.ts';
import { object, own } from '../protocol-parse.ts';
import {
  KEY_ID_BYTES,
  MAX_KEY_BITS,
  MAX_TOKENS_PER_REQUEST,
  MIN_KEY_BITS,
  NONCE_BYTES,
  PREFIX_BYTES,
  TOKEN_PURPOSES,
  TOKEN_SUITE,
  TOKEN_VERSION,
  type IssueRequest,
  type IssueResponse,
  type PowChallenge,
  type PowIssueRequest,
  type ShopIssueRequest,
  type Token,
  type TokenKeyInfo,
  type TokenKeys,
  type TokenPurpose,
} from './types.ts';

const B64URL = /^[A-Za-z0-9_-]*$/;
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$/;
/** Session ids the shop may send: opaque, 8-256 visible ASCII characters. */
const SESSION_ID = /^[\x21-\x7e]{8,256}$/;
/** Longest SPKI of a MAX_KEY_BITS key is well under this. */
const MAX_SPKI_BYTES = 1024;
/** Most keys a key list may hold (a few epochs). */
const MAX_KEYS = 64;
const MAX_SIG_BYTES = MAX_KEY_BITS / 8;
const MIN_SIG_BYTES = MIN_KEY_BITS / 8;
/** version, purpose, key id, nonce, prefix, then the signature. */
const TOKEN_FIXED_BYTES = 2 + KEY_ID_BYTES + NONCE_BYTES + PREFIX_BYTES;
/** Longest redemption header value: base64url of the largest token. */
export const MAX_TOKEN_HEADER_CHARS = Math.ceil(((TOKEN_FIXED_BYTES + MAX_SIG_BYTES) * 4) / 3);

type Obj = Record<string, unknown>;

function bad(path: string, what: string): never {
  throw new FedrankError('BAD_REQUEST', `${path} ${what}`);
}

/** Unpadded base64url of `bytes`. */
export function toBase64Url(bytes: Uint8Array): string {
  let out = '';
  for (let i = 0; i < bytes.length; i += 3) {
    const n = (bytes[i]! << 16) | ((bytes[i + 1] ?? 0) << 8) | (bytes[i + 2] ?? 0);
    const chars = Math.min(4, Math.ceil(((bytes.length - i) * 8) / 6));
    for (let j = 0; j < chars; j++) out += ALPHABET[(n >> (18 - 6 * j)) & 63];
  }
  return out;
}

/** Bytes of unpadded base64url text; null when it is not canonical base64url. */
export function fromBase64Url(text: string): Uint8Array | null {
  if (!B64URL.test(text) || text.length % 4 === 1) return null;
  const out = new Uint8Array(Math.floor((text.length * 6) / 8));
  let acc = 0;
  let bits = 0;
  let o = 0;
  for (let i = 0; i < text.length; i++) {
    acc = (acc << 6) | ALPHABET.indexOf(text[i]!);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (acc >> bits) & 0xff;
    }
    acc &= 0xff;
  }
  // Non-zero leftover bits mean two texts decode to the same bytes: refuse, so each value has one form.
  if ((acc & ((1 << bits) - 1)) !== 0) return null;
  return out;
}

function bytesField(v: unknown, path: string, min: number, max: number): Uint8Array {
  if (typeof v !== 'string' || v.length > Math.ceil((max * 4) / 3)) bad(path, 'must be base64url text');
  const b = fromBase64Url(v);
  if (!b) bad(path, 'must be unpadded base64url');
  if (b.length < min || b.length > max)
    bad(path, min === max ? `must hold ${min} bytes` : `must hold ${min}-${max} bytes`);
  return b;
}

function isoField(o: Obj, key: string, path: string): string {
  const v = own(o, key, path);
  if (typeof v !== 'string' || !ISO_TIME.test(v) || !Number.isFinite(Date.parse(v)))
    bad(`${path}.${key}`, 'must be an ISO 8601 UTC time');
  return v;
}

function keyIdField(o: Obj, path: string): string {
  const v = own(o, 'keyId', path);
  bytesField(v, `${path}.keyId`, KEY_ID_BYTES, KEY_ID_BYTES);
  return v as string;
}

/** A list of 1..MAX_TOKENS_PER_REQUEST base64url values of one length in the RSA modulus range. */
function blobList(o: Obj, key: string, path: string): string[] {
  const v = own(o, key, path);
  if (!Array.isArray(v) || v.length < 1 || v.length > MAX_TOKENS_PER_REQUEST)
    bad(`${path}.${key}`, `must be a list of 1-${MAX_TOKENS_PER_REQUEST} values`);
  let len = -1;
  return v.map((x: unknown, i) => {
    const b = bytesField(x, `${path}.${key}[${i}]`, MIN_SIG_BYTES, MAX_SIG_BYTES);
    if (len !== -1 && b.length !== len) bad(`${path}.${key}[${i}]`, 'must have the length of the others');
    len = b.length;
    return x as string;
  });
}

/** Validates one published key (the key id is checked against the key by importTokenKey). */
export function parseTokenKeyInfo(x: unknown, path = 'key'): TokenKeyInfo {
  const o = object(x, path);
  const publicKey = own(o, 'publicKey', path);
  bytesField(publicKey, `${path}.publicKey`, 32, MAX_SPKI_BYTES);
  const info: TokenKeyInfo = {
    keyId: keyIdField(o, path),
    publicKey: publicKey as string,
    notBefore: isoField(o, 'notBefore', path),
    issueUntil: isoField(o, 'issueUntil', path),
    redeemUntil: isoField(o, 'redeemUntil', path),
  };
  const [a, b, c] = [info.notBefore, info.issueUntil, info.redeemUntil].map((t) => Date.parse(t));
  if (!(a! < b! && b! <= c!)) bad(path, 'must have notBefore < issueUntil <= redeemUntil');
  return info;
}

/** Validates GET /v1/tokens/keys. */
export function parseTokenKeys(x: unknown): TokenKeys {
  const o = object(x, 'keys');
  if (own(o, 'suite', 'keys') !== TOKEN_SUITE) bad('keys.suite', `must be '${TOKEN_SUITE}'`);
  const keys = own(o, 'keys', 'keys');
  if (!Array.isArray(keys) || keys.length > MAX_KEYS)
    bad('keys.keys', `must be a list of at most ${MAX_KEYS}`);
  return { suite: TOKEN_SUITE, keys: keys.map((k: unknown, i) => parseTokenKeyInfo(k, `keys.keys[${i}]`)) };
}

/** Validates a device's issuance request (what it hands the shop's backend or the proof-of-work route). */
export function parseIssueRequest(x: unknown, path = 'issue'): IssueRequest {
  const o = object(x, path);
  return { keyId: keyIdField(o, path), blindedMessages: blobList(o, 'blindedMessages', path) };
}

/** Validates POST /v1/tokens/issue (the shop's backend). */
export function parseShopIssueRequest(x: unknown): ShopIssueRequest {
  const path = 'issue';
  const req = parseIssueRequest(x, path);
  const sessionId = own(x as Obj, 'sessionId', path);
  if (typeof sessionId !== 'string' || !SESSION_ID.test(sessionId))
    bad(`${path}.sessionId`, 'must be 8-256 visible ASCII characters');
  return { ...req, sessionId };
}

/** Validates POST /v1/tokens/pow. */
export function parsePowIssueRequest(x: unknown): PowIssueRequest {
  const path = 'issue';
  const req = parseIssueRequest(x, path);
  const o = x as Obj;
  const challenge = own(o, 'challenge', path);
  bytesField(challenge, `${path}.challenge`, 16, 128);
  const solution = own(o, 'solution', path);
  bytesField(solution, `${path}.solution`, 8, 8);
  return { ...req, challenge: challenge as string, solution: solution as string };
}

/** Validates GET /v1/tokens/challenge. */
export function parsePowChallenge(x: unknown): PowChallenge {
  const path = 'challenge';
  const o = object(x, path);
  const challenge = own(o, 'challenge', path);
  bytesField(challenge, `${path}.challenge`, 16, 128);
  const difficulty = own(o, 'difficulty', path);
  if (typeof difficulty !== 'number' || !Number.isInteger(difficulty) || difficulty < 0 || difficulty > 40)
    bad(`${path}.difficulty`, 'must be an integer in [0, 40]');
  return { challenge: challenge as string, difficulty, expiresAt: isoField(o, 'expiresAt', path) };
}

/** Validates the reply to an issuance request. */
export function parseIssueResponse(x: unknown): IssueResponse {
  const path = 'issued';
  const o = object(x, path);
  return { keyId: keyIdField(o, path), blindSignatures: blobList(o, 'blindSignatures', path) };
}

/** The binary token, base64url: version, purpose, key id, nonce, prefix, signature. */
export function encodeToken(t: Token): string {
  const out = new Uint8Array(TOKEN_FIXED_BYTES + t.signature.length);
  out[0] = TOKEN_VERSION;
  out[1] = TOKEN_PURPOSES.indexOf(t.purpose) + 1;
  out.set(t.keyId, 2);
  out.set(t.nonce, 2 + KEY_ID_BYTES);
  out.set(t.prefix, 2 + KEY_ID_BYTES + NONCE_BYTES);
  out.set(t.signature, TOKEN_FIXED_BYTES);
  return toBase64Url(out);
}

/** Decodes a redemption header; throws TOKEN_INVALID on anything but a well-formed token. */
export function parseToken(header: string): Token {
  const invalid = (what: string): never => {
    throw new FedrankError('TOKEN_INVALID', what);
  };
  if (header.length > MAX_TOKEN_HEADER_CHARS) invalid('the token is too long');
  const b = fromBase64Url(header);
  if (!b) return invalid('the token is not base64url');
  if (b.length < TOKEN_FIXED_BYTES + MIN_SIG_BYTES || b.length > TOKEN_FIXED_BYTES + MAX_SIG_BYTES)
    invalid(`the token has ${b.length} bytes`);
  if (b[0] !== TOKEN_VERSION) invalid(`token version ${b[0]}`);
  const purpose: TokenPurpose | undefined = TOKEN_PURPOSES[b[1]! - 1];
  if (!purpose) return invalid(`token purpose ${b[1]}`);
  const at = (start: number, len: number): Uint8Array => b.slice(start, start + len);
  return {
    purpose,
    keyId: at(2, KEY_ID_BYTES),
    nonce: at(2 + KEY_ID_BYTES, NONCE_BYTES),
    prefix: at(2 + KEY_ID_BYTES + NONCE_BYTES, PREFIX_BYTES),
    signature: b.slice(TOKEN_FIXED_BYTES),
  };
}
