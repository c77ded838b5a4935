/** The Random port from the platform's cryptographic source (crypto.getRandomValues / randomUUID). */
import type { Random } from './ports.ts';

/** A random id of 32 [0-9a-f] characters (a UUID without dashes), matching ID_PATTERN. */
export function randomId(): string {
  if (typeof crypto.randomUUID === 'function') return crypto.randomUUID().replace(/-/g, '');
  const b = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

/** A uniform double in [0, 1) from 53 random bits. */
export function cryptoUniform(): number {
  const w = crypto.getRandomValues(new Uint32Array(2));
  return (w[0]! * 2 ** 21 + (w[1]! >>> 11)) / 2 ** 53;
}

/** Ids and uniforms from the cryptographic source. */
export const cryptoRandom: Random = { id: randomId, uniform: cryptoUniform };
