/**
 * The pseudo-random generator that expands a 32-byte seed into a mask: AES-256-CTR keystream (WebCrypto)
 * from a zero counter, read as little-endian u32 words. A seed is used for exactly one expansion per
 * purpose, so the fixed counter never repeats a keystream under one key.
 */
import { ringMask } from './ring.ts';
import { subtle } from './webcrypto.ts';

/** `count` pseudo-random 32-bit words from `seed`. */
export async function expandWords(seed: Uint8Array, count: number): Promise<Uint32Array> {
  if (seed.length !== 32) throw new RangeError('PRG seeds are 32 bytes');
  const s = subtle();
  const key = await s.importKey('raw', seed, 'AES-CTR', false, ['encrypt']);
  const zeros = new Uint8Array(count * 4);
  const stream = await s.encrypt({ name: 'AES-CTR', counter: new Uint8Array(16), length: 64 }, key, zeros);
  return new Uint32Array(stream);
}

/** A mask in Z_{2^bits}: `count` PRG words reduced to `bits` bits (uniform, since 2^bits divides 2^32). */
export async function expandMask(seed: Uint8Array, count: number, bits: number): Promise<Uint32Array> {
  const w = await expandWords(seed, count);
  if (bits < 32) {
    const m = ringMask(bits);
    for (let i = 0; i < w.length; i++) w[i] = w[i]! & m;
  }
  return w;
}

/** A deterministic stream of uniform integers below a bound, from PRG words (rejection sampling). */
export class WordStream {
  private i = 0;
  constructor(private readonly words: Uint32Array) {}

  /** Uniform integer in [0, n), n <= 2^32; throws if the stream runs out (size it generously). */
  below(n: number): number {
    const limit = Math.floor(2 ** 32 / n) * n; // reject the last partial range so the draw is unbiased
    for (;;) {
      if (this.i >= this.words.length) throw new RangeError('PRG stream exhausted');
      const w = this.words[this.i++]!;
      if (w < limit) return w % n;
    }
  }

  /** The next raw word. */
  word(): number {
    if (this.i >= this.words.length) throw new RangeError('PRG stream exhausted');
    return this.words[this.i++]!;
  }
}
