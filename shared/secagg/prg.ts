/**
 * The pseudo-random generator that expands a 32-byte seed into a mask: AES-256-CTR keystream (WebCrypto;
 * AES-256 as Google's production SecAgg uses: docs/secure-aggregation.md, Parameter choices)
 * from a zero counter, read as little-endian words (u32 for streams, the narrowest of u8/u16/u32 that holds
 * a ring element for masks). A seed is used for exactly one expansion per
 * purpose, so the fixed counter never repeats a keystream under one key.
 */
import { subtle } from './webcrypto.ts';

// The plaintext of every keystream: zeros, never written, grown on demand (a round expands ~25 masks of d).
let zeros = new Uint8Array(0);

/** The AES-256-CTR keystream of `seed` from a zero counter: `bytes` bytes. */
async function keystream(seed: Uint8Array, bytes: number): Promise<ArrayBuffer> {
  if (seed.length !== 32) throw new RangeError('PRG seeds are 32 bytes');
  const s = subtle();
  const key = await s.importKey('raw', seed, 'AES-CTR', false, ['encrypt']);
  if (zeros.length < bytes) zeros = new Uint8Array(bytes);
  const counter = new Uint8Array(16);
  // The whole 128-bit block is the counter (standard CTR). From zero, no expansion here comes near 2^64
  // blocks, so this is the same keystream a 64-bit counter gives; Node's WebCrypto took twice the CPU for it.
  return s.encrypt({ name: 'AES-CTR', counter, length: 128 }, key, zeros.subarray(0, bytes));
}

/**
 * Gives a consumed keystream's memory back at once where the runtime can (ArrayBuffer.prototype.transfer,
 * ES2024: current browsers, Node >= 21): a detached buffer's backing store is freed on the spot, so a
 * round's masks (a fresh WebCrypto buffer each, 16 MB at the default model) never pile up until the next
 * garbage collection. Elsewhere the buffer waits for the collector as before. `x` must be the only view
 * still in use on its buffer.
 */
export function releaseKeystream(x: ArrayBufferView): void {
  (x.buffer as { transfer?: (length: number) => unknown }).transfer?.(0);
}

/** `count` pseudo-random 32-bit words from `seed`. */
export async function expandWords(seed: Uint8Array, count: number): Promise<Uint32Array> {
  return new Uint32Array(await keystream(seed, count * 4));
}

/** Keystream bytes per mask element in Z_{2^bits}: the narrowest of 1, 2 or 4 that holds `bits`. */
export function maskElementBytes(bits: number): 1 | 2 | 4 {
  return bits <= 8 ? 1 : bits <= 16 ? 2 : 4;
}

/**
 * The raw mask of `count` elements in Z_{2^bits}: element i is keystream bytes [i w, (i + 1) w) read
 * little-endian (w = maskElementBytes(bits)); the caller reduces it to `bits` bits, which keeps it uniform
 * since 2^bits divides 2^(8w). At b = 16 this costs 2 keystream bytes per element, not 4.
 */
export async function expandMask(
  seed: Uint8Array,
  count: number,
  bits: number,
): Promise<Uint8Array | Uint16Array | Uint32Array> {
  const w = maskElementBytes(bits);
  const stream = await keystream(seed, count * w);
  return w === 1 ? new Uint8Array(stream) : w === 2 ? new Uint16Array(stream) : new Uint32Array(stream);
}

const TWO_POW_32 = 2 ** 32;
const TWO_POW_NEG_32 = 2 ** -32;
/** Bounds up to which w n (w < 2^32) stays below 2^53, exact in a double. */
const LEMIRE_MAX = 2 ** 21;

/** A deterministic stream of uniform integers below a bound, from PRG words (rejection sampling). */
export class WordStream {
  private i = 0;
  constructor(private readonly words: Uint32Array) {}

  /** Uniform integer in [0, n), n <= 2^32; throws if the stream runs out (size it generously). */
  below(n: number): number {
    if (n <= LEMIRE_MAX) {
      // Lemire's multiply-and-shift: the high word of w n is uniform on [0, n) once the low words below
      // 2^32 mod n are rejected; w n < 2^53 is exact in a double, and the division is only reached when the
      // low word is below n (probability n / 2^32).
      for (;;) {
        if (this.i >= this.words.length) throw new RangeError('PRG stream exhausted');
        const m = this.words[this.i++]! * n;
        const hi = Math.floor(m * TWO_POW_NEG_32);
        const lo = m - hi * TWO_POW_32;
        if (lo >= n || lo >= TWO_POW_32 % n) return hi;
      }
    }
    const limit = Math.floor(2 ** 32 / n) * n; // reject the last partial range so the draw is unbiased
    for (;;) {
      if (this.i >= this.words.length) throw new RangeError('PRG stream exhausted');
      const w = this.words[this.i++]!;
      // w mod n through a division (exact below 2^53): V8's double % is a slow library call.
      if (w < limit) return w - Math.floor(w / n) * n;
    }
  }

  /** The next raw word. */
  word(): number {
    if (this.i >= this.words.length) throw new RangeError('PRG stream exhausted');
    return this.words[this.i++]!;
  }
}
