/**
 * Key agreement and authenticated encryption for secure aggregation, all through WebCrypto: X25519 key
 * pairs, HKDF-SHA-256 to derive per-pair keys, AES-256-GCM for the Shamir shares sent through the server.
 * Raw 32-byte private keys are needed because the masking key is Shamir-shared so that the server can
 * recover a dropped client's pairwise masks.
 */
import { concatBytes, type CryptoKeyLike, subtle, u32Bytes } from './webcrypto.ts';

/** Bytes of an X25519 public or private key. */
export const KEY_BYTES = 32;
/** AES-GCM nonce and tag lengths. */
export const GCM_NONCE_BYTES = 12;
export const GCM_TAG_BYTES = 16;

// DER prefix of a PKCS#8 X25519 private key (RFC 8410): the raw 32-byte key follows it.
const PKCS8_X25519_PREFIX = Uint8Array.of(
  0x30,
  0x2e,
  0x02,
  0x01,
  0x00,
  0x30,
  0x05,
  0x06,
  0x03,
  0x2b,
  0x65,
  0x6e,
  0x04,
  0x22,
  0x04,
  0x20,
);
const X25519 = { name: 'X25519' };
const enc = new TextEncoder();

/** An X25519 key pair as raw bytes (plain data: storable in IndexedDB and Shamir-shareable). */
export interface RawKeyPair {
  publicKey: Uint8Array;
  privateKey: Uint8Array;
}

/** A fresh X25519 key pair from WebCrypto. */
export async function generateKeyPair(): Promise<RawKeyPair> {
  const s = subtle();
  const kp = await s.generateKey(X25519, true, ['deriveBits']);
  const publicKey = new Uint8Array(await s.exportKey('raw', kp.publicKey));
  const pkcs8 = new Uint8Array(await s.exportKey('pkcs8', kp.privateKey));
  const privateKey = pkcs8.slice(pkcs8.length - KEY_BYTES);
  pkcs8.fill(0);
  return { publicKey, privateKey };
}

/** A raw X25519 private key as a WebCrypto handle, to agree with many peers without re-importing it. */
export async function importPrivateKey(privateKey: Uint8Array): Promise<CryptoKeyLike> {
  if (privateKey.length !== KEY_BYTES) throw new RangeError('X25519 keys are 32 bytes');
  const der = concatBytes(PKCS8_X25519_PREFIX, privateKey);
  try {
    return await subtle().importKey('pkcs8', der, X25519, false, ['deriveBits']);
  } finally {
    der.fill(0);
  }
}

/** X25519(privateKey, peerPublic): the 32-byte shared secret. Rejects invalid (e.g. low-order) points. */
export async function agree(
  privateKey: Uint8Array | CryptoKeyLike,
  peerPublic: Uint8Array,
): Promise<Uint8Array> {
  if (peerPublic.length !== KEY_BYTES) throw new RangeError('X25519 keys are 32 bytes');
  const priv = privateKey instanceof Uint8Array ? await importPrivateKey(privateKey) : privateKey;
  const s = subtle();
  const pub = await s.importKey('raw', peerPublic, X25519, false, []);
  return new Uint8Array(await s.deriveBits({ name: 'X25519', public: pub }, priv, 256));
}

/** HKDF-SHA-256(ikm, salt, info) -> `bytes` bytes. */
export async function hkdf(ikm: Uint8Array, salt: Uint8Array, info: string, bytes = 32): Promise<Uint8Array> {
  const s = subtle();
  const key = await s.importKey('raw', ikm, 'HKDF', false, ['deriveBits']);
  const bits = await s.deriveBits(
    { name: 'HKDF', hash: 'SHA-256', salt, info: enc.encode(info) },
    key,
    bytes * 8,
  );
  return new Uint8Array(bits);
}

/** What a pairwise key is for; each purpose gets its own HKDF label. */
export type PairPurpose = 'share-encryption' | 'pairwise-mask';

/**
 * The key (or mask seed) for the pair (a, b) in round `roundSalt`: HKDF over X25519(own private, peer public)
 * with the round as salt. Symmetric: both ends of a pair derive the same bytes. `ownPrivate` may be a handle
 * from importPrivateKey (one import per round instead of one per peer).
 */
export async function pairKey(
  ownPrivate: Uint8Array | CryptoKeyLike,
  peerPublic: Uint8Array,
  roundSalt: Uint8Array,
  purpose: PairPurpose,
): Promise<Uint8Array> {
  const shared = await agree(ownPrivate, peerPublic);
  try {
    return await hkdf(shared, roundSalt, `fedrank/secagg/v1/${purpose}`);
  } finally {
    shared.fill(0);
  }
}

/** The associated data of a share ciphertext: binds it to its round, sender and recipient. */
export function shareAad(roundSalt: Uint8Array, from: number, to: number): Uint8Array {
  return concatBytes(enc.encode('fedrank/secagg/v1/share'), roundSalt, u32Bytes(from, to));
}

async function gcmKey(key: Uint8Array, usage: 'encrypt' | 'decrypt'): Promise<CryptoKeyLike> {
  return subtle().importKey('raw', key, 'AES-GCM', false, [usage]);
}

/** AES-256-GCM: nonce || ciphertext || tag, with a random 96-bit nonce (one key encrypts one message). */
export async function seal(key: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Promise<Uint8Array> {
  const iv = new Uint8Array(GCM_NONCE_BYTES);
  crypto.getRandomValues(iv);
  const ct = await subtle().encrypt(
    { name: 'AES-GCM', iv, additionalData: aad, tagLength: 128 },
    await gcmKey(key, 'encrypt'),
    plaintext,
  );
  return concatBytes(iv, new Uint8Array(ct));
}

/** Opens a `seal` output; null when it was not sealed with this key and associated data. */
export async function open(key: Uint8Array, sealed: Uint8Array, aad: Uint8Array): Promise<Uint8Array | null> {
  if (sealed.length < GCM_NONCE_BYTES + GCM_TAG_BYTES) return null;
  try {
    const pt = await subtle().decrypt(
      { name: 'AES-GCM', iv: sealed.subarray(0, GCM_NONCE_BYTES), additionalData: aad, tagLength: 128 },
      await gcmKey(key, 'decrypt'),
      sealed.subarray(GCM_NONCE_BYTES),
    );
    return new Uint8Array(pt);
  } catch {
    return null;
  }
}
