/**
 * Sampler of the discrete Gaussian N_Z(0, sigma^2) (Canonne, Kamath & Steinke, "The Discrete Gaussian for
 * Differential Privacy", NeurIPS 2020) by inversion of a cumulative distribution table (CDT) driven by
 * uniform 32-bit words from a cryptographic source.
 *
 * The table holds F(x) = P(X <= x) for x in [-N, N] as 96-bit fixed-point fractions, computed once per
 * integer variance s2 in BigInt arithmetic at 160 fractional bits (no floating-point exp). A draw compares
 * a uniform U in [0, 1) with the table, word by word: the first word decides unless it equals the high word
 * of an entry (probability below 2^-15 per draw at the largest variance), then two more words give the
 * 96 bits that decide exactly, since every entry is a multiple of 2^-96. About one word per draw.
 * Statistical distance from N_Z(0, s2), for every supported s2 (<= 2^24, N = ceil(10.6 sigma) + 1):
 *   tail outside [-N, N]: <= 2 e^{-N^2 / 2 s2} (s2 / N) / Z <= 2^-80 sigma / (10.6 sigma sqrt(2 pi)) < 2^-84;
 *   entries rounded down to 2^-96 (so each of the 2N + 1 probabilities is off by less than 2^-96):
 *   <= (2N + 1) 2^-96 / 2 < 2^-80;
 *   BigInt evaluation (each weight within x^2 2^-160 < 2^-128 of e^{-x^2 / 2 s2}): below 2^-110;
 * in all below 2^-79 per draw. A round's n d draws are within n d 2^-79 of exact (2^-54 at n = 100,
 * d = 323,255), which moves a release's delta by at most that times (1 + e^epsilon): nothing beside 1e-5.
 */
import { WasmEncoder } from './encoder-wasm.ts';
import { RandomWords } from './random.ts';

/** Largest supported variance (its table then spans 2 * 43,419 + 1 values, 1 MiB). */
export const MAX_DG_VARIANCE = 2 ** 24;

/** Fractional bits of the BigInt evaluation of the weights. */
const PREC = 160n;
/** Standard deviations kept on each side: e^{-10.6^2 / 2} < 2^-81. */
const TAIL_SIGMAS = 10.6;

/** The cumulative table of N_Z(0, s2): F(-N + i) for i = 0..2N - 1 as 96-bit words (F(N) = 1 is implicit). */
export interface DiscreteGaussianTable {
  s2: number;
  /** Support [-n, n]. */
  n: number;
  hi: Uint32Array;
  mid: Uint32Array;
  lo: Uint32Array;
  /** guide[g] = first entry whose high word is >= g << (32 - guideBits): where a search for U starts. */
  guide: Uint32Array;
  guideBits: number;
}

/** e^{-1 / (2 s2)} at PREC fractional bits (alternating Taylor series; each term is smaller than the last). */
function expNegHalfInv(s2: number): bigint {
  const one = 1n << PREC;
  const den = BigInt(2 * s2);
  let term = one;
  let sum = one;
  for (let k = 1n; term !== 0n; k++) {
    term = -term / (den * k);
    sum += term;
  }
  return sum;
}

/** Builds the table of N_Z(0, s2) (a few ms at the default variance; cached by `tableFor`). */
export function buildDiscreteGaussianTable(s2: number): DiscreteGaussianTable {
  const n = Math.ceil(TAIL_SIGMAS * Math.sqrt(s2)) + 1;
  // w(x) = e^{-x^2 / 2 s2} = r^{x^2}: w(x + 1) = w(x) r^{2x + 1}, with the odd power kept in c.
  const r = expNegHalfInv(s2);
  const r2 = (r * r) >> PREC;
  const w: bigint[] = [1n << PREC];
  let c = r;
  for (let x = 1; x <= n; x++) {
    w.push((w[x - 1]! * c) >> PREC);
    c = (c * r2) >> PREC;
  }
  let z = w[0]!;
  for (let x = 1; x <= n; x++) z += 2n * w[x]!;
  const m = 2 * n; // entries: F(-n .. n - 1)
  const hi = new Uint32Array(m);
  const mid = new Uint32Array(m);
  const lo = new Uint32Array(m);
  let cum = 0n;
  const mask = 0xffffffffn;
  for (let i = 0; i < m; i++) {
    cum += w[Math.abs(i - n)]!;
    const f = (cum << 96n) / z; // floor: < 2^96 since cum < z
    hi[i] = Number(f >> 64n);
    mid[i] = Number((f >> 32n) & mask);
    lo[i] = Number(f & mask);
  }
  const guideBits = Math.min(16, Math.max(4, Math.ceil(Math.log2(m)) + 2));
  const guide = new Uint32Array((1 << guideBits) + 1);
  const shift = 32 - guideBits;
  for (let g = 0, i = 0; g <= 1 << guideBits; g++) {
    while (i < m && hi[i]! >>> shift < g) i++;
    guide[g] = i;
  }
  return { s2, n, hi, mid, lo, guide, guideBits };
}

// The tables last used: a round's clients share one variance, so this rarely holds more than one.
const tables = new Map<number, DiscreteGaussianTable>();

function tableFor(s2: number): DiscreteGaussianTable {
  let t = tables.get(s2);
  if (!t) {
    if (tables.size >= 4) tables.clear();
    t = buildDiscreteGaussianTable(s2);
    tables.set(s2, t);
  }
  return t;
}

/** One draw from a table: the smallest i with U < F(-N + i), as the value i - N. */
export function sampleFromTable(t: DiscreteGaussianTable, r: RandomWords): number {
  const { hi, mid, lo } = t;
  const m = hi.length;
  const w0 = r.word();
  const g = w0 >>> (32 - t.guideBits);
  // The first entry with a high word >= w0 lies between guide[g] and guide[g + 1] (a few apart at most
  // where the mass is, thousands apart only in the far tails).
  let i = t.guide[g]!;
  let end = t.guide[g + 1]!;
  while (i < end) {
    const h = (i + end) >>> 1;
    if (hi[h]! < w0) i = h + 1;
    else end = h;
  }
  if (i < m && hi[i] === w0) {
    // The high words tie: U's next 64 bits decide (U >= F exactly when its 96-bit prefix is >= F).
    const w1 = r.word();
    const w2 = r.word();
    while (i < m && hi[i] === w0 && (mid[i]! < w1 || (mid[i] === w1 && lo[i]! <= w2))) i++;
  }
  return i - t.n;
}

function checkVariance(s2: number): void {
  if (!(Number.isInteger(s2) && s2 >= 1 && s2 <= MAX_DG_VARIANCE))
    throw new RangeError(`discrete Gaussian variance must be an integer in 1..${MAX_DG_VARIANCE}, got ${s2}`);
}

/** One draw of N_Z(0, s2) for an integer variance 1 <= s2 <= MAX_DG_VARIANCE. */
export function sampleDiscreteGaussian(r: RandomWords, s2: number): number {
  checkVariance(s2);
  return sampleFromTable(tableFor(s2), r);
}

/** The (cached) table for variance s2, or null for s2 = 0 (no noise); throws for an unsupported s2. */
export function noiseTable(s2: number): DiscreteGaussianTable | null {
  if (s2 === 0) return null;
  checkVariance(s2);
  return tableFor(s2);
}

/**
 * Adds N_Z(0, s2) to every entry of `out` in place; s2 = 0 adds nothing. The draws run in WebAssembly
 * where they can (encoder-wasm.ts: the same draws from the same words), else here.
 */
export function addDiscreteGaussian(out: Int32Array, s2: number, r: RandomWords = new RandomWords()): void {
  const t = noiseTable(s2);
  if (!t) return;
  const wasm = WasmEncoder.get();
  if (wasm) return wasm.addNoise(out, t, r);
  for (let i = 0; i < out.length; i++) out[i] = out[i]! + sampleFromTable(t, r);
}
