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
  private half = -1; // the unused upper 16 bits of the last word split for a small draw, or -1
  private pending: Uint32Array | null = null; // words given back by unread(), returned before the buffer's
  private pi = 0;

  constructor(private readonly source: RandomSource = cryptoSource) {}

  /** A uniform 32-bit word. */
  word(): number {
    if (this.pending !== null) {
      const w = this.pending[this.pi++]!;
      if (this.pi === this.pending.length) this.pending = null;
      return w;
    }
    if (this.i === BUFFER_WORDS) {
      this.source(this.buf);
      this.i = 0;
    }
    return this.buf[this.i++]!;
  }

  /** Fills `dst` with the next dst.length words: the same words, in order, as that many word() calls. */
  fill(dst: Uint32Array): void {
    let k = 0;
    while (k < dst.length && this.pending !== null) dst[k++] = this.word();
    while (k < dst.length) {
      if (this.i === BUFFER_WORDS) {
        this.source(this.buf);
        this.i = 0;
      }
      const take = Math.min(dst.length - k, BUFFER_WORDS - this.i);
      dst.set(this.buf.subarray(this.i, this.i + take), k);
      this.i += take;
      k += take;
    }
  }

  /**
   * Gives back words taken (by fill) but not used: the next word() calls return them, in order, before any
   * other. A consumer that reads ahead in bulk (the WebAssembly encoder) leaves the stream as word() would.
   */
  unread(words: Uint32Array): void {
    if (words.length === 0) return;
    const rest = this.pending ? this.pending.subarray(this.pi) : new Uint32Array(0);
    const next = new Uint32Array(words.length + rest.length);
    next.set(words);
    next.set(rest, words.length);
    this.pending = next;
    this.pi = 0;
  }

  /** 16 uniform bits (half a word; the other half is kept for the next call). */
  private bits16(): number {
    if (this.half >= 0) {
      const h = this.half;
      this.half = -1;
      return h;
    }
    const w = this.word();
    this.half = w >>> 16;
    return w & 0xffff;
  }

  /** A uniform integer in [0, n) for an integer 1 <= n <= 2^53. */
  below(n: number): number {
    if (n <= 0x10000) {
      // Small bounds (the sampler's common case) take 16 bits a try instead of 32.
      const limit = Math.floor(0x10000 / n) * n;
      for (;;) {
        const w = this.bits16();
        if (w < limit) return w % n;
      }
    }
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
    if (num <= 0) return false; // certain outcomes draw nothing
    if (num >= den) return true;
    if (den <= 0x10000) return this.below(den) < num;
    // Lazy comparison of a uniform U = (w + f) / 2^32 with num/den: one word decides unless w falls within
    // 2 of the threshold T = 2^32 num/den (the double estimate is off by far less than 1); then the exact
    // remainder decides: P(f < (num 2^32 - w den) / den).
    const t = (num / den) * TWO_POW_32;
    const w = this.word();
    if (w + 2 <= t) return true;
    if (w >= t + 1) return false;
    const r = BigInt(num) * BigInt(TWO_POW_32) - BigInt(w) * BigInt(den);
    if (r <= 0n) return false;
    if (r >= BigInt(den)) return true;
    return this.below(den) < Number(r);
  }

  /** A uniform double in [0, 1) with 53 random bits. */
  uniform(): number {
    return ((this.word() & 0x1fffff) * TWO_POW_32 + this.word()) / TWO_POW_53;
  }
}
