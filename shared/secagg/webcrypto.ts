/**
 * The slice of WebCrypto (SubtleCrypto) that secure aggregation uses, typed here because shared/ compiles
 * without DOM or Node types. The same `globalThis.crypto.subtle` exists in browsers and Node 20.
 */

/** An opaque WebCrypto key handle. */
export interface CryptoKeyLike {
  readonly type: string;
}

/** A WebCrypto key pair. */
export interface CryptoKeyPairLike {
  publicKey: CryptoKeyLike;
  privateKey: CryptoKeyLike;
}

type Algo = { name: string; [k: string]: unknown };
type Bytes = Uint8Array | ArrayBuffer;

/** The SubtleCrypto methods used by shared/secagg. */
export interface SubtleLike {
  generateKey(algorithm: Algo, extractable: boolean, usages: string[]): Promise<CryptoKeyPairLike>;
  importKey(
    format: 'raw' | 'pkcs8',
    keyData: Bytes,
    algorithm: Algo | string,
    extractable: boolean,
    usages: string[],
  ): Promise<CryptoKeyLike>;
  exportKey(format: 'raw' | 'pkcs8', key: CryptoKeyLike): Promise<ArrayBuffer>;
  deriveBits(algorithm: Algo, baseKey: CryptoKeyLike, length: number): Promise<ArrayBuffer>;
  encrypt(algorithm: Algo, key: CryptoKeyLike, data: Bytes): Promise<ArrayBuffer>;
  decrypt(algorithm: Algo, key: CryptoKeyLike, data: Bytes): Promise<ArrayBuffer>;
}

/** The platform's SubtleCrypto; throws where none exists (an insecure browser context). */
export function subtle(): SubtleLike {
  const s = (globalThis.crypto as unknown as { subtle?: SubtleLike }).subtle;
  if (!s)
    throw new Error('WebCrypto (crypto.subtle) is unavailable: secure aggregation needs a secure context');
  return s;
}

/** `n` bytes from the platform's cryptographic generator. */
export function randomBytes(n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i += 65536) crypto.getRandomValues(out.subarray(i, Math.min(n, i + 65536)));
  return out;
}

/** Concatenation of byte arrays. */
export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Little-endian u32 bytes of each value. */
export function u32Bytes(...values: number[]): Uint8Array {
  const out = new Uint8Array(values.length * 4);
  const v = new DataView(out.buffer);
  values.forEach((x, i) => v.setUint32(i * 4, x, true));
  return out;
}

/** Overwrites a secret with zeros (best effort: the JS heap may hold copies). */
export function wipe(b: Uint8Array | null | undefined): void {
  if (b) b.fill(0);
}

/** Constant-shape equality of two byte arrays. */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i]! ^ b[i]!;
  return d === 0;
}
