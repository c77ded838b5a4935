import { describe, expect, it } from 'vitest';
import {
  centered,
  packRing,
  packRingTaking,
  packedBytes,
  packedPaddingIsZero,
  ringAddInto,
  ringAddPacked,
  ringMask,
  ringSubInto,
  toRing,
  toRingInPlace,
  unpackRing,
} from './ring.ts';

function randomRing(n: number, bits: number): Uint32Array {
  const x = crypto.getRandomValues(new Uint32Array(n));
  const m = ringMask(bits);
  return bits === 32 ? x : x.map((v) => v & m);
}

describe('ring Z_{2^b}', () => {
  it.each([1, 5, 8, 12, 15, 16, 17, 24, 31, 32])('packs and unpacks at %i bits exactly', (bits) => {
    const x = randomRing(1001, bits);
    const packed = packRing(x, bits);
    expect(packed.length).toBe(packedBytes(1001, bits));
    expect(unpackRing(packed, 1001, bits)).toEqual(x);
  });

  it('packs a Uint16Array at 16 bits to the same bytes as its Uint32Array values', () => {
    const x = randomRing(1001, 16);
    const narrow = new Uint16Array(1002).subarray(1); // a view that does not start its buffer
    narrow.set(x);
    expect(packRing(narrow, 16)).toEqual(packRing(x, 16));
    expect(() => packRing(narrow, 12)).toThrow(RangeError);
  });

  it('rejects nonzero padding bits and wrong lengths', () => {
    const packed = packRing(randomRing(3, 5), 5); // 15 bits in 2 bytes: the top bit is padding
    packed[1] = packed[1]! | 0x80;
    expect(unpackRing(packed, 3, 5)).toBeNull();
    expect(unpackRing(new Uint8Array(3), 3, 5)).toBeNull();
  });

  it.each([7, 16, 32])('add and subtract are inverse and wrap mod 2^%i', (bits) => {
    const a = randomRing(500, bits);
    const b = randomRing(500, bits);
    const c = a.slice();
    ringAddInto(c, b, bits);
    for (let i = 0; i < 500; i++) expect(c[i]).toBe((a[i]! + b[i]!) % 2 ** bits);
    ringSubInto(c, b, bits);
    expect(c).toEqual(a);
  });

  it('toRing and centered are inverse on [-2^(b-1), 2^(b-1))', () => {
    const x = Float64Array.of(-32768, -1, 0, 1, 32767);
    expect(Array.from(centered(toRing(x, 16), 16))).toEqual(Array.from(x));
    expect(Array.from(toRing(Float64Array.of(65536 + 3), 16))).toEqual([3]);
  });

  it.each([1, 7, 16, 31, 32])(
    'toRing of Int32 values (bit path) agrees with the arithmetic mod 2^%i',
    (bits) => {
      const x = Int32Array.from({ length: 2000 }, (_, i) => ((i * 2654435761) | 0) >> (i % 17));
      x[0] = -(2 ** 31);
      x[1] = 2 ** 31 - 1;
      x[2] = -1;
      const viaDoubles = toRing(Float64Array.from(x), bits);
      expect(toRing(x, bits)).toEqual(viaDoubles);
      const mod = 2 ** bits;
      for (let i = 0; i < x.length; i++) expect(viaDoubles[i]).toBe(((x[i]! % mod) + mod) % mod);
      const inPlace = toRingInPlace(x, bits);
      expect(inPlace).toEqual(viaDoubles);
      expect(inPlace.buffer).toBe(x.buffer); // no second vector
    },
  );

  it.each([12, 16, 32])('packRingTaking packs as packRing at b = %i, with no copy at b = 16', (bits) => {
    const x = randomRing(1001, bits);
    const y = bits === 16 ? Uint16Array.from(x) : x;
    const taken = packRingTaking(y, bits);
    expect(taken).toEqual(packRing(y, bits));
    expect(taken.buffer === y.buffer).toBe(bits === 16);
  });
});

describe('packed ring sums', () => {
  it.each([8, 12, 16, 32])('ringAddPacked(a, b) = pack(unpack(a) + unpack(b)) at %i bits', (bits) => {
    const n = 1001;
    const rand = (): Uint32Array =>
      crypto.getRandomValues(new Uint32Array(n)).map((v) => (bits === 32 ? v : v & (2 ** bits - 1)));
    const x = rand();
    const y = rand();
    const want = x.slice();
    ringAddInto(want, y, bits);
    expect(ringAddPacked(packRing(x, bits), packRing(y, bits), n, bits)).toEqual(packRing(want, bits));
    // Operands that start on an odd byte of their buffer (a message body inside a request) add the same.
    const shifted = (p: Uint8Array): Uint8Array => {
      const buf = new Uint8Array(p.length + 1);
      buf.set(p, 1);
      return buf.subarray(1);
    };
    const sum = ringAddPacked(shifted(packRing(x, bits)), shifted(packRing(y, bits)), n, bits);
    expect(sum).toEqual(packRing(want, bits));
  });

  it('packedPaddingIsZero agrees with unpackRing on the last byte', () => {
    const bytes = packRing(Uint32Array.from([5, 6, 7]), 12); // 36 bits: 4 unused bits in byte 5
    expect(packedPaddingIsZero(bytes, 3, 12)).toBe(true);
    bytes[4] = bytes[4]! | 0x10;
    expect(packedPaddingIsZero(bytes, 3, 12)).toBe(false);
    expect(unpackRing(bytes, 3, 12)).toBeNull();
    expect(packedPaddingIsZero(packRing(Uint32Array.from([65535]), 16), 1, 16)).toBe(true);
  });
});
