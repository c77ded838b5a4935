import { describe, expect, it } from 'vitest';
import { planEncoding } from './calibration.ts';
import { encodeUpdate } from './encode.ts';
import { maskedVector } from './masked-input.ts';
import type { MaskTerm } from './masking.ts';
import { RandomWords } from './random.ts';
import { makeRotation } from './rotation.ts';

/** A fixed word stream (xorshift32): the same rounding and noise draws on every run. */
function fixedWords(start: number): RandomWords {
  let x = start >>> 0 || 1;
  return new RandomWords((w) => {
    for (let i = 0; i < w.length; i++) {
      x ^= x << 13;
      x >>>= 0;
      x ^= x >>> 17;
      x ^= x << 5;
      x >>>= 0;
      w[i] = x;
    }
  });
}

async function sha256(bytes: Uint8Array): Promise<string> {
  const h = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>));
  return Array.from(h, (b) => b.toString(16).padStart(2, '0')).join('');
}

const bytesOf = (x: Uint32Array): Uint8Array => new Uint8Array(x.buffer, x.byteOffset, x.byteLength);

/** The case at ring width `bits`: a fixed update, rotation seed, randomness and 9 mask seeds. */
async function run(bits: number, d: number) {
  const e = planEncoding({ d, clipNorm: 1, noiseMultiplier: 1, noiseClients: 5, maxClients: 10 }, bits)!;
  const rot = await makeRotation(new Uint8Array(32).fill(bits), d);
  // Norm ~ 0.5 sqrt(d / 2) > C: the clip factor is exercised too.
  const update = Float32Array.from({ length: d }, (_, i) => Math.sin(i * 0.37 + bits) * 0.5);
  const terms: MaskTerm[] = Array.from({ length: 9 }, (_, i) => ({
    seed: new Uint8Array(32).fill(i + 1),
    sign: i % 3 === 0 ? 1 : -1,
  }));
  const out = await maskedVector(update, e, rot, terms, fixedWords(bits));
  const plain = encodeUpdate(update, e, rot, fixedWords(bits));
  return { e, out, plain };
}

// SHA-256 of the ring input and of the upload bytes, computed with the implementation before the encoding
// and masks were fused (the code client.ts ran inline until this file took it over): any change to what is computed shows here.
const GOLDEN: Record<number, { d: number; input: string; data: string }> = {
  16: {
    d: 40_000,
    input: 'ff04193742a72cbb23ba6abbf4da661ab7b288e0d942c9404542f178c06151b0',
    data: '51db24a0c9eb74973b93fecbb770597bb7964ed8ce4e2195b7683a3a876c281c',
  },
  11: {
    d: 3001,
    input: '5edacd35cd636efedbd7dd2d882fa32ae1053fead5eff2361c7f8b0197d9a8f9',
    data: 'efeb7aefb3db2c6199631856f653fa90f424e032144b4f84961ecb6bccdb3f3b',
  },
  12: {
    d: 3001,
    input: '22873544978347eff96cfd98655586ad4d40e72c61637da0ec4eda26b684b420',
    data: 'b6a71c93994a1c926bff99cd4a3c6c2af2b1b010384724c3a0e67da0bd88fd47',
  },
  20: {
    d: 3001,
    input: '19e57d6efb3b5e778bc4dc35f751406eac413ec5b639eedc98225f70c572567d',
    data: '1e6639aa8600da78a958b25fd9c4464f368056ac1d892afbf3c022b7ec5d833c',
  },
  32: {
    d: 3001,
    input: 'ba95b81b35ac7398cc60dcbb7e5898bf2cf622d5f2161d92be65fd576f6140ac',
    data: 'd65ecc0ab75de1621298aa271a07bb75dd005c9f3d63fcf0449bda032043be15',
  },
};

describe('masked input is bit-identical to the reference implementation', () => {
  it.each(Object.keys(GOLDEN).map(Number))('at b = %i', async (bits) => {
    const g = GOLDEN[bits]!;
    const { e, out, plain } = await run(bits, g.d);
    expect(e.noiseVariance).toBeGreaterThan(0);
    expect(await sha256(bytesOf(out.input))).toBe(g.input);
    expect(await sha256(bytesOf(plain))).toBe(g.input);
    expect(await sha256(out.data)).toBe(g.data);
  });
});
