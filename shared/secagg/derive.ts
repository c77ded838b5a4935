/** Values both ends derive from a round's public seed (so the server cannot vary them per client). */
import { hkdf } from './keys.ts';
import { makeRotation, type Rotation } from './rotation.ts';
import { concatBytes, u32Bytes } from './webcrypto.ts';

/** HKDF salt and associated-data prefix of a round: its seed and id. */
export function roundSalt(seed: Uint8Array, round: number): Uint8Array {
  return concatBytes(seed, u32Bytes(round));
}

/** The seed of the neighbour graph. */
export function graphSeed(seed: Uint8Array, round: number): Promise<Uint8Array> {
  return hkdf(seed, roundSalt(seed, round), 'fedrank/secagg/v1/graph');
}

// The last rotation built: every client of a simulated cohort (and the server) shares one per round.
let last: { key: string; rotation: Promise<Rotation> } | null = null;

/** The round's rotation of R^d (public: derived from the round seed only). */
export function roundRotation(seed: Uint8Array, round: number, d: number): Promise<Rotation> {
  const key = `${Array.from(seed).join(',')}/${round}/${d}`;
  if (last?.key !== key) {
    const rotation = hkdf(seed, roundSalt(seed, round), 'fedrank/secagg/v1/rotation').then((s) =>
      makeRotation(s, d),
    );
    last = { key, rotation };
  }
  return last.rotation;
}
