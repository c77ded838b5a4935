/**
 * Arithmetic in the ring Z_{2^b} (1 <= b <= 32) on Uint32Array, and the packing of ring vectors into exactly
 * b bits per element (little-endian bit order) for upload: b = 16 costs 2 bytes per parameter.
 */
import { addInto16 } from './lanes16.ts';

/** Largest supported ring width in bits. */
export const MAX_RING_BITS = 32;

/** True when b is a supported ring width. */
export function isRingBits(b: number): boolean {
  return Number.isInteger(b) && b >= 1 && b <= MAX_RING_BITS;
}

/** 2^b - 1 as an unsigned 32-bit value. */
export function ringMask(b: number): number {
  return b === 32 ? 0xffffffff : 2 ** b - 1;
}

/** a += b (mod 2^bits), in place. */
export function ringAddInto(a: Uint32Array, b: Uint32Array, bits: number): void {
  if (a.length !== b.length)
    throw new RangeError(`ring vectors differ in length: ${a.length} vs ${b.length}`);
  const m = ringMask(bits);
  // Sums of two values below 2^32 are exact in doubles; & then >>> 0 brings them back to [0, 2^b).
  if (bits === 32) for (let i = 0; i < a.length; i++) a[i] = a[i]! + b[i]!;
  else for (let i = 0; i < a.length; i++) a[i] = (a[i]! + b[i]!) & m;
}

/** a -= b (mod 2^bits), in place. */
export function ringSubInto(a: Uint32Array, b: Uint32Array, bits: number): void {
  if (a.length !== b.length)
    throw new RangeError(`ring vectors differ in length: ${a.length} vs ${b.length}`);
  const m = ringMask(bits);
  if (bits === 32) for (let i = 0; i < a.length; i++) a[i] = a[i]! - b[i]!;
  else for (let i = 0; i < a.length; i++) a[i] = (a[i]! - b[i]! + m + 1) & m;
}

/** Reduces signed integers into [0, 2^bits). */
export function toRing(x: Int32Array | Float64Array, bits: number): Uint32Array {
  const out = new Uint32Array(x.length);
  // Int32 values in two's complement: & keeps the low bits, which is the value mod 2^bits (no double %).
  if (x instanceof Int32Array) {
    const m = ringMask(bits);
    if (bits === 32) for (let i = 0; i < x.length; i++) out[i] = x[i]!;
    else for (let i = 0; i < x.length; i++) out[i] = x[i]! & m;
    return out;
  }
  const mod = 2 ** bits;
  for (let i = 0; i < x.length; i++) {
    const r = x[i]! % mod;
    out[i] = r < 0 ? r + mod : r;
  }
  return out;
}

/**
 * Reduces signed integers into [0, 2^bits) in place and returns them as a Uint32Array over the same memory
 * (x is given up): toRing's values without a second d-sized vector. At 32 bits the two's complement bits
 * already are the value mod 2^32; below, & leaves a value under 2^31, which the Int32Array store keeps.
 */
export function toRingInPlace(x: Int32Array, bits: number): Uint32Array {
  if (bits !== 32) {
    const m = ringMask(bits);
    for (let i = 0; i < x.length; i++) x[i] = x[i]! & m;
  }
  return new Uint32Array(x.buffer, x.byteOffset, x.length);
}

/** Centered lift: [0, 2^bits) -> [-2^(bits-1), 2^(bits-1)). */
export function centered(x: Uint32Array, bits: number): Float64Array {
  const out = new Float64Array(x.length);
  const mod = 2 ** bits;
  const half = mod / 2;
  for (let i = 0; i < x.length; i++) out[i] = x[i]! >= half ? x[i]! - mod : x[i]!;
  return out;
}

/** Bytes of `count` elements packed at `bits` bits each. */
export function packedBytes(count: number, bits: number): number {
  return Math.ceil((count * bits) / 8);
}

// Whether typed arrays store their elements little-endian (every platform browsers and Node ship on).
const LITTLE_ENDIAN = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;

/**
 * Packs ring elements at exactly `bits` bits each (LSB first); unused high bits of the last byte are 0. A
 * Uint16Array (b = 16 only) is already that layout on a little-endian platform: its bytes are copied.
 */
export function packRing(x: Uint32Array | Uint16Array, bits: number): Uint8Array {
  if (x instanceof Uint16Array) {
    if (bits !== 16) throw new RangeError(`a Uint16Array packs at 16 bits, not ${bits}`);
    if (LITTLE_ENDIAN) return new Uint8Array(x.buffer.slice(x.byteOffset, x.byteOffset + x.byteLength));
    const out = new Uint8Array(2 * x.length);
    for (let i = 0; i < x.length; i++) {
      out[2 * i] = x[i]! & 0xff;
      out[2 * i + 1] = x[i]! >>> 8;
    }
    return out;
  }
  const out = new Uint8Array(packedBytes(x.length, bits));
  if (bits === 8 || bits === 16 || bits === 32) {
    const step = bits / 8;
    for (let i = 0, o = 0; i < x.length; i++, o += step) {
      const v = x[i]!;
      out[o] = v & 0xff;
      if (step > 1) out[o + 1] = (v >>> 8) & 0xff;
      if (step > 2) {
        out[o + 2] = (v >>> 16) & 0xff;
        out[o + 3] = v >>> 24;
      }
    }
    return out;
  }
  let acc = 0; // pending bits, fewer than 8 + bits <= 40: kept exact as a double
  let n = 0;
  let o = 0;
  for (let i = 0; i < x.length; i++) {
    acc += x[i]! * 2 ** n;
    n += bits;
    while (n >= 8) {
      out[o++] = acc % 256;
      acc = Math.floor(acc / 256);
      n -= 8;
    }
  }
  if (n > 0) out[o] = acc;
  return out;
}

/**
 * packRing that takes over x (the caller does not use it again): where x's bytes already are the packed
 * layout (a Uint16Array at b = 16 on a little-endian platform) they are returned as they are, not copied.
 */
export function packRingTaking(x: Uint32Array | Uint16Array, bits: number): Uint8Array {
  if (x instanceof Uint16Array && bits === 16 && LITTLE_ENDIAN)
    return new Uint8Array(x.buffer, x.byteOffset, x.byteLength);
  return packRing(x, bits);
}

/**
 * Unpacks `count` elements of `bits` bits. The caller has checked the length; padding bits must be zero
 * (returns null otherwise, so one byte string has one meaning).
 */
export function unpackRing(bytes: Uint8Array, count: number, bits: number): Uint32Array | null {
  if (bytes.length !== packedBytes(count, bits)) return null;
  const out = new Uint32Array(count);
  if (bits === 8 || bits === 16 || bits === 32) {
    const step = bits / 8;
    for (let i = 0, o = 0; i < count; i++, o += step) {
      let v = bytes[o]!;
      if (step > 1) v |= bytes[o + 1]! << 8;
      if (step > 2) v = (v | (bytes[o + 2]! << 16)) + bytes[o + 3]! * 0x1000000;
      out[i] = v;
    }
    return out;
  }
  let acc = 0;
  let n = 0;
  let o = 0;
  const mod = 2 ** bits;
  for (let i = 0; i < count; i++) {
    while (n < bits) {
      acc += bytes[o++]! * 2 ** n;
      n += 8;
    }
    out[i] = acc % mod;
    acc = Math.floor(acc / mod);
    n -= bits;
  }
  return acc === 0 ? out : null;
}

/**
 * True when the unused high bits of the last byte of `count` packed `bits`-bit elements are zero (what
 * unpackRing checks, without unpacking). The caller has checked the length.
 */
export function packedPaddingIsZero(bytes: Uint8Array, count: number, bits: number): boolean {
  const unused = bytes.length * 8 - count * bits;
  return unused === 0 || bytes[bytes.length - 1]! >>> (8 - unused) === 0;
}

/**
 * pack(unpack(a) + unpack(b)) mod 2^bits for `count` packed elements, in one pass over the bytes when
 * elements are whole bytes (b = 8, 16, 32: little-endian with the carry kept inside each element).
 */
export function ringAddPacked(a: Uint8Array, b: Uint8Array, count: number, bits: number): Uint8Array {
  const len = packedBytes(count, bits);
  if (a.length !== len || b.length !== len) throw new RangeError(`packed ring vectors must be ${len} bytes`);
  if (bits !== 8 && bits !== 16 && bits !== 32) {
    const x = unpackRing(a, count, bits)!;
    ringAddInto(x, unpackRing(b, count, bits)!, bits);
    return packRing(x, bits);
  }
  if (bits === 16 && LITTLE_ENDIAN) {
    // The bytes are little-endian 16-bit elements: added two per word (lanes16.ts). A copy of b that
    // starts on an odd byte is the price of reading it as Uint16Array (message bodies may).
    const out = a.slice();
    const bb = b.byteOffset % 2 === 0 ? b : b.slice();
    addInto16(new Uint16Array(out.buffer, 0, count), new Uint16Array(bb.buffer, bb.byteOffset, count));
    return out;
  }
  const step = bits / 8;
  const out = new Uint8Array(len);
  for (let o = 0; o < len; o += step) {
    let carry = 0;
    for (let j = o; j < o + step; j++) {
      const v = a[j]! + b[j]! + carry;
      out[j] = v & 0xff;
      carry = v >>> 8;
    }
  }
  return out;
}
