/**
 * What one client's masked-input phase allocates (encoding, noise, masks, upload bytes) at the round's
 * sizes, in Node (imports node:v8, so it stays out of the browser bundle of bench/secagg-steps.ts):
 * - jsBufferBytes: growth of process.memoryUsage().arrayBuffers across one call after a forced GC (the
 *   d-sized vectors JS allocates); the largest of 5 calls, since a GC inside a call can only lower it;
 * - webCryptoOutputBytes: bytes of the ArrayBuffers WebCrypto returned (the mask keystreams), counted at
 *   crypto.subtle.encrypt. Node's allocator does not count those, but V8's GC heuristics do.
 * Used by bench/secagg-run.ts.
 */
import v8 from 'node:v8';
import vm from 'node:vm';
import { planEncoding } from '../shared/secagg/calibration.ts';
import { maskedVector } from '../shared/secagg/masked-input.ts';
import { makeRotation } from '../shared/secagg/rotation.ts';
import { syntheticUpdate } from '../server/secagg/synthetic-updates.ts';
import type { StepSizes } from './secagg-steps.ts';

type Encrypt = (...a: unknown[]) => Promise<ArrayBuffer>;

/** Bytes allocated by one maskedVector call with k + 1 masks at d (see the file comment). */
export async function maskedInputAllocation(o: StepSizes): Promise<Record<string, number>> {
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  const plan = planEncoding(
    { d: o.d, clipNorm: 1, noiseMultiplier: 1, noiseClients: o.noiseClients, maxClients: o.n },
    16,
  )!;
  const rot = await makeRotation(crypto.getRandomValues(new Uint8Array(32)), o.d);
  const delta = syntheticUpdate(1).delta;
  const terms = Array.from({ length: o.k + 1 }, (_, i) => ({
    seed: crypto.getRandomValues(new Uint8Array(32)),
    sign: (i % 2 ? 1 : -1) as 1 | -1,
  }));
  const subtle = crypto.subtle as unknown as { encrypt: Encrypt };
  const encrypt = subtle.encrypt;
  let webCrypto = 0;
  subtle.encrypt = async (...a) => {
    const out = await encrypt.apply(crypto.subtle, a);
    webCrypto += out.byteLength;
    return out;
  };
  try {
    await maskedVector(delta, plan, rot, terms); // warm-up
    const js: number[] = [];
    for (let i = 0; i < 5; i++) {
      gc();
      webCrypto = 0;
      const before = process.memoryUsage().arrayBuffers;
      const out = await maskedVector(delta, plan, rot, terms);
      js.push(process.memoryUsage().arrayBuffers - before);
      void out;
    }
    return { jsBufferBytes: Math.max(...js), webCryptoOutputBytes: webCrypto };
  } finally {
    subtle.encrypt = encrypt;
  }
}
