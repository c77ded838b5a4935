import { describe, expect, it } from 'vitest';
import { neighbourGraph } from './graph.ts';

describe('SecAgg+ neighbour graph (random Harary graph)', () => {
  it('is k-regular, symmetric, loop-free and the same for the same seed', async () => {
    const seed = crypto.getRandomValues(new Uint8Array(32));
    const g = await neighbourGraph(seed, 101, 10);
    const h = await neighbourGraph(seed, 101, 10);
    for (let s = 1; s <= 101; s++) {
      const ns = g.neighbours(s);
      expect(ns).toHaveLength(10);
      expect(ns).not.toContain(s);
      expect(h.neighbours(s)).toEqual(ns);
      for (const v of ns) expect(g.neighbours(v)).toContain(s);
    }
  });

  it('differs between seeds and is complete when k >= n - 1', async () => {
    const a = await neighbourGraph(new Uint8Array(32).fill(1), 50, 4);
    const b = await neighbourGraph(new Uint8Array(32).fill(2), 50, 4);
    expect([1, 2, 3, 4, 5].some((s) => a.neighbours(s).join() !== b.neighbours(s).join())).toBe(true);
    const c = await neighbourGraph(new Uint8Array(32), 6, 24);
    expect(c.neighbours(3)).toEqual([1, 2, 4, 5, 6]);
  });

  it('refuses an odd degree below n - 1', async () => {
    await expect(neighbourGraph(new Uint8Array(32), 50, 5)).rejects.toThrow(RangeError);
  });
});
