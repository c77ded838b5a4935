import { describe, expect, it } from 'vitest';
import { addInto16, subInto16 } from './lanes16.ts';

const random16 = (n: number): Uint16Array => crypto.getRandomValues(new Uint16Array(n));

/** The reference: one element per step in doubles, reduced mod 2^16 explicitly. */
function plain(a: Uint16Array, b: Uint16Array, sign: 1 | -1): Uint16Array {
  return a.map((v, i) => (((v + sign * b[i]!) % 65536) + 65536) % 65536);
}

// Every carry and borrow case of a lane: 0, 1, 0x7fff, 0x8000, 0xffff against each other.
const EDGES = [0, 1, 0x7fff, 0x8000, 0x8001, 0xfffe, 0xffff];
const pairs = EDGES.flatMap((x) => EDGES.map((y) => [x, y] as const));

describe('16-bit lanes (SWAR)', () => {
  it.each([0, 1, 2, 7, 1000, 4097])('add and subtract equal the plain loop on %i random elements', (n) => {
    const a = random16(n);
    const b = random16(n);
    const sum = a.slice();
    addInto16(sum, b);
    expect(sum).toEqual(plain(a, b, 1));
    const diff = a.slice();
    subInto16(diff, b);
    expect(diff).toEqual(plain(a, b, -1));
  });

  it('wraps exactly in both lanes at every carry and borrow edge', () => {
    // Lane 0 and lane 1 of each word get different edge pairs, so a carry leaking across lanes shows.
    const a = Uint16Array.from(pairs.flatMap(([x], i) => [x, EDGES[i % EDGES.length]!]));
    const b = Uint16Array.from(pairs.flatMap(([, y], i) => [y, EDGES[(i * 3) % EDGES.length]!]));
    const sum = a.slice();
    addInto16(sum, b);
    expect(sum).toEqual(plain(a, b, 1));
    const diff = a.slice();
    subInto16(diff, b);
    expect(diff).toEqual(plain(a, b, -1));
    expect(Array.from(sum.subarray(0, 2))).toEqual([0, 0]); // 0 + 0, 0 + 0
  });

  it('handles views that do not start on a 32-bit word, and unequal lengths throw', () => {
    const buf = random16(1001);
    const m = random16(1001);
    const a = buf.subarray(1); // byteOffset 2: the lanes of a and m would not line up as words
    const want = plain(a, m.subarray(1), 1);
    addInto16(a, m.subarray(1));
    expect(a).toEqual(want);
    const aligned = random16(8);
    const odd = random16(9).subarray(1);
    const want2 = plain(aligned, odd, -1);
    subInto16(aligned, odd);
    expect(aligned).toEqual(want2);
    expect(() => addInto16(random16(3), random16(4))).toThrow(RangeError);
  });

  it('subtracting what was added gives back the input (masks cancel)', () => {
    const a = random16(3001);
    const m = random16(3001);
    const y = a.slice();
    addInto16(y, m);
    expect(y).not.toEqual(a);
    subInto16(y, m);
    expect(y).toEqual(a);
  });
});
