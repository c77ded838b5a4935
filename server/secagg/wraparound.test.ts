/**
 * Modular wrap-around at the chosen ring width, on deltas shaped like real ones at the real model size
 * (323,255 parameters), worst case: every client of a full cohort clicked the same items, so their updates
 * add up coherently. The benchmark measures the same rate at larger cohorts.
 */
import { describe, expect, it } from 'vitest';
import { planEncoding } from '../../shared/secagg/calibration.ts';
import { roundRotation } from '../../shared/secagg/derive.ts';
import { encodeIntegers } from '../../shared/secagg/encode.ts';
import { centered, toRing } from '../../shared/secagg/ring.ts';
import { D_MODEL, syntheticUpdate } from './synthetic-updates.ts';

/** Coordinates where the centered ring sum differs from the true integer sum. */
function wraps(sum: Float64Array, bits: number): number {
  const back = centered(toRing(sum, bits), bits);
  let n = 0;
  for (let i = 0; i < sum.length; i++) if (back[i] !== sum[i]) n++;
  return n;
}

describe('wrap-around at b = 16 (default cohort: up to 10 clients, noise for 3)', () => {
  it('no coordinate of the sum wraps; a 12-bit ring with the same scale would', async () => {
    const p = planEncoding(
      { d: D_MODEL, clipNorm: 1, noiseMultiplier: 1, noiseClients: 3, maxClients: 10 },
      16,
    )!;
    const rot = await roundRotation(crypto.getRandomValues(new Uint8Array(32)), 1, D_MODEL);
    const sum = new Float64Array(D_MODEL);
    const items = [11, 22, 33, 44, 55];
    for (let c = 0; c < 10; c++) {
      const ints = encodeIntegers(syntheticUpdate(c, 5, items).delta, p, rot);
      for (let i = 0; i < D_MODEL; i++) sum[i] = sum[i]! + ints[i]!;
    }
    expect(wraps(sum, 16)).toBe(0);
    // The sum's spread is what the plan sized the ring for (std ~ 2^15 / 6).
    let sq = 0;
    for (const v of sum) sq += v * v;
    expect(Math.sqrt(sq / D_MODEL)).toBeLessThan(p.sumStd * 1.05);
    expect(wraps(sum, 12)).toBeGreaterThan(D_MODEL / 10); // the check detects wrapping where it happens
  });
});
