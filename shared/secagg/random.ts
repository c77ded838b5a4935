/**
 * Exact random draws from a source of uniform 32-bit words (crypto.getRandomValues by default): uniform
 * integers below any bound up to 2^53 by rejection, and Bernoulli trials with rational probabilities, so
 * that samplers built on them (the discrete Gaussian) have exactly their stated distribution.
 */
import type { RandomSource } from '../dp/noise.ts';

const BUFFER_WORDS = 16384; // getRandomValues fills at most 64 KiB per call
const TWO_POW_32 = 2 ** 32;
const TWO_POW_53 = 2 ** 53;

const cryptoSource: RandomSource = (w) => {
  crypto.getRandomValues(w);
};

/** Buffered uniform words with exact derived draws. */
export class RandomWords {
  private readonly buf = new Uint32Array(BUFFER_WORDS);
  private i = BUFFER_WORDS;

  constructor(private readonly source: RandomSource = cryptoSource) {}

  /** A uniform 32-bit word. */
  word(): number {
    if (this.i === BUFFER_WORDS) {
      this.source(this.buf);
      this.i = 0;
    }
    return this.buf[this.i++]!;
  }

  /** A uniform integer in [0, n) for an integer 1 <= n <= 2^53. */
  below(n: number): number {
    if (n <= TWO_POW_32) {
      const limit = Math.floor(TWO_POW_32 / n) * n;
      for (;;) {
        const w = this.word();
        if (w < limit) return w % n;
      }
    }
    const limit = Math.floor(TWO_POW_53 / n) * n;
    for (;;) {
      const w = (this.word() & 0x1fffff) * TWO_POW_32 + this.word(); // 53 uniform bits, exact
      if (w < limit) return w % n;
    }
  }

  /** True with probability num/den exactly (integers, 0 <= num <= den <= 2^53). */
  bernoulli(num: number, den: number): boolean {
    return this.below(den) < num;
  }

  /** A uniform double in [0, 1) with 53 random bits. */
  uniform(): number {
    return ((this.word() & 0x1fffff) * TWO_POW_32 + this.word()) / TWO_POW_53;
  }
}
