import { describe, expect, it } from 'vitest';
import { toBase64Url } from './codec.ts';
import { checkPow, leadingZeroBits, solvePow } from './pow.ts';

const b64 = (n: number, fill: number): string => toBase64Url(new Uint8Array(n).fill(fill));

describe('proof of work', () => {
  it('counts leading zero bits', () => {
    expect(leadingZeroBits(Uint8Array.of(0x80))).toBe(0);
    expect(leadingZeroBits(Uint8Array.of(0x01))).toBe(7);
    expect(leadingZeroBits(Uint8Array.of(0, 0, 0x10, 0xff))).toBe(19);
    expect(leadingZeroBits(new Uint8Array(4))).toBe(32);
  });

  it('a solution checks for its challenge and messages only, at its difficulty', async () => {
    const challenge = b64(40, 1);
    const msgs = [b64(256, 2), b64(256, 3)];
    const solution = await solvePow(challenge, 10, msgs);
    expect(await checkPow(challenge, 10, msgs, solution)).toBe(true);
    expect(await checkPow(b64(40, 9), 10, msgs, solution)).toBe(false);
    expect(await checkPow(challenge, 10, [msgs[1]!, msgs[0]!], solution)).toBe(false);
    expect(await checkPow(challenge, 10, msgs, b64(8, 0xee))).toBe(false);
    // A solution at 10 bits is a solution at 30 bits with probability 2^-20: refuse the harder check.
    expect(await checkPow(challenge, 30, msgs, solution)).toBe(false);
  });

  it('costs about 2^d hashes on average (the work is real, not a fixed answer)', async () => {
    const counters: number[] = [];
    for (let i = 0; i < 20; i++) {
      const s = await solvePow(b64(40, i), 6, [b64(256, i)]);
      counters.push(Number(Buffer.from(s, 'base64url').readBigUInt64BE()));
    }
    const mean = counters.reduce((a, b) => a + b, 0) / counters.length;
    // Geometric with p = 2^-6: mean 63, the mean of 20 lies in [20, 160] with overwhelming probability.
    expect(mean).toBeGreaterThan(20);
    expect(mean).toBeLessThan(160);
  });
});
