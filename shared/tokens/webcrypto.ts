/**
 * The WebCrypto surface the token code uses, typed here because shared/ compiles without DOM or Node
 * types. Both browsers (window and worker) and Node 20 provide `globalThis.crypto.subtle`.
 */
import { FedrankError } from '../errors.ts';

/** A WebCrypto CryptoKey, opaque to this code. */
export interface WebCryptoKey {
  readonly type: string;
  readonly extractable: boolean;
}

/** The subset of SubtleCrypto the token code calls. */
export interface Subtle {
  digest(algorithm: 'SHA-256' | 'SHA-384', data: Uint8Array): Promise<ArrayBuffer>;
  importKey(
    format: 'spki',
    data: Uint8Array,
    algorithm: { name: 'RSA-PSS'; hash: 'SHA-384' },
    extractable: boolean,
    usages: 'verify'[],
  ): Promise<WebCryptoKey>;
  exportKey(format: 'jwk', key: WebCryptoKey): Promise<{ n?: string }>;
  verify(
    algorithm: { name: 'RSA-PSS'; saltLength: number },
    key: WebCryptoKey,
    signature: Uint8Array,
    data: Uint8Array,
  ): Promise<boolean>;
}

/** `crypto.subtle`; throws UNAVAILABLE on a platform without WebCrypto (it cannot use tokens). */
export function subtle(): Subtle {
  const s = (globalThis.crypto as unknown as { subtle?: Subtle } | undefined)?.subtle;
  if (!s) throw new FedrankError('UNAVAILABLE', 'WebCrypto (crypto.subtle) is not available here');
  return s;
}

/** SHA-256 of `data`. */
export async function sha256(data: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await subtle().digest('SHA-256', data));
}

/** Byte strings joined. */
export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Constant-time equality of two byte strings of public length. */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i]! ^ b[i]!;
  return d === 0;
}
