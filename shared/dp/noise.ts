/**
 * Gaussian noise for differential privacy, drawn from the platform's cryptographic generator
 * (crypto.getRandomValues): a predictable PRNG would let an observer subtract the noise.
 */
import type { TrainingConfig } from '../protocol.ts';

// getRandomValues fills at most 65536 bytes per call.
const CHUNK_WORDS = 16384;
// Reused across calls (everything here is synchronous, so it is never shared by two fills at once).
const pool = new Uint32Array(CHUNK_WORDS);
const TWO_POW_M52 = 2 ** -52; // a 53-bit integer times 2^-52, minus 1, is uniform on [-1, 1)

/** Fills a Uint32Array with random words; the default is crypto.getRandomValues. */
export type RandomSource = (words: Uint32Array) => void;

const cryptoSource: RandomSource = (words) => {
  crypto.getRandomValues(words);
};

/**
 * Writes `out.length` samples of N(0, std^2) into `out` (added to what is there when `add`): Marsaglia's polar
 * method on 53-bit uniforms, u, v in [-1, 1). Pairs with s = u^2 + v^2 outside (0, 1) are rejected, so log(s)/s
 * is always finite: no sample can be infinite, even where u = v = 0. Exported with a source parameter for tests.
 */
export function fillGaussian(
  out: Float32Array,
  std: number,
  add: boolean,
  source: RandomSource = cryptoSource,
): void {
  if (!(std >= 0 && Number.isFinite(std)))
    throw new RangeError(`noise std must be a finite number >= 0, got ${std}`);
  const n = out.length;
  let i = 0;
  while (i < n) {
    // Only as many random words as the rest needs (a pair takes 4/(pi/4) ~ 5.1 words on average), so
    // small vectors do not pay for a full 64 KiB draw.
    const want = Math.min(CHUNK_WORDS, 4 * Math.ceil(((n - i) / 2) * 1.3 + 8));
    const words = pool.subarray(0, want);
    source(words);
    // Four words make two 53-bit uniforms (27 + 26 bits each), which make two independent normals.
    for (let w = 0; w + 4 <= want && i < n; w += 4) {
      const u = ((words[w]! >>> 5) * 67108864 + (words[w + 1]! >>> 6)) * TWO_POW_M52 - 1;
      const v = ((words[w + 2]! >>> 5) * 67108864 + (words[w + 3]! >>> 6)) * TWO_POW_M52 - 1;
      const s = u * u + v * v;
      if (s >= 1 || s === 0) continue;
      const f = std * Math.sqrt((-2 * Math.log(s)) / s);
      out[i] = add ? out[i]! + u * f : u * f;
      i++;
      if (i < n) {
        out[i] = add ? out[i]! + v * f : v * f;
        i++;
      }
    }
  }
}

/** n samples of N(0, std^2) from crypto.getRandomValues. */
export function gaussianNoise(n: number, std: number): Float32Array {
  if (!(Number.isInteger(n) && n >= 0))
    throw new RangeError(`sample count must be an integer >= 0, got ${n}`);
  const out = new Float32Array(n);
  fillGaussian(out, std, false);
  return out;
}

/** Adds N(0, std^2) noise to every entry of v, in place. */
export function addGaussianNoise(v: Float32Array, std: number): void {
  fillGaussian(v, std, true);
}

/**
 * The noise std one client adds: sigma*C with local noise; sigma*C/sqrt(m) with distributed noise, so that the
 * sum over m clients carries std sigma*C.
 */
export function noiseStdPerClient(
  t: Pick<TrainingConfig, 'clipNorm' | 'noiseMultiplier' | 'noiseMode' | 'expectedClientsPerRound'>,
): number {
  if (!(t.clipNorm > 0 && Number.isFinite(t.clipNorm)))
    throw new RangeError(`clipNorm must be > 0, got ${t.clipNorm}`);
  if (!(t.noiseMultiplier >= 0 && Number.isFinite(t.noiseMultiplier)))
    throw new RangeError(`noiseMultiplier must be >= 0, got ${t.noiseMultiplier}`);
  const total = t.noiseMultiplier * t.clipNorm;
  if (t.noiseMode === 'local') return total;
  if (t.noiseMode !== 'distributed') throw new RangeError(`unknown noise mode '${String(t.noiseMode)}'`);
  const m = t.expectedClientsPerRound;
  if (!(m >= 1 && Number.isFinite(m))) throw new RangeError(`expectedClientsPerRound must be >= 1, got ${m}`);
  return total / Math.sqrt(m);
}
