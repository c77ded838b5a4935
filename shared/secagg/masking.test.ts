import { createCipheriv } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { applyMasks, pairSign } from './masking.ts';
import { expandMask, expandWords, maskElementBytes } from './prg.ts';

const seed = (): Uint8Array => crypto.getRandomValues(new Uint8Array(32));

describe('mask expansion', () => {
  it('reads 2 keystream bytes per element at b = 16 (the same stream as the 32-bit words)', async () => {
    const s = seed();
    const words = await expandWords(s, 500);
    const mask = await expandMask(s, 1000, 16);
    expect(maskElementBytes(16)).toBe(2);
    expect(mask.length).toBe(1000);
    for (let i = 0; i < 500; i++) {
      expect(mask[2 * i]).toBe(words[i]! & 0xffff);
      expect(mask[2 * i + 1]).toBe(words[i]! >>> 16);
    }
  });

  it('is the standard AES-256-CTR keystream of the seed from a zero counter block', async () => {
    const s = seed();
    const words = await expandWords(s, 70_000); // > 2^16 blocks: carries into the counter's third byte
    const ref = createCipheriv('aes-256-ctr', s, new Uint8Array(16)).update(new Uint8Array(280_000));
    expect(Buffer.from(words.buffer).equals(ref)).toBe(true); // toEqual on 280 kB takes seconds
  });

  it.each([8, 12, 16, 20, 31, 32])(
    'stays in Z_2^%i and cancels: +PRG(s) on one end, -PRG(s) on the other',
    async (bits) => {
      const s = seed();
      const n = 4096;
      const x = Uint32Array.from({ length: n }, (_, i) => (i * 2654435761) % 2 ** bits);
      const y = x.slice();
      await applyMasks(y, [{ seed: s, sign: pairSign(1, 2) }], bits);
      let moved = 0;
      for (let i = 0; i < n; i++) {
        expect(y[i]!).toBeLessThan(2 ** bits);
        if (y[i] !== x[i]) moved++;
      }
      expect(moved).toBeGreaterThan(n * (1 - 4 / 2 ** Math.min(bits, 8)));
      await applyMasks(y, [{ seed: s, sign: pairSign(2, 1) }], bits);
      expect(y).toEqual(x);
    },
  );

  it.each([1, 4, 4097])(
    'applies several masks to a Uint16Array exactly as to a Uint32Array at b = 16 (d = %i)',
    async (d) => {
      const terms = [1, -1, 1, 1, -1].map((sign) => ({ seed: seed(), sign: sign as 1 | -1 }));
      const x = Uint32Array.from(crypto.getRandomValues(new Uint16Array(d)));
      const wide = x.slice();
      for (const t of terms) await applyMasks(wide, [t], 16); // one at a time, into a Uint32Array
      const narrow = new Uint16Array(d);
      narrow.set(x);
      await applyMasks(narrow, terms, 16);
      expect(Uint32Array.from(narrow)).toEqual(wide);
      expect(wide).not.toEqual(x);
      await expect(applyMasks(narrow, terms, 12)).rejects.toThrow(RangeError);
    },
  );

  it('releases each keystream once it is accumulated, where ArrayBuffer.prototype.transfer exists', async () => {
    const proto = ArrayBuffer.prototype as { transfer?: (n: number) => ArrayBuffer };
    const native = Object.getOwnPropertyDescriptor(ArrayBuffer.prototype, 'transfer');
    const released: ArrayBuffer[] = [];
    // Node 20 lacks transfer: a stand-in with its effect (the buffer is detached) records each call.
    proto.transfer = function (this: ArrayBuffer) {
      released.push(this);
      structuredClone(this, { transfer: [this] });
      return new ArrayBuffer(0);
    };
    try {
      const terms = [1, -1, 1].map((sign) => ({ seed: seed(), sign: sign as 1 | -1 }));
      const x = crypto.getRandomValues(new Uint16Array(1001));
      const want = Uint32Array.from(x);
      for (const t of terms) await applyMasks(want, [t], 16);
      released.length = 0;
      const got = x.slice();
      await applyMasks(got, terms, 16);
      expect(Uint32Array.from(got)).toEqual(want);
      expect(released).toHaveLength(terms.length);
      for (const b of released) expect(b.byteLength).toBe(0);
    } finally {
      if (native) Object.defineProperty(ArrayBuffer.prototype, 'transfer', native);
      else delete proto.transfer;
    }
  });
});
