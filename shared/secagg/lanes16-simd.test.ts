import { describe, expect, it, vi } from 'vitest';
import { addInto16, subInto16 } from './lanes16.ts';
import { lanes16Simd } from './lanes16-simd.ts';

/** n random elements (getRandomValues fills at most 64 KiB per call). */
function random16(n: number): Uint16Array {
  const out = new Uint16Array(n);
  for (let i = 0; i < n; i += 32768) crypto.getRandomValues(out.subarray(i, i + 32768));
  return out;
}
const seed = (): Uint8Array => crypto.getRandomValues(new Uint8Array(32));

/** The JS lane loop's result of applying `ms` with `signs` to `a`. */
function reference(a: Uint16Array, ms: Uint16Array[], signs: (1 | -1)[]): Uint16Array {
  const y = a.slice();
  ms.forEach((m, i) => (signs[i] === 1 ? addInto16 : subInto16)(y, m));
  return y;
}

describe('16-bit lanes in WebAssembly SIMD', () => {
  it('is available in Node 20 (so the tests below exercise it, not the fallback)', () => {
    expect(lanes16Simd(8)).not.toBeNull();
  });

  it.each([1, 7, 8, 9, 15, 16, 17, 1000, 40_961])('equals the JS lane loop on %i elements', (n) => {
    const a = random16(n);
    const ms = [random16(n), random16(n), random16(n)];
    const signs: (1 | -1)[] = [1, -1, 1];
    // Every carry and borrow edge at the start of the vector.
    const edges = [0, 1, 0x7fff, 0x8000, 0xffff];
    edges.forEach((x, i) => i < n && ((a[i] = x), (ms[0]![i] = edges[(i + 2) % 5]!)));
    const s = lanes16Simd(n)!;
    s.load(a);
    ms.forEach((m, i) => s.apply(m, signs[i]!));
    const out = new Uint16Array(n);
    s.storeAndWipe(out);
    expect(out).toEqual(reference(a, ms, signs));
  });

  it('gives concurrent users memories of their own, and a reused memory starts from the loaded value', () => {
    const n = 5000;
    const [a, b, m] = [random16(n), random16(n), random16(n)];
    const sa = lanes16Simd(n)!;
    const sb = lanes16Simd(n)!;
    sa.load(a);
    sb.load(b);
    sa.apply(m, 1);
    sb.apply(m, -1);
    const [oa, ob] = [new Uint16Array(n), new Uint16Array(n)];
    sa.storeAndWipe(oa);
    sb.storeAndWipe(ob);
    expect(oa).toEqual(reference(a, [m], [1]));
    expect(ob).toEqual(reference(b, [m], [-1]));
    // A longer vector after these grows the reused memory; the padding lanes left behind stay unread.
    const big = random16(200_003);
    const mb = random16(200_003);
    const s = lanes16Simd(big.length)!;
    s.load(big);
    s.apply(mb, -1);
    const ob2 = new Uint16Array(big.length);
    s.storeAndWipe(ob2);
    expect(ob2).toEqual(reference(big, [mb], [-1]));
  });

  it('refuses a mask of another length', () => {
    const s = lanes16Simd(10)!;
    s.load(random16(10));
    expect(() => s.apply(random16(11), 1)).toThrow(RangeError);
    s.storeAndWipe(new Uint16Array(10));
  });

  it('applyMasks gives the same bytes with WebAssembly as without it (a page whose CSP forbids it)', async () => {
    const n = 10_001;
    const x = random16(n);
    const terms = [seed(), seed(), seed()].map((s, i) => ({ seed: s, sign: (i === 1 ? -1 : 1) as 1 | -1 }));
    const withSimd = x.slice();
    await (await import('./masking.ts')).applyMasks(withSimd, terms, 16);
    vi.resetModules();
    vi.stubGlobal('WebAssembly', undefined);
    try {
      const fresh = await import('./lanes16-simd.ts');
      expect(fresh.lanes16Simd(n)).toBeNull();
      const without = x.slice();
      await (await import('./masking.ts')).applyMasks(without, terms, 16);
      expect(without).toEqual(withSimd);
      expect(withSimd).not.toEqual(x);
    } finally {
      vi.unstubAllGlobals();
      vi.resetModules();
    }
  });
});
