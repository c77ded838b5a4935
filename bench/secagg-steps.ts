/**
 * The client round's cost broken into its mechanisms, each timed on its own at the round's sizes (process
 * CPU ms per call, median of 3 samples of 4 calls each after a warm-up): what remains of the client cost
 * and where. Used by bench/secagg-run.ts.
 */
import { planEncoding } from '../shared/secagg/calibration.ts';
import { addDiscreteGaussian, buildDiscreteGaussianTable } from '../shared/secagg/discrete-gaussian.ts';
import { encodeIntegers } from '../shared/secagg/encode.ts';
import { generateKeyPair, importPrivateKey, pairKey, seal } from '../shared/secagg/keys.ts';
import { addInto16, subInto16 } from '../shared/secagg/lanes16.ts';
import { lanes16Simd } from '../shared/secagg/lanes16-simd.ts';
import { applyMasks } from '../shared/secagg/masking.ts';
import { maskedVector } from '../shared/secagg/masked-input.ts';
import { expandMask, releaseKeystream } from '../shared/secagg/prg.ts';
import { packRingTaking, toRingInPlace } from '../shared/secagg/ring.ts';
import { makeRotation } from '../shared/secagg/rotation.ts';
import { splitSecret } from '../shared/secagg/shamir.ts';
import { syntheticUpdate } from '../server/secagg/synthetic-updates.ts';

type Clock = () => number;

// Calls per timed sample: the CPU time of other threads (WebCrypto's pool, GC helpers) moves in scheduler
// ticks, which swamped single calls of a few ms (noise once read 13.8 ms CPU against 3.3 ms wall).
const CALLS_PER_SAMPLE = 4;

async function med(clock: Clock, f: () => unknown): Promise<number> {
  await f(); // warm-up
  const runs: number[] = [];
  for (let i = 0; i < 3; i++) {
    const t0 = clock();
    for (let j = 0; j < CALLS_PER_SAMPLE; j++) await f();
    runs.push((clock() - t0) / CALLS_PER_SAMPLE);
  }
  runs.sort((a, b) => a - b);
  return Math.round(runs[1]! * 10) / 10;
}

/** What the steps are measured at: d parameters, k neighbours, threshold t, cohort n, noise for noiseClients. */
export interface StepSizes {
  d: number;
  n: number;
  k: number;
  t: number;
  noiseClients: number;
}

/** One runnable per mechanism of a client's round, with its inputs prepared outside it. */
export async function stepRunners(o: StepSizes): Promise<Record<string, () => unknown>> {
  const plan = planEncoding(
    { d: o.d, clipNorm: 1, noiseMultiplier: 1, noiseClients: o.noiseClients, maxClients: o.n },
    16,
  )!;
  const seed = crypto.getRandomValues(new Uint8Array(32));
  const rot = await makeRotation(seed, o.d);
  const delta = syntheticUpdate(1).delta;
  const peers = await Promise.all(Array.from({ length: o.k }, () => generateKeyPair()));
  const own = await generateKeyPair();
  const salt = new Uint8Array(36);
  const xs = Array.from({ length: o.k }, (_, i) => i + 1);
  const y = new Uint16Array(o.d); // the client's masked vector at b = 16
  const maskTerms = Array.from({ length: o.k + 1 }, (_, i) => ({
    seed: crypto.getRandomValues(new Uint8Array(32)),
    sign: (i % 2 ? 1 : -1) as 1 | -1,
  }));
  // The masks' two halves apart: k + 1 keystreams held ready for the add-only runner.
  const streams = await Promise.all(
    maskTerms.map((t) => expandMask(t.seed, o.d, 16) as Promise<Uint16Array>),
  );
  return {
    keyPairs: () => Promise.all([generateKeyPair(), generateKeyPair()]),
    shamirSplit: () => [splitSecret(seed, o.t, xs), splitSecret(seed, o.t, xs)],
    agreementsPerPurpose: async () => {
      const key = await importPrivateKey(own.privateKey);
      await Promise.all(peers.map((p) => pairKey(key, p.publicKey, salt, 'pairwise-mask')));
    },
    sealShares: () => Promise.all(peers.map(() => seal(seed, new Uint8Array(136), salt))),
    rotationSetup: () => makeRotation(seed, o.d),
    clipRotateRound: () => encodeIntegers(delta, { ...plan, noiseVariance: 0 }, rot),
    noise: () => addDiscreteGaussian(new Int32Array(o.d), plan.noiseVariance),
    noiseTableOncePerVariance: () => buildDiscreteGaussianTable(plan.noiseVariance),
    masksSelfAndPairwise: () => applyMasks(y, maskTerms, 16),
    // The same masks split: the k + 1 keystreams expanded one after another (WebCrypto: the copy of the
    // zero plaintext, the cipher, the output buffer), and their 16-bit lane adds into y alone.
    masksExpandOnly: async () => {
      for (const t of maskTerms) releaseKeystream(await expandMask(t.seed, o.d, 16));
    },
    // As applyMasks adds them: in WebAssembly SIMD lanes where the engine has them (copies in and out
    // included), else the JS lane loop.
    masksAddOnly: () => {
      const simd = lanes16Simd(o.d);
      if (!simd) return streams.forEach((m, i) => (maskTerms[i]!.sign === 1 ? addInto16 : subInto16)(y, m));
      simd.load(y);
      streams.forEach((m, i) => simd.apply(m, maskTerms[i]!.sign));
      simd.storeAndWipe(y);
    },
    reduceAndPack: () => {
      const input = toRingInPlace(new Int32Array(o.d), 16);
      const narrow = new Uint16Array(o.d);
      narrow.set(input);
      return packRingTaking(narrow, 16);
    },
    // The whole phase as the client runs it: clip, rotate, round, noise, reduce, k + 1 masks, upload bytes.
    maskedInputWhole: () => maskedVector(delta, plan, rot, maskTerms),
  };
}

/** CPU ms of each mechanism of one client's round (median of 3 samples after a warm-up, on `clock`). */
export async function clientSteps(clock: Clock, o: StepSizes): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const [name, f] of Object.entries(await stepRunners(o))) out[name] = await med(clock, f);
  return out;
}
