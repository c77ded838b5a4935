/**
 * The reconstruction attack of issue 19, rerun against what the server receives under secure aggregation:
 * ranking the item rows of one client's upload recovers its clicked items no better than chance, and the
 * upload's bytes are uniform. Controls show the same attack recovers them from the plain delta.
 */
import { describe, expect, it } from 'vitest';
import { roundRotation } from '../../shared/secagg/derive.ts';
import { decodeSum, encodeIntegers } from '../../shared/secagg/encode.ts';
import type { MaskedInput } from '../../shared/secagg/messages.ts';
import { toRing, unpackRing } from '../../shared/secagg/ring.ts';
import { defaultSecAggConfig } from './config.ts';
import { simulateRound } from './simulate.ts';
import { attackHits, D_MODEL, ITEM_ROWS, syntheticUpdate } from './synthetic-updates.ts';

function byteChiSquare(b: Uint8Array): number {
  const counts = new Float64Array(256);
  for (const x of b) counts[x]!++;
  const e = b.length / 256;
  return counts.reduce((s, o) => s + (o - e) ** 2 / e, 0);
}

describe('what the server receives from one client', () => {
  it('has uniform bytes and reveals the clicked items no better than chance', async () => {
    const uploads = new Map<number, MaskedInput>();
    const rep = await simulateRound({
      config: defaultSecAggConfig(),
      cohort: 4,
      minSurvivors: 3,
      denominator: 4,
      d: D_MODEL,
      clipNorm: 1,
      noiseMultiplier: 1,
      update: (slot) => syntheticUpdate(slot).delta,
      onUpload: (m) => {
        if (m.type === 'masked-input') uploads.set(m.slot, m);
      },
    });
    expect(rep.record.phase).toBe('done');
    const { clickedRows, delta } = syntheticUpdate(1);
    const upload = uploads.get(1)!;
    // Control: the plain delta (what the server received before secure aggregation) gives every clicked row.
    expect(attackHits(delta, clickedRows)).toBe(clickedRows.length);

    // Uniform bytes: chi-square with 255 degrees of freedom (p = 1e-4 at about 350).
    expect(byteChiSquare(upload.data)).toBeLessThan(350);
    // The strongest decoding available to the server: as if the upload were an unmasked sum.
    const e = rep.record.params.encoding;
    const rot = await roundRotation(rep.record.params.seed, 1, e.d);
    const asDecoded = decodeSum(unpackRing(upload.data, e.d, e.bits)!, e, rot);
    const hits = attackHits(asDecoded, clickedRows);
    // Chance: K = |clicked| rows drawn from 8,192 give K^2 / 8192 ~ 0.05 expected hits; P(hits >= 3) < 1e-4.
    expect(clickedRows.length * (clickedRows.length / ITEM_ROWS)).toBeLessThan(0.1);
    expect(hits).toBeLessThanOrEqual(2);

    // Control: the same client's noised encoding WITHOUT masks, with the share of the noise one client adds
    // in a cohort of m = 1000 (the case), still gives its clicked rows away; the masks remove that.
    const m1000 = { ...e, noiseVariance: Math.ceil((e.noiseVariance * 3) / 1000) };
    const plain = decodeSum(toRing(encodeIntegers(delta, m1000, rot), e.bits), e, rot);
    expect(attackHits(plain, clickedRows)).toBeGreaterThan(0.8 * clickedRows.length);
  });
});
