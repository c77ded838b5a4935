import { describe, expect, it } from 'vitest';
import { blockSizes, makeRotation, MAX_BLOCK, rotate, unrotate } from './rotation.ts';

const seed = (b: number): Uint8Array => new Uint8Array(32).fill(b);

describe('randomized Hadamard rotation', () => {
  it('splits d into power-of-two blocks with no padding', () => {
    expect(blockSizes(323_255).reduce((a, b) => a + b, 0)).toBe(323_255);
    expect(blockSizes(323_255).every((b) => (b & (b - 1)) === 0 && b <= MAX_BLOCK)).toBe(true);
    expect(blockSizes(5)).toEqual([4, 1]);
  });

  it('is orthogonal: inverse exact to 1e-9 and norm preserved', async () => {
    const d = 70_001;
    const r = await makeRotation(seed(1), d);
    const x = Float64Array.from({ length: d }, () => Math.random() - 0.5);
    const z = rotate(r, x);
    const n = (v: Float64Array): number => Math.sqrt(v.reduce((s, a) => s + a * a, 0));
    expect(Math.abs(n(z) - n(x)) / n(x)).toBeLessThan(1e-12);
    const back = unrotate(r, z);
    let err = 0;
    for (let i = 0; i < d; i++) err = Math.max(err, Math.abs(back[i]! - x[i]!));
    expect(err).toBeLessThan(1e-9);
  });

  it('is exactly sign, permutation and the Sylvester Hadamard matrix per block, times the factor', async () => {
    const d = 16 + 8 + 2 + 1; // blocks of both parities of log2, and a block of one
    const r = await makeRotation(seed(3), d);
    const x = Float64Array.from({ length: d }, (_, i) => Math.sin(i + 1));
    const z = rotate(r, x, 2.5);
    let off = 0;
    for (const b of r.blocks) {
      for (let i = 0; i < b; i++) {
        let want = 0;
        for (let j = 0; j < b; j++) {
          let ones = 0;
          for (let v = i & j; v; v &= v - 1) ones++; // H[i][j] = (-1)^popcount(i & j)
          want += (ones % 2 ? -1 : 1) * r.signs[off + j]! * x[r.perm[off + j]!]!;
        }
        expect(z[off + i]).toBeCloseTo((2.5 * want) / Math.sqrt(b), 12);
      }
      off += b;
    }
    const back = unrotate(r, rotate(r, x));
    for (let i = 0; i < d; i++) expect(back[i]).toBeCloseTo(x[i]!, 12);
  });

  it('is a function of the seed only, and flattens a spike', async () => {
    const d = 65_536 + 100;
    const a = await makeRotation(seed(2), d);
    const b = await makeRotation(seed(2), d);
    expect(a.perm).toEqual(b.perm);
    expect(a.signs).toEqual(b.signs);
    const x = new Float64Array(d);
    x[7] = 1; // all the norm on one coordinate
    const z = rotate(a, x);
    const max = z.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    expect(max).toBeLessThanOrEqual(1 / Math.sqrt(64) + 1e-12); // at worst it landed in a block of >= 64
  });
});
